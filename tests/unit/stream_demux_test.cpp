#include <doctest/doctest.h>

#include <random>
#include <string>

#include "stream_demux.h"

using breakfix::OutputStream;
using breakfix::docker::StreamDemux;

namespace {

std::string frame(int stream, const std::string& payload) {
  std::string out(8, '\0');
  out[0] = static_cast<char>(stream);
  const auto size = static_cast<std::uint32_t>(payload.size());
  out[4] = static_cast<char>(size >> 24);
  out[5] = static_cast<char>(size >> 16);
  out[6] = static_cast<char>(size >> 8);
  out[7] = static_cast<char>(size);
  return out + payload;
}

struct Collected {
  std::string out, err;
  StreamDemux::Sink sink() {
    return [this](OutputStream stream, std::string_view data) { (stream == OutputStream::Stdout ? out : err).append(data); };
  }
};

}  // namespace

TEST_CASE("Frames are split into stdout and stderr") {
  Collected collected;
  StreamDemux demux;
  REQUIRE(demux.feed(frame(1, "hello ") + frame(2, "oops") + frame(1, "world"), collected.sink()));
  CHECK(collected.out == "hello world");
  CHECK(collected.err == "oops");
  CHECK(demux.at_frame_boundary());
}

TEST_CASE("Frames cut at every possible byte give the same result") {
  const std::string stream = frame(1, "abc") + frame(2, std::string(300, 'e')) + frame(1, "") + frame(1, "xyz");
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    CAPTURE(cut);
    Collected collected;
    StreamDemux demux;
    REQUIRE(demux.feed(std::string_view(stream).substr(0, cut), collected.sink()));
    REQUIRE(demux.feed(std::string_view(stream).substr(cut), collected.sink()));
    CHECK(collected.out == "abcxyz");
    CHECK(collected.err == std::string(300, 'e'));
  }
}

TEST_CASE("Random piece sizes over a large stream keep every byte in order") {
  std::mt19937 random(42);
  std::string expected_out, expected_err, stream;
  for (int i = 0; i < 200; ++i) {
    std::string payload(random() % 5000, static_cast<char>('a' + i % 26));
    const bool to_err = random() % 3 == 0;
    (to_err ? expected_err : expected_out) += payload;
    stream += frame(to_err ? 2 : 1, payload);
  }
  Collected collected;
  StreamDemux demux;
  for (std::size_t at = 0; at < stream.size();) {
    const std::size_t piece = std::min<std::size_t>(1 + random() % 9000, stream.size() - at);
    REQUIRE(demux.feed(std::string_view(stream).substr(at, piece), collected.sink()));
    at += piece;
  }
  CHECK(collected.out == expected_out);
  CHECK(collected.err == expected_err);
  CHECK(demux.at_frame_boundary());
}

TEST_CASE("A header naming an unknown stream is an error, and a cut frame is not at a boundary") {
  Collected collected;
  StreamDemux demux;
  CHECK_FALSE(demux.feed(frame(7, "x"), collected.sink()));
  StreamDemux partial;
  REQUIRE(partial.feed(frame(1, "abcdef").substr(0, 10), collected.sink()));
  CHECK_FALSE(partial.at_frame_boundary());
}
