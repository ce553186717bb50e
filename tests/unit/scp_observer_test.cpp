// The legacy scp observer on hand-made protocol bytes: the command it recognises, the
// files it names both ways, refusals, and malformed or hostile streams.

#include "gateway/scp_observer.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "transfer_test_support.h"

namespace breakfix {
namespace {

using breakfix::testing::Step;

std::vector<FileOperation> run(const std::string& command, const std::vector<Step>& steps, std::size_t piece = 0) {
  auto parsed = parse_scp_command(command);
  REQUIRE(parsed);
  ScpObserver observer(*parsed);
  return breakfix::testing::feed(observer, steps, piece);
}

const std::string kOk(1, '\0');

}  // namespace

TEST_CASE("scp: the commands OpenSSH's scp -O runs on the server are recognised") {
  auto upload = parse_scp_command("scp -t /tmp/up.bin");
  REQUIRE(upload);
  CHECK(upload->upload);
  CHECK_FALSE(upload->recursive);
  CHECK(upload->target == "/tmp/up.bin");
  auto download = parse_scp_command("scp -v -r -p -f -- -odd name ");
  REQUIRE(download);
  CHECK_FALSE(download->upload);
  CHECK(download->recursive);
  CHECK(download->target == "-odd name");
  auto grouped = parse_scp_command("/usr/bin/scp -pt .");
  REQUIRE(grouped);
  CHECK(grouped->target == ".");
  CHECK_FALSE(parse_scp_command("echo scp -t x"));
  CHECK_FALSE(parse_scp_command("scp -t"));
  CHECK_FALSE(parse_scp_command("scp -t -f x"));
  CHECK_FALSE(parse_scp_command("scp -x -t y"));
  CHECK_FALSE(parse_scp_command("scp /a /b"));
  CHECK_FALSE(parse_scp_command(""));
}

TEST_CASE("scp: an upload names the file, its size and its mode, in any pieces") {
  for (const std::size_t piece : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
    CAPTURE(piece);
    const auto operations = run("scp -t /tmp/up.bin", {{false, kOk},
                                                       {true, "C0644 5 payload.bin\n"},
                                                       {false, kOk},
                                                       {true, "hello" + kOk},
                                                       {false, kOk}},
                                piece);
    REQUIRE(operations.size() == 1);
    CHECK(operations[0].op == "upload");
    CHECK(operations[0].path == "/tmp/up.bin");
    CHECK(operations[0].name == "payload.bin");
    CHECK(operations[0].bytes == 5u);
    CHECK(operations[0].attributes == "mode 0644, size 5");
    CHECK(operations[0].ok == true);
  }
}

TEST_CASE("scp: a recursive download names each file below its directory") {
  const auto operations = run("scp -r -f /srv/site", {{true, kOk},
                                                      {false, "D0755 0 site\n"},
                                                      {true, kOk},
                                                      {false, "T1700000000 0 1700000000 0\n"},
                                                      {true, kOk},
                                                      {false, "C0600 3 index.html\n"},
                                                      {true, kOk},
                                                      {false, "abc" + kOk},
                                                      {true, kOk},
                                                      {false, "C0644 0 empty\n"},
                                                      {true, kOk},
                                                      {false, kOk},
                                                      {true, kOk},
                                                      {false, "E\n"},
                                                      {true, kOk}});
  REQUIRE(operations.size() == 2);
  CHECK(operations[0].op == "download");
  CHECK(operations[0].path == "/srv/site/index.html");
  CHECK(operations[0].name == "site/index.html");
  CHECK(operations[0].bytes == 3u);
  CHECK(operations[0].ok == true);
  CHECK(operations[1].path == "/srv/site/empty");
  CHECK(operations[1].bytes == 0u);
}

TEST_CASE("scp: a refused file is recorded with the receiver's reason, and the next one still counts") {
  const auto operations = run("scp -t /root/", {{false, kOk},
                                                {true, "C0644 4 a\n"},
                                                {false, "\x01scp: /root/a: Permission denied\n"},
                                                {true, "C0644 2 b\n"},
                                                {false, kOk},
                                                {true, "hi" + kOk},
                                                {false, kOk}});
  REQUIRE(operations.size() == 2);
  CHECK(operations[0].path == "/root/a");
  CHECK(operations[0].ok == false);
  CHECK(operations[0].error == "scp: /root/a: Permission denied");
  CHECK(operations[1].path == "/root/b");
  CHECK(operations[1].bytes == 2u);
  CHECK(operations[1].ok == true);
}

TEST_CASE("scp: a download of a missing file records the sender's error") {
  const auto operations =
      run("scp -f /nope", {{true, kOk}, {false, "\x01scp: /nope: No such file or directory\n"}});
  REQUIRE(operations.size() == 1);
  CHECK(operations[0].op == "error");
  CHECK(operations[0].path == "/nope");
  CHECK(operations[0].error == "scp: /nope: No such file or directory");
}

TEST_CASE("scp: a transfer cut off is recorded as such") {
  const auto operations = run("scp -t /tmp/x", {{false, kOk}, {true, "C0644 100 x\n"}, {false, kOk}, {true, "only ten.."}});
  REQUIRE(operations.size() == 1);
  CHECK(operations[0].ok == false);
  CHECK(operations[0].bytes == 10u);
  CHECK(operations[0].error == "cut off after 10 bytes");
}

TEST_CASE("scp: malformed or hostile streams stop the parse once, with bounded memory") {
  for (const std::string& bad : {std::string("Xnot scp\n"), std::string("C0644 lots name\n"), std::string("C9999 1 x\n"),
                                 std::string(ScpObserver::kMaxLine + 10, 'C'), std::string(1000, 'D') + "\n"}) {
    const auto operations = run("scp -t /tmp", {{false, kOk}, {true, bad}, {true, "C0644 1 y\n"}, {true, "y" + kOk}});
    REQUIRE(operations.size() == 1);
    CHECK(operations[0].op == "unparsed");
  }
  std::string deep;
  for (std::size_t i = 0; i <= ScpObserver::kMaxDepth; ++i) deep += "D0755 0 d\n";
  const auto operations = run("scp -r -t /tmp", {{true, deep}});
  REQUIRE(operations.size() == 1);
  CHECK(operations[0].op == "unparsed");
}

}  // namespace breakfix
