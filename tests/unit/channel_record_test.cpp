// Channel records: the writer (gateway/channel_recorder.h), the reader
// (session/channel_record.h), the listing of a session's recordings (session/recordings.h)
// and the report's timeline of them (session/channel_timeline.h).

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "gateway/channel_recorder.h"
#include "gateway/sftp_observer.h"
#include "session/channel_timeline.h"
#include "session/recordings.h"
#include "session/report.h"
#include "breakfix/scenario_loader.h"
#include "temp_dir.h"
#include "test_scenarios.h"
#include "transfer_test_support.h"

namespace breakfix {
namespace {

using breakfix::testing::exec_start;
using nlohmann::json;

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

ScenarioPtr one_host_scenario() {
  ScenarioLoad load = parse_scenario(breakfix::testing::kOneHostScenario, "scenario.yaml", "/nonexistent");
  REQUIRE(load.scenario);
  return load.scenario;
}

}  // namespace

TEST_CASE("channel record: an output sample keeps the first and the last bytes") {
  OutputSample small(8, 4);
  small.add("hello");
  CHECK(small.head() == "hello");
  CHECK(small.tail().empty());
  CHECK(small.omitted() == 0);

  OutputSample big(8, 4);
  for (char c = 'a'; c <= 'z'; ++c) big.add(std::string(1, c));  // one byte at a time
  CHECK(big.head() == "abcdefgh");
  CHECK(big.tail() == "wxyz");
  CHECK(big.omitted() == 26 - 8 - 4);
  CHECK(big.total() == 26);

  OutputSample one_piece(8, 4);
  one_piece.add(std::string(1000, 'x') + "1234");
  CHECK(one_piece.tail() == "1234");
  CHECK(one_piece.omitted() == 1004 - 12);
}

TEST_CASE("channel record: a command's record reads back with its command, output and exit status") {
  breakfix::testing::TempDir dir;
  const auto file = dir.path() / "s1" / "1795750470-4.exec.jsonl";
  {
    auto recorder = ChannelRecorder::create(file, exec_start("echo hi; exit 3"), nullptr);
    REQUIRE(recorder.ok());
    (*recorder)->input("typed");
    (*recorder)->output(OutputStream::Stdout, "hi\n");
    (*recorder)->output(OutputStream::Stderr, "bad byte \xFF\n");  // not UTF-8
    (*recorder)->finish(3, "exited");
    (*recorder)->finish(0, "a second finish is ignored");
    CHECK_FALSE(ChannelRecorder::create(file, exec_start("again"), nullptr).ok());  // never overwritten
  }
  const std::string text = read_file(file);
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) CHECK(json::accept(line));  // valid JSON, line by line

  auto record = parse_channel_record(text, "1795750470-4.exec.jsonl");
  REQUIRE(record.ok());
  CHECK(record->file == "1795750470-4.exec.jsonl");
  CHECK(record->type == "exec");
  CHECK(record->command == "echo hi; exit 3");
  CHECK(record->host == "main");
  CHECK(record->connection == 3);
  CHECK(record->from == "127.0.0.1");
  CHECK(unix_ms(record->started) == 1795750470250);
  CHECK(record->ended);
  CHECK(record->exit_status == 3);
  CHECK(record->end_reason == "exited");
  CHECK(record->bytes_in == 5);
  CHECK(record->bytes_out == 14);
  CHECK(record->output == "hi\nbad byte \xEF\xBF\xBD\n");  // U+FFFD for the bad byte
  CHECK(record->output_omitted == 0);
}

TEST_CASE("channel record: long output keeps its head and tail, and an unfinished record ends when the recorder goes") {
  breakfix::testing::TempDir dir;
  const auto file = dir.path() / "1-1.exec.jsonl";
  {
    auto recorder = ChannelRecorder::create(file, exec_start(std::string(100000, 'c')), nullptr);
    REQUIRE(recorder.ok());
    (*recorder)->output(OutputStream::Stdout, "START" + std::string(1024 * 1024, '.') + "END");
  }
  auto record = parse_channel_record(read_file(file), "1-1.exec.jsonl");
  REQUIRE(record.ok());
  CHECK(record->command.size() == ChannelRecorder::kMaxCommand + 3);
  CHECK(record->end_reason == "the connection closed");
  CHECK_FALSE(record->exit_status.has_value());
  CHECK(record->output.size() == ChannelRecorder::kOutputHead);
  CHECK(record->output.rfind("START", 0) == 0);
  CHECK(record->output_tail.size() == ChannelRecorder::kOutputTail);
  CHECK(record->output_tail.substr(record->output_tail.size() - 3) == "END");
  CHECK(record->output_omitted == 1024 * 1024 + 8 - ChannelRecorder::kOutputHead - ChannelRecorder::kOutputTail);
}

TEST_CASE("channel record: an sftp channel's record lists its file operations") {
  breakfix::testing::TempDir dir;
  const auto file = dir.path() / "1-2.sftp.jsonl";
  using breakfix::testing::packet;
  using breakfix::testing::u32;
  {
    ChannelRecord start = exec_start("");
    start.type = "sftp";
    auto recorder = ChannelRecorder::create(file, start, std::make_unique<SftpObserver>());
    REQUIRE(recorder.ok());
    (*recorder)->input(packet(1, u32(3)));
    (*recorder)->output(OutputStream::Stdout, packet(2, u32(3)));
    (*recorder)->input(packet(14, u32(1) + u32(4) + "/new" + u32(0)));                // MKDIR /new
    (*recorder)->output(OutputStream::Stderr, "sftp-server: noise on stderr\n");        // not the protocol
    (*recorder)->output(OutputStream::Stdout, packet(101, u32(1) + u32(0) + u32(0) + u32(0)));
    (*recorder)->finish(0, "exited");
  }
  auto record = parse_channel_record(read_file(file), "1-2.sftp.jsonl");
  REQUIRE(record.ok());
  CHECK(record->type == "sftp");
  REQUIRE(record->operations.size() == 1);
  CHECK(record->operations[0].op == "mkdir");
  CHECK(record->operations[0].path == "/new");
  CHECK(record->operations[0].ok == true);
  CHECK(record->output.empty());  // sftp's output is the files, not kept
}

TEST_CASE("channel record: a truncated last line is ignored, and a file that is not a record is refused") {
  const std::string start = channel_start_line(exec_start("ls"));
  auto record = parse_channel_record(start + "{\"event\":\"end\",\"exit_st", "x.exec.jsonl");
  REQUIRE(record.ok());
  CHECK(record->command == "ls");
  CHECK_FALSE(record->ended);
  CHECK_FALSE(parse_channel_record("[1, \"o\", \"x\"]\n", "x.exec.jsonl").ok());
  CHECK_FALSE(parse_channel_record("", "x.exec.jsonl").ok());
  CHECK_FALSE(parse_channel_record("not json at all\n", "x.exec.jsonl").ok());
  // Wrong types in known fields are read as absent, never thrown.
  auto odd = parse_channel_record(start + "{\"event\":\"end\",\"exit_status\":\"three\",\"bytes_in\":[]}\n", "x.exec.jsonl");
  REQUIRE(odd.ok());
  CHECK_FALSE(odd->exit_status.has_value());
}

TEST_CASE("recordings: a session's recordings are listed oldest first, terminals and channels together") {
  breakfix::testing::TempDir dir;
  for (const char* name : {"1700000000-10.cast", "1700000000-9.exec.jsonl", "1699999999-50.sftp.jsonl", "notes.txt",
                           "odd.cast", "1700000001-0.scp.jsonl"}) {
    dir.write(std::string("s1/") + name, "");
  }
  CHECK(list_recordings(dir.path() / "s1") == std::vector<std::string>{"1699999999-50.sftp.jsonl", "1700000000-9.exec.jsonl",
                                                                        "1700000000-10.cast", "1700000001-0.scp.jsonl",
                                                                        "odd.cast"});
  CHECK(list_recordings(dir.path() / "nosuchsession").empty());
  CHECK(recording_name(1700000000, 3) == "1700000000-3.cast");
  CHECK(recording_name(1700000000, 4, "sftp") == "1700000000-4.sftp.jsonl");
  CHECK(is_terminal_recording("1-1.cast"));
  CHECK(is_channel_record("1-1.exec.jsonl"));
  CHECK_FALSE(is_channel_record("1-1.cast"));
}

TEST_CASE("report: commands and file transfers appear beside the terminals, in JSON and in Markdown") {
  const ScenarioPtr scenario = one_host_scenario();
  ReportInput input;
  input.session_id = "s1";
  input.scenario = scenario.get();
  input.candidate = "Ada";
  input.record.ready_at = from_unix_ms(1795750400000);
  input.record.deadline = input.record.ready_at + std::chrono::minutes(30);
  input.record.ended_at = input.record.deadline;

  ChannelRecord exec = exec_start("echo hi | tr a-z A-Z; exit 3");
  exec.file = "1795750470-4.exec.jsonl";
  exec.ended = true;
  exec.duration = 0.5;
  exec.end_reason = "exited";
  exec.exit_status = 3;
  exec.bytes_out = 3;
  ChannelRecord sftp = exec_start("");
  sftp.file = "1795750530-5.sftp.jsonl";
  sftp.type = "sftp";
  sftp.started = from_unix_ms(1795750530000);
  FileOperation upload;
  upload.op = "upload";
  upload.path = "/tmp/up.bin";
  upload.bytes = 2097169;
  upload.ok = true;
  upload.elapsed = 1.2;
  FileOperation refused;
  refused.op = "remove";
  refused.path = "/etc/shadow";
  refused.ok = false;
  refused.error = "permission denied";
  sftp.operations = {upload, refused};
  input.channels = {exec, sftp};

  const Report report = build_report(input);
  const json document = json::parse(report.json);
  REQUIRE(document["channels"].size() == 2);
  const json& first = document["channels"][0];
  CHECK(first["type"] == "exec");
  CHECK(first["command"] == "echo hi | tr a-z A-Z; exit 3");
  CHECK(first["exit_status"] == 3);
  CHECK(first["connection"]["number"] == 3);
  CHECK(first["connection"]["from"] == "127.0.0.1");
  CHECK(first["started"] == iso_time(exec.started));
  CHECK(first["file"] == "1795750470-4.exec.jsonl");
  const json& second = document["channels"][1];
  CHECK(second["type"] == "sftp");
  CHECK(second["ended"].is_null());
  CHECK(second["exit_status"].is_null());
  REQUIRE(second["operations"].size() == 2);
  CHECK(second["operations"][0]["op"] == "upload");
  CHECK(second["operations"][0]["path"] == "/tmp/up.bin");
  CHECK(second["operations"][0]["bytes"] == 2097169);
  CHECK(second["operations"][1]["ok"] == false);

  const std::string& md = report.markdown;
  CHECK(md.find("## Commands and file transfers") != std::string::npos);
  // Times are minutes since ready; a pipe inside a command does not break the table.
  CHECK(md.find("| 1:10 | #3 from 127.0.0.1 | exec on main | `echo hi \\| tr a-z A-Z; exit 3` | exit 3 |") !=
        std::string::npos);
  CHECK(md.find("| 2:11 | #3 | upload | `/tmp/up.bin`, 2097169 bytes | ok | |") != std::string::npos);
  CHECK(md.find("| remove | `/etc/shadow` | **failed**: permission denied |") != std::string::npos);
  CHECK(md.find("sftp on main |  | no end recorded") != std::string::npos);
}

TEST_CASE("report: without channels the section says so") {
  const ScenarioPtr scenario = one_host_scenario();
  ReportInput input;
  input.session_id = "s1";
  input.scenario = scenario.get();
  const Report report = build_report(input);
  CHECK(json::parse(report.json)["channels"] == json::array());
  CHECK(report.markdown.find("No command, sftp or scp outside a terminal.") != std::string::npos);
}

TEST_CASE("report: a check's output cut inside a UTF-8 character does not break the report") {
  // Found by issue 14: the kept tail of an output starts wherever the byte count falls,
  // and the JSON dump threw on it, so the grading never finished.
  const ScenarioPtr scenario = one_host_scenario();
  ReportInput input;
  input.session_id = "s1";
  input.scenario = scenario.get();
  REQUIRE_FALSE(scenario->checks.empty());
  const std::string cut = std::string("\xa9t\xc3 ok\xff\xfe") + "\xe2\x82";  // a lone tail, a lone lead, bytes no UTF-8 has
  input.check_runs.push_back({WallTime{}, "final", scenario->checks.front().name, false, 1, false, std::chrono::milliseconds(5), cut});
  Report report;
  REQUIRE_NOTHROW(report = build_report(input));
  const json parsed = json::parse(report.json);
  const std::string output = parsed["checks"][0]["output"];
  CHECK(output.find(" ok") != std::string::npos);
  CHECK(output.find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD where the bytes were
  CHECK(report.markdown.find("# ") == 0);
}

}  // namespace breakfix
