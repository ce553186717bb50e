#include "stream_demux.h"

#include <algorithm>
#include <string>

namespace breakfix::docker {

Status StreamDemux::feed(std::string_view bytes, const Sink& sink) {
  while (!bytes.empty()) {
    if (remaining_ == 0) {
      const std::size_t take = std::min(bytes.size(), sizeof header_ - header_filled_);
      std::copy_n(bytes.data(), take, header_ + header_filled_);
      header_filled_ += take;
      bytes.remove_prefix(take);
      if (header_filled_ < sizeof header_) return {};
      header_filled_ = 0;
      switch (header_[0]) {
        case 0:  // stdin echoed back: never expected, passed on as stdout
        case 1: current_ = OutputStream::Stdout; break;
        case 2: current_ = OutputStream::Stderr; break;
        default:
          return make_error(ErrorCode::Internal,
                            "malformed exec stream: frame for stream " + std::to_string(header_[0]));
      }
      remaining_ = static_cast<std::uint32_t>(header_[4]) << 24 | static_cast<std::uint32_t>(header_[5]) << 16 |
                   static_cast<std::uint32_t>(header_[6]) << 8 | static_cast<std::uint32_t>(header_[7]);
      continue;
    }
    const std::size_t take = std::min<std::size_t>(bytes.size(), remaining_);
    sink(current_, bytes.substr(0, take));
    remaining_ -= static_cast<std::uint32_t>(take);
    bytes.remove_prefix(take);
  }
  return {};
}

}  // namespace breakfix::docker
