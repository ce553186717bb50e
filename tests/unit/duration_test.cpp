#include <doctest/doctest.h>

#include "breakfix/duration.h"

using breakfix::format_duration;
using breakfix::parse_duration;
using std::chrono::seconds;

TEST_CASE("Durations are read in every documented form") {
  CHECK(parse_duration("45s") == seconds(45));
  CHECK(parse_duration("30m") == seconds(1800));
  CHECK(parse_duration("1h") == seconds(3600));
  CHECK(parse_duration("1h30m") == seconds(5400));
  CHECK(parse_duration("2m30s") == seconds(150));
  CHECK(parse_duration("1h0m5s") == seconds(3605));
  CHECK(parse_duration("0s") == seconds(0));
}

TEST_CASE("Durations without a unit, out of order or malformed are refused") {
  for (const char* text : {"", "90", "m", "1x", "30m1h", "1h1h", "1s30m", "-5m", "+5m", " 5m", "5m ", "5 m", "1.5h",
                           "5M", "99999999999999999999h", "9000000h"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_duration(text).has_value());
  }
}

TEST_CASE("Durations are printed in their shortest form and read back the same") {
  CHECK(format_duration(seconds(5400)) == "1h30m");
  CHECK(format_duration(seconds(45)) == "45s");
  CHECK(format_duration(seconds(3605)) == "1h5s");
  CHECK(format_duration(seconds(0)) == "0s");
  for (int value : {1, 59, 60, 61, 3599, 3600, 3661, 86400}) {
    CAPTURE(value);
    CHECK(parse_duration(format_duration(seconds(value))) == seconds(value));
  }
}
