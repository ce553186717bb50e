// The asciicast v2 writer: a header, then events; UTF-8 never split inside an event.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "gateway/asciicast.h"
#include "temp_dir.h"

using namespace breakfix;
using nlohmann::json;

TEST_CASE("asciicast: incomplete UTF-8 at the end of a piece is held back") {
  CHECK(incomplete_utf8_suffix("abc") == 0);
  CHECK(incomplete_utf8_suffix("ab\xC3") == 1);           // the first of 2 bytes of é
  CHECK(incomplete_utf8_suffix("ab\xC3\xA9") == 0);       // é whole
  CHECK(incomplete_utf8_suffix("\xE2\x82") == 2);         // 2 of the 3 bytes of €
  CHECK(incomplete_utf8_suffix("\xF0\x9F\x98") == 3);     // 3 of the 4 bytes of an emoji
  CHECK(incomplete_utf8_suffix("\xF0\x9F\x98\x80") == 0);
}

TEST_CASE("asciicast: a recording is a header and events as asciinema reads them") {
  breakfix::testing::TempDir dir;
  const auto file = dir.path() / "s1" / "1.cast";
  {
    auto writer = AsciicastWriter::create(file, 100, 30, "s1 main", "xterm-256color");
    REQUIRE(writer.ok());
    (*writer)->output("hello \xE2\x82");  // € split across two pieces
    (*writer)->output("\xAC\r\n");
    (*writer)->input("ls\r");
    (*writer)->resize(120, 40);
    // Never overwrites a recording that exists.
    CHECK_FALSE(AsciicastWriter::create(file, 80, 24, "again", "xterm").ok());
  }
  std::ifstream in(file);
  std::string line;
  std::vector<json> lines;
  while (std::getline(in, line)) lines.push_back(json::parse(line));
  REQUIRE(lines.size() == 5);
  CHECK(lines[0]["version"] == 2);
  CHECK(lines[0]["width"] == 100);
  CHECK(lines[0]["height"] == 30);
  CHECK(lines[0]["env"]["TERM"] == "xterm-256color");
  CHECK(lines[1][1] == "o");
  CHECK(lines[1][2] == "hello ");
  CHECK(lines[2][2] == "\xE2\x82\xAC\r\n");
  CHECK(lines[3][1] == "i");
  CHECK(lines[4][1] == "r");
  CHECK(lines[4][2] == "120x40");
  CHECK(lines[4][0].get<double>() >= lines[1][0].get<double>());
}
