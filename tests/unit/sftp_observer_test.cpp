// The SFTP observer on hand-made packets: what a real conversation records, in whole
// packets and cut into single bytes, and what malformed or hostile bytes do (nothing
// worse than an "unparsed" note, with memory bounded).

#include "gateway/sftp_observer.h"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "transfer_test_support.h"

namespace breakfix {
namespace {

using breakfix::testing::packet;
using breakfix::testing::Step;
using breakfix::testing::str;
using breakfix::testing::u32;
using breakfix::testing::u64;

// The packets of SFTP v3, as OpenSSH's client and sftp-server send them.
const std::string kInit = packet(1, u32(3));
const std::string kVersion = packet(2, u32(3) + str("posix-rename@openssh.com") + str("1"));
constexpr std::uint32_t kRead = 1, kWrite = 2, kCreate = 8, kTruncate = 0x10;
std::string no_attributes() { return u32(0); }
std::string mode_attributes(std::uint32_t mode) { return u32(0x4) + u32(0100000 | mode); }
std::string open(std::uint32_t id, std::string_view path, std::uint32_t flags, const std::string& attributes = no_attributes()) {
  return packet(3, u32(id) + str(path) + u32(flags) + attributes);
}
std::string close(std::uint32_t id, std::string_view handle) { return packet(4, u32(id) + str(handle)); }
std::string read(std::uint32_t id, std::string_view handle, std::uint64_t offset, std::uint32_t length) {
  return packet(5, u32(id) + str(handle) + u64(offset) + u32(length));
}
std::string write(std::uint32_t id, std::string_view handle, std::uint64_t offset, std::string_view data) {
  return packet(6, u32(id) + str(handle) + u64(offset) + str(data));
}
std::string path_request(std::uint8_t type, std::uint32_t id, std::string_view path, const std::string& rest = "") {
  return packet(type, u32(id) + str(path) + rest);
}
std::string extended(std::uint32_t id, std::string_view name, const std::string& rest) {
  return packet(200, u32(id) + str(name) + rest);
}
std::string status(std::uint32_t id, std::uint32_t code) {
  return packet(101, u32(id) + u32(code) + str(code == 0 ? "Success" : "Failure") + str(""));
}
std::string handle(std::uint32_t id, std::string_view value) { return packet(102, u32(id) + str(value)); }
std::string data(std::uint32_t id, std::string_view bytes) { return packet(103, u32(id) + str(bytes)); }

std::vector<FileOperation> run(const std::vector<Step>& steps, std::size_t piece = 0) {
  SftpObserver observer;
  return breakfix::testing::feed(observer, steps, piece);
}

std::vector<Step> upload_steps() {
  return {{true, kInit},
          {false, kVersion},
          {true, open(1, "/tmp/up.bin", kWrite | kCreate | kTruncate, mode_attributes(0644))},
          {false, handle(1, std::string("\0\0\0\0", 4))},
          {true, write(2, std::string("\0\0\0\0", 4), 0, std::string(32768, 'a')) +
                     write(3, std::string("\0\0\0\0", 4), 32768, std::string(1000, 'b'))},
          {false, status(2, 0) + status(3, 0)},
          {true, close(4, std::string("\0\0\0\0", 4))},
          {false, status(4, 0)}};
}

}  // namespace

TEST_CASE("sftp: an upload is one operation with its path, its size and its direction") {
  for (const std::size_t piece : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
    CAPTURE(piece);
    const auto operations = run(upload_steps(), piece);
    REQUIRE(operations.size() == 1);
    CHECK(operations[0].op == "upload");
    CHECK(operations[0].path == "/tmp/up.bin");
    CHECK(operations[0].bytes == 33768u);
    CHECK(operations[0].ok == true);
    CHECK(operations[0].attributes == "mode 0644");
    CHECK(operations[0].error.empty());
  }
}

TEST_CASE("sftp: a download counts the bytes the server sent, not the bytes asked for") {
  const std::string h = "h1";
  const auto operations = run({{true, kInit},
                               {false, kVersion},
                               {true, open(7, "etc/passwd", kRead)},
                               {false, handle(7, h)},
                               {true, read(8, h, 0, 32768) + read(9, h, 32768, 32768) + read(10, h, 65536, 32768)},
                               {false, data(8, std::string(32768, 'x')) + data(9, std::string(100, 'y')) + status(10, 1)},
                               {true, close(11, h)},
                               {false, status(11, 0)}});
  REQUIRE(operations.size() == 1);
  CHECK(operations[0].op == "download");
  CHECK(operations[0].path == "etc/passwd");
  CHECK(operations[0].bytes == 32868u);
  CHECK(operations[0].ok == true);
}

TEST_CASE("sftp: mkdir, rmdir, remove, rename, symlink, hardlink and setstat each say whether they worked") {
  const auto operations = run({
      {true, kInit},
      {false, kVersion},
      {true, path_request(14, 1, "/srv/new", mode_attributes(0750))},  // MKDIR
      {false, status(1, 0)},
      {true, path_request(13, 2, "/etc/shadow")},  // REMOVE
      {false, status(2, 3)},
      {true, packet(18, u32(3) + str("/a") + str("/b"))},  // RENAME
      {false, status(3, 0)},
      {true, extended(4, "posix-rename@openssh.com", str("/b") + str("/c"))},
      {false, status(4, 0)},
      {true, packet(20, u32(5) + str("/etc/hosts") + str("/tmp/link"))},  // SYMLINK: target, then link
      {false, status(5, 0)},
      {true, extended(6, "hardlink@openssh.com", str("/c") + str("/d"))},
      {false, status(6, 0)},
      {true, path_request(9, 7, "/d", u32(0x2 | 0x4) + u32(1000) + u32(1000) + u32(0100600))},  // SETSTAT
      {false, status(7, 0)},
      {true, path_request(15, 8, "/srv/new")},  // RMDIR
      {false, status(8, 2)},
      {true, path_request(17, 9, "/etc")},  // STAT: only looks, not recorded
      {false, packet(105, u32(9) + no_attributes())},
  });
  REQUIRE(operations.size() == 8);
  CHECK(operations[0].op == "mkdir");
  CHECK(operations[0].path == "/srv/new");
  CHECK(operations[0].attributes == "mode 0750");
  CHECK(operations[0].ok == true);
  CHECK(operations[1].op == "remove");
  CHECK(operations[1].ok == false);
  CHECK(operations[1].error == "permission denied");
  CHECK(operations[2].op == "rename");
  CHECK(operations[2].path == "/a");
  CHECK(operations[2].to == "/b");
  CHECK(operations[3].op == "rename");
  CHECK(operations[3].to == "/c");
  CHECK(operations[4].op == "symlink");
  CHECK(operations[4].path == "/tmp/link");
  CHECK(operations[4].to == "/etc/hosts");
  CHECK(operations[5].op == "hardlink");
  CHECK(operations[5].path == "/d");
  CHECK(operations[5].to == "/c");
  CHECK(operations[6].op == "setstat");
  CHECK(operations[6].attributes == "uid 1000, gid 1000, mode 0600");
  CHECK(operations[7].op == "rmdir");
  CHECK(operations[7].error == "no such file");
}

TEST_CASE("sftp: a refused open, a listing and an fsetstat on an open file") {
  const auto operations = run({{true, kInit},
                               {false, kVersion},
                               {true, open(1, "/root/secret", kRead)},
                               {false, status(1, 3)},
                               {true, path_request(11, 2, "/var/log")},  // OPENDIR
                               {false, handle(2, "d")},
                               {true, open(3, "/tmp/f", kWrite | kCreate)},
                               {false, handle(3, "f")},
                               {true, packet(10, u32(4) + str("f") + mode_attributes(0755))},  // FSETSTAT
                               {false, status(4, 0)},
                               {true, close(5, "d") + close(6, "f")},
                               {false, status(5, 0) + status(6, 0)}});
  REQUIRE(operations.size() == 4);
  CHECK(operations[0].op == "download");
  CHECK(operations[0].path == "/root/secret");
  CHECK(operations[0].ok == false);
  CHECK(operations[0].error == "permission denied");
  CHECK(operations[1].op == "list");
  CHECK(operations[1].path == "/var/log");
  CHECK(operations[2].op == "setstat");
  CHECK(operations[2].path == "/tmp/f");
  CHECK(operations[3].op == "upload");
  CHECK(operations[3].bytes == 0u);
}

TEST_CASE("sftp: what is open or unanswered when the channel ends is recorded without an answer") {
  const auto operations = run({{true, kInit},
                               {false, kVersion},
                               {true, open(1, "/tmp/big", kWrite | kCreate)},
                               {false, handle(1, "h")},
                               {true, write(2, "h", 0, "12345")},
                               {true, path_request(14, 3, "/tmp/d", no_attributes())}});
  REQUIRE(operations.size() == 2);
  CHECK(operations[0].op == "upload");
  CHECK(operations[0].bytes == 5u);
  CHECK_FALSE(operations[0].ok.has_value());
  CHECK(operations[0].error == "still open when the channel ended");
  CHECK(operations[1].op == "mkdir");
  CHECK_FALSE(operations[1].ok.has_value());
}

TEST_CASE("sftp: a packet length SFTP does not allow stops the parse once, and nothing after it counts") {
  for (const std::string& bad : {u32(0) + "x", u32(0x7FFFFFFF) + "xxxxxxxx", u32(256 * 1024 + 1) + "x"}) {
    const auto operations = run({{true, kInit}, {false, kVersion}, {true, bad}, {true, path_request(13, 1, "/x")},
                                 {false, status(1, 0)}});
    REQUIRE(operations.size() == 1);
    CHECK(operations[0].op == "unparsed");
    CHECK(operations[0].error.find("packet length") != std::string::npos);
  }
}

TEST_CASE("sftp: a stream that is not SFTP v3 is given up at its first packet") {
  auto operations = run({{true, packet(3, u32(1) + str("/x") + u32(1) + u32(0))}});
  REQUIRE(operations.size() == 1);
  CHECK(operations[0].op == "unparsed");
  operations = run({{true, kInit}, {false, packet(2, u32(6))}, {true, path_request(13, 1, "/x")}, {false, status(1, 0)}});
  REQUIRE(operations.size() == 1);
  CHECK(operations[0].error.find("version 6") != std::string::npos);
}

TEST_CASE("sftp: malformed packets are skipped and the conversation goes on") {
  const auto operations = run({
      {true, kInit},
      {false, kVersion},
      {true, packet(13, u32(1) + u32(1000) + "short")},          // a string longer than its packet
      {true, packet(6, u32(2) + str("h") + u64(0) + u32(999) + "ab")},  // WRITE whose length lies
      {true, packet(14, u32(3))},                                 // MKDIR without a path
      {false, packet(101, u32(1))},                               // STATUS without a code
      {false, handle(99, "nobody asked")},
      {false, data(98, "nor this")},
      {true, path_request(13, 4, "/ok")},
      {false, status(4, 0)},
  });
  REQUIRE(operations.size() == 1);
  CHECK(operations[0].op == "remove");
  CHECK(operations[0].path == "/ok");
  CHECK(operations[0].ok == true);
}

TEST_CASE("sftp: memory stays bounded whatever the client asks") {
  SftpLimits limits;
  SftpObserver observer(limits);
  observer.from_client(kInit);
  observer.from_server(kVersion);
  // Thousands of requests never answered, with long paths.
  const std::string long_path(4000, 'p');
  for (std::uint32_t id = 0; id < 5000; ++id) observer.from_client(path_request(13, id, long_path));
  CHECK(observer.pending_requests() <= limits.pending_bytes / 4000);
  // Thousands of files opened and never closed.
  for (std::uint32_t id = 10000; id < 11000; ++id) {
    observer.from_client(open(id, "/tmp/f" + std::to_string(id), kWrite));
    observer.from_server(handle(id, "h" + std::to_string(id)));
  }
  CHECK(observer.open_handles() == limits.open_handles);
  const auto operations = observer.take_operations();
  // Past the limit a file is still recorded, when it opens, without its byte count.
  CHECK(operations.size() == 1000 - limits.open_handles);
  CHECK_FALSE(operations.back().bytes.has_value());
  CHECK(operations.back().path == "/tmp/f10999");
  // A path longer than PATH_MAX is cut.
  observer.from_client(path_request(13, 20000, std::string(10000, 'x')));
  observer.from_server(status(20000, 0));
  const auto cut = observer.take_operations();
  REQUIRE(cut.size() == 1);
  CHECK(cut[0].path.size() == limits.path_bytes + 3);
  CHECK_FALSE(observer.gave_up());
}

TEST_CASE("sftp: a write as long as SFTP allows is counted, not kept, in any pieces") {
  SftpObserver observer;
  observer.from_client(kInit);
  observer.from_server(kVersion);
  observer.from_client(open(1, "/tmp/big", kWrite));
  observer.from_server(handle(1, "h"));
  const std::string big = write(2, "h", 0, std::string(256 * 1024 - 64, 'z'));
  for (std::size_t at = 0; at < big.size(); at += 1000) observer.from_client(std::string_view(big).substr(at, 1000));
  observer.from_server(status(2, 0));
  observer.from_client(close(3, "h"));
  observer.from_server(status(3, 0));
  const auto operations = observer.take_operations();
  REQUIRE(operations.size() == 1);
  CHECK(operations[0].bytes == 256u * 1024 - 64);
}

TEST_CASE("sftp: random bytes on both sides never crash the observer") {
  std::mt19937 random(12345);
  for (int round = 0; round < 200; ++round) {
    SftpObserver observer;
    if (round % 2 == 0) {
      observer.from_client(kInit);
      observer.from_server(kVersion);
    }
    for (int chunk = 0; chunk < 50; ++chunk) {
      std::string bytes(random() % 300, '\0');
      for (char& byte : bytes) byte = static_cast<char>(random() % 4 == 0 ? random() % 256 : random() % 8);
      if (random() % 2) observer.from_client(bytes);
      else observer.from_server(bytes);
      (void)observer.take_operations();
    }
    observer.end();
    (void)observer.take_operations();
    CHECK(observer.pending_requests() == 0);
  }
}

}  // namespace breakfix
