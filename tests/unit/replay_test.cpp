#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "cli/replay.h"
#include "transfer_test_support.h"

using breakfix::ErrorCode;
using breakfix::cli::AsciicastPlayer;
using std::chrono::microseconds;
using std::chrono::milliseconds;

namespace {

constexpr const char* kHeader = R"({"version": 2, "width": 80, "height": 24, "title": "s1 main"})"
                                "\n";

// Plays `player` into a string, recording every sleep instead of sleeping.
struct Played {
  std::string output;
  std::vector<microseconds> sleeps;
  microseconds total{0};
};

Played play(const AsciicastPlayer& player, AsciicastPlayer::Options options = {}) {
  Played played;
  std::ostringstream out;
  player.play(out, [&](microseconds pause) { played.sleeps.push_back(pause); played.total += pause; }, options);
  played.output = out.str();
  return played;
}

AsciicastPlayer parsed(const std::string& text) {
  auto player = AsciicastPlayer::parse(text);
  REQUIRE_MESSAGE(player.ok(), player.error().message);
  return *player;
}

std::string error_of(const std::string& text) {
  auto player = AsciicastPlayer::parse(text);
  REQUIRE_FALSE(player.ok());
  CHECK(player.error().code == ErrorCode::Invalid);
  return player.error().message;
}

}  // namespace

TEST_CASE("A recording plays its output in order with the recorded pauses") {
  // Given output at 0.5s, 1.25s and 2s with an input event and a resize between them, we
  // should write only the output and sleep exactly the gaps between output events.
  const auto player = parsed(std::string(kHeader) +
                             "[0.5, \"o\", \"$ \"]\n"
                             "[0.9, \"i\", \"ls\\r\"]\n"
                             "[1.0, \"r\", \"100x30\"]\n"
                             "[1.25, \"o\", \"ls\\r\\n\"]\n"
                             "[2.0, \"o\", \"a  b\\r\\n\"]\n");
  CHECK(player.width() == 80);
  CHECK(player.height() == 24);
  CHECK(player.title() == "s1 main");
  CHECK(player.output_events() == 3);
  const Played played = play(player);
  CHECK(played.output == "$ ls\r\na  b\r\n");
  CHECK(played.sleeps == std::vector<microseconds>{milliseconds(500), milliseconds(750), milliseconds(750)});
  CHECK(played.total == milliseconds(2000));
}

TEST_CASE("Speed divides every pause and the idle limit caps it in recorded time, as asciinema play does") {
  const auto player = parsed(std::string(kHeader) +
                             "[1.0, \"o\", \"a\"]\n"
                             "[11.0, \"o\", \"b\"]\n"    // 10s idle
                             "[11.5, \"o\", \"c\"]\n");  // 0.5s
  SUBCASE("the defaults: speed 1, pauses capped at 2s") {
    CHECK(play(player).sleeps == std::vector<microseconds>{milliseconds(1000), milliseconds(2000), milliseconds(500)});
  }
  SUBCASE("speed 2: half of every capped pause") {
    const Played played = play(player, {.speed = 2, .idle_limit = std::chrono::seconds(2)});
    CHECK(played.sleeps == std::vector<microseconds>{milliseconds(500), milliseconds(1000), milliseconds(250)});
    CHECK(played.total == milliseconds(1750));
  }
  SUBCASE("idle limit 0: no cap") {
    const Played played = play(player, {.speed = 4, .idle_limit = microseconds(0)});
    CHECK(played.total == milliseconds(11500 / 4));
  }
  SUBCASE("a fractional idle limit") {
    CHECK(play(player, {.speed = 1, .idle_limit = milliseconds(300)}).total == milliseconds(900));
  }
  SUBCASE("a speed so high that every pause rounds to nothing never sleeps") {
    const Played played = play(player, {.speed = 1e9, .idle_limit = microseconds(0)});
    CHECK(played.sleeps.empty());
    CHECK(played.output == "abc");
  }
}

TEST_CASE("Output at the same instant, or before the one before, is written without a sleep") {
  const auto player = parsed(std::string(kHeader) +
                             "[0, \"o\", \"a\"]\n"
                             "[0, \"o\", \"b\"]\n"
                             "[1, \"o\", \"c\"]\n"
                             "[0.5, \"o\", \"d\"]\n"
                             "[1.5, \"o\", \"e\"]\n");
  const Played played = play(player);
  CHECK(played.output == "abcde");
  CHECK(played.sleeps == std::vector<microseconds>{milliseconds(1000), milliseconds(500)});
}

TEST_CASE("UTF-8, escaped or not, and control characters pass through byte for byte") {
  const auto player = parsed(std::string(kHeader) +
                             "[0.1, \"o\", \"café — ✓ \"]\n"
                             "[0.2, \"o\", \"caf\\u00e9 \\ud83d\\ude00\"]\n"
                             "[0.3, \"o\", \"\\u001b[1;31mred\\u001b[0m\\r\\n\"]\n");
  CHECK(play(player).output == "café — ✓ café \xF0\x9F\x98\x80\x1B[1;31mred\x1B[0m\r\n");
}

TEST_CASE("A header without events, blank lines and CRLF line ends are accepted") {
  CHECK(play(parsed(kHeader)).output.empty());
  CHECK(play(parsed("{\"version\": 2}\r\n\r\n[1, \"o\", \"x\"]\r\n\n")).output == "x");
}

TEST_CASE("Markers and unknown event codes are skipped") {
  const auto player = parsed(std::string(kHeader) + "[1, \"m\", \"chapter\"]\n[2, \"x\", \"\"]\n[3, \"o\", \"y\"]\n");
  CHECK(play(player).output == "y");
}

TEST_CASE("A bad header is an error on its line") {
  CHECK(error_of("") == "line 1: empty; expected an asciicast v2 header");
  CHECK(error_of("\n\n") == "line 1: empty; expected an asciicast v2 header");
  CHECK(error_of("{\"version\": 2, \"width\": 8\n").rfind("line 1: not an asciicast v2 header (column ", 0) == 0);
  // asciicast v1 is one pretty-printed JSON object.
  CHECK(error_of("{\n  \"version\": 1,\n  \"stdout\": []\n}\n").rfind("line 1: not an asciicast v2 header", 0) == 0);
  CHECK(error_of("{\"version\": 1, \"width\": 80}\n") == "line 1: not an asciicast v2 header: \"version\" is 1, expected 2");
  CHECK(error_of("{\"width\": 80}\n") == "line 1: not an asciicast v2 header: \"version\" is none, expected 2");
  CHECK(error_of("[0.1, \"o\", \"x\"]\n") ==
        "line 1: not an asciicast v2 header: expected a JSON object, got an array of 3 elements");
}

TEST_CASE("A bad event is an error naming its line") {
  const std::string header = kHeader;
  CHECK(error_of(header + "[0.1, \"o\", \"ok\"]\n[0.2, \"o\", \"x\"\n[0.3, \"o\", \"y\"]\n")
            .rfind("line 3: not a JSON event (column ", 0) == 0);
  CHECK(error_of(header + "\n[0.1, \"o\", \"x\"] junk\n").rfind("line 3: not a JSON event (column ", 0) == 0);
  CHECK(error_of(header + "[0.1, \"o\"]\n") == "line 2: an event is [time, code, data], got an array of 2 elements");
  CHECK(error_of(header + "{\"time\": 1}\n") == "line 2: an event is [time, code, data], got a JSON object");
  CHECK(error_of(header + "[\"0.1\", \"o\", \"x\"]\n") ==
        "line 2: an event's time is seconds since the start (a number >= 0), got \"0.1\"");
  CHECK(error_of(header + "[-1, \"o\", \"x\"]\n") ==
        "line 2: an event's time is seconds since the start (a number >= 0), got -1");
  CHECK(error_of(header + "[1e300, \"o\", \"x\"]\n").rfind("line 2: an event's time is seconds", 0) == 0);
  CHECK(error_of(header + "[0.1, 111, \"x\"]\n") == "line 2: an event's code is a string such as \"o\", got 111");
  CHECK(error_of(header + "[0.1, \"o\", [1]]\n") == "line 2: an event's data is a string, got an array of 1 element");
  CHECK(error_of(header + "[0.1, \"o\", \"\xC3\x28\"]\n").rfind("line 2: not a JSON event (column ", 0) == 0);
}

TEST_CASE("A last line cut off while being written is dropped, not an error") {
  auto player = AsciicastPlayer::parse(std::string(kHeader) + "[0.1, \"o\", \"done\"]\n[0.2, \"o\", \"hal");
  REQUIRE(player.ok());
  CHECK(player->truncated());
  CHECK(play(*player).output == "done");
  // With its newline the same line is corrupt, not still being written.
  CHECK(error_of(std::string(kHeader) + "[0.2, \"o\", \"hal\n").rfind("line 2: not a JSON event", 0) == 0);
  // A complete last line without a newline is played.
  CHECK(play(parsed(std::string(kHeader) + "[0.2, \"o\", \"end\"]")).output == "end");
}

static std::string shown(const breakfix::ChannelRecord& record) {
  std::ostringstream out;
  breakfix::cli::print_channel_record(out, record);
  return out.str();
}

TEST_CASE("replay shows a command's record: what ran, its output and its exit status") {
  breakfix::ChannelRecord record = breakfix::testing::exec_start("seq 1 100000");
  record.ended = true;
  record.duration = 0.25;
  record.end_reason = "exited";
  record.exit_status = 3;
  record.bytes_out = 588895;
  record.output = "1\n2";  // the head may end mid-line
  record.output_tail = "99999\n100000\n";
  record.output_omitted = 588880;
  CHECK(shown(record) ==
        "# exec on main as root, connection #3 from 127.0.0.1, started 2026-11-27T03:34:30Z\n"
        "$ seq 1 100000\n"
        "1\n2\n"
        "# ... 588880 bytes of output left out ...\n"
        "99999\n100000\n"
        "# exit status 3 after 0.2 s (exited); 0 bytes in, 588895 bytes out\n");
}

TEST_CASE("replay shows an sftp record's file operations, one a line") {
  breakfix::ChannelRecord record = breakfix::testing::exec_start("");
  record.type = "sftp";
  record.connection = 4;
  breakfix::FileOperation upload;
  upload.op = "upload";
  upload.path = "/tmp/up.bin";
  upload.bytes = 17;
  upload.ok = true;
  upload.elapsed = 0.5;
  breakfix::FileOperation rename;
  rename.op = "rename";
  rename.path = "/a";
  rename.to = "/b";
  rename.ok = false;
  rename.error = "permission denied";
  rename.elapsed = 1;
  record.operations = {upload, rename};
  CHECK(shown(record) ==
        "# sftp on main as root, connection #4 from 127.0.0.1, started 2026-11-27T03:34:30Z\n"
        "+0.5 s  upload /tmp/up.bin, 17 bytes: ok\n"
        "+1.0 s  rename /a -> /b: failed: permission denied\n"
        "# no end recorded (still running, or the daemon stopped first)\n");
}
