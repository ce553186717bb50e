#pragma once

// Docker's framing of a non-TTY attach/exec stream: each frame is an 8-byte header
// (byte 0: 0 stdin, 1 stdout, 2 stderr; bytes 4-7: big-endian payload length) and the
// payload. Bytes arrive in arbitrary pieces; this reassembles them incrementally and
// hands out payload as it comes, never holding more than one header.

#include <cstdint>
#include <functional>
#include <string_view>

#include "breakfix/error.h"
#include "breakfix/runtime.h"

namespace breakfix::docker {

class StreamDemux {
 public:
  using Sink = std::function<void(OutputStream, std::string_view)>;

  // Feeds the next bytes of the stream; calls `sink` for each piece of payload (a
  // frame's payload may arrive in several calls). Invalid if a header names an
  // unknown stream.
  Status feed(std::string_view bytes, const Sink& sink);
  // True between frames: the stream may end here without losing anything.
  bool at_frame_boundary() const { return header_filled_ == 0 && remaining_ == 0; }

 private:
  unsigned char header_[8] = {};
  std::size_t header_filled_ = 0;
  std::uint32_t remaining_ = 0;  // payload bytes left in the current frame
  OutputStream current_ = OutputStream::Stdout;
};

}  // namespace breakfix::docker
