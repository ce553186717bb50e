// The gateway's watch for a plan's "next part" request in a terminal's output.

#include <doctest/doctest.h>

#include "gateway/marker_scanner.h"
#include "session/plan_sessions.h"

using namespace breakfix;

TEST_CASE("The gateway finds a marker however the output splits it") {
  MarkerScanner scanner(kNextPartMarker);
  const std::string marker = kNextPartMarker;
  CHECK(scanner.feed("plain output\r\n") == 0);
  CHECK(scanner.feed("before" + marker + "after") == 1);
  // Byte by byte.
  int found = 0;
  for (char c : "x" + marker + "y") found += scanner.feed(std::string_view(&c, 1));
  CHECK(found == 1);
  // Split in two, twice in one piece, and a near miss.
  CHECK(scanner.feed(marker.substr(0, 5)) == 0);
  CHECK(scanner.feed(marker.substr(5) + marker) == 2);
  CHECK(scanner.feed(marker.substr(0, marker.size() - 1) + "z") == 0);
}

TEST_CASE("Once finished, the scanner finds nothing more (a request per channel)") {
  MarkerScanner scanner(kNextPartMarker);
  CHECK(scanner.feed(kNextPartMarker) == 1);
  scanner.finish();
  CHECK(scanner.done());
  CHECK(scanner.feed(std::string(kNextPartMarker) + kNextPartMarker) == 0);
}
