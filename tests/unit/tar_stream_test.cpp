// The engine's views of a container's file system as they stream in: the archive of a
// path (read_tar_stream) and the list of changes (ChangesParser), fed in pieces of any
// size as the socket delivers them.

#include <doctest/doctest.h>

#include <archive.h>
#include <archive_entry.h>

#include <map>
#include <string>
#include <vector>

#include "fs_changes.h"
#include "tar_archive.h"

using breakfix::ErrorCode;
using breakfix::FileRecord;
using breakfix::FileType;
using breakfix::FsChange;
using breakfix::FsChangeKind;
using breakfix::ReadWant;
using breakfix::Result;
using breakfix::TreeReadOptions;
namespace docker = breakfix::docker;
namespace tar = breakfix::archive;

namespace {

struct TarItem {
  std::string name;  // as the engine names entries: from the asked path's last component on
  mode_t type = AE_IFREG;
  mode_t permissions = 0644;
  std::string content;
  std::string link;  // symlink target, or with `hardlink` the entry linked to
  bool hardlink = false;
  std::int64_t uid = 0;
  std::map<std::string, std::string> xattrs;
};

TarItem dir(std::string name, mode_t permissions = 0755) {
  TarItem item;
  item.name = std::move(name);
  item.type = AE_IFDIR;
  item.permissions = permissions;
  return item;
}

TarItem file(std::string name, std::string content, mode_t permissions = 0644, std::int64_t uid = 0) {
  TarItem item;
  item.name = std::move(name);
  item.content = std::move(content);
  item.permissions = permissions;
  item.uid = uid;
  return item;
}

TarItem link(std::string name, std::string target, bool hard) {
  TarItem item;
  item.name = std::move(name);
  item.type = hard ? AE_IFREG : AE_IFLNK;
  item.permissions = hard ? 04755 : 0777;
  item.link = std::move(target);
  item.hardlink = hard;
  return item;
}

// A pax tar as Docker's Go archive writes them.
std::string make_tar(const std::vector<TarItem>& items) {
  std::string bytes;
  ::archive* writer = archive_write_new();
  archive_write_set_format_pax(writer);
  archive_write_set_bytes_in_last_block(writer, 1);
  archive_write_open(
      writer, &bytes, nullptr,
      [](::archive*, void* data, const void* buffer, std::size_t size) -> la_ssize_t {
        static_cast<std::string*>(data)->append(static_cast<const char*>(buffer), size);
        return static_cast<la_ssize_t>(size);
      },
      nullptr);
  for (const TarItem& item : items) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, item.name.c_str());
    archive_entry_set_filetype(entry, item.type);
    archive_entry_set_perm(entry, item.permissions);
    archive_entry_set_uid(entry, item.uid);
    if (item.hardlink) archive_entry_set_hardlink(entry, item.link.c_str());
    else if (item.type == AE_IFLNK) archive_entry_set_symlink(entry, item.link.c_str());
    for (const auto& [name, value] : item.xattrs) archive_entry_xattr_add_entry(entry, name.c_str(), value.data(), value.size());
    archive_entry_set_size(entry, item.type == AE_IFREG && !item.hardlink ? static_cast<la_int64_t>(item.content.size()) : 0);
    REQUIRE(archive_write_header(writer, entry) == ARCHIVE_OK);
    if (item.type == AE_IFREG && !item.hardlink) archive_write_data(writer, item.content.data(), item.content.size());
    archive_entry_free(entry);
  }
  archive_write_close(writer);
  archive_write_free(writer);
  return bytes;
}

// Hands `bytes` out `piece` bytes at a time, as a socket might.
tar::PullFn pieces_of(const std::string& bytes, std::size_t piece) {
  auto at = std::make_shared<std::size_t>(0);
  return [&bytes, piece, at]() -> Result<std::string_view> {
    const std::size_t size = std::min(piece, bytes.size() - *at);
    std::string_view out(bytes.data() + *at, size);
    *at += size;
    return out;
  };
}

std::map<std::string, FileRecord> read_all(const std::string& bytes, const std::string& base, TreeReadOptions options,
                                           ReadWant wanted = ReadWant::Keep, Result<bool>* result = nullptr) {
  std::map<std::string, FileRecord> records;
  auto read = tar::read_tar_stream(
      pieces_of(bytes, 777), base, options, [&](const FileRecord&) { return wanted; },
      [&](FileRecord record) {
        records[record.path] = std::move(record);
        return true;
      });
  if (result) *result = read;
  else REQUIRE_MESSAGE(read.ok(), read.error().message);
  return records;
}

}  // namespace

TEST_CASE("An archive of a directory becomes records named by absolute path, with what tampering changes") {
  const std::string su(20000, 'x');
  TarItem capable = file("bin/su", su, 04755);
  capable.xattrs["security.capability"] = std::string("\x01\x00\x00\x02", 4);
  const std::string bytes = make_tar({
      dir("bin"),
      capable,
      link("bin/su-again", "bin/su", true),
      link("bin/sh", "dash", false),
      file("bin/owned", "hi\n", 0600, 1000),
  });
  const auto records = read_all(bytes, "/usr", {64 << 20, 16});
  REQUIRE(records.size() == 5);
  const FileRecord& dir = records.at("/usr/bin");
  CHECK(dir.type == FileType::Directory);
  CHECK(dir.mode == 0755);
  const FileRecord& file = records.at("/usr/bin/su");
  CHECK(file.type == FileType::Regular);
  CHECK(file.mode == 04755);  // setuid survives
  CHECK(file.size == 20000);
  CHECK(file.sha256 == tar::sha256_hex(su));
  CHECK(file.head == std::string(16, 'x'));  // only keep_bytes are held
  CHECK(file.xattrs == "security.capability=01000002\n");
  const FileRecord& link = records.at("/usr/bin/su-again");
  CHECK(link.type == FileType::HardLink);
  CHECK(link.link_target == "/usr/bin/su");
  CHECK(link.sha256 == file.sha256);  // a hard link has the content of the file it names
  CHECK(records.at("/usr/bin/sh").type == FileType::Symlink);
  CHECK(records.at("/usr/bin/sh").link_target == "dash");
  CHECK(records.at("/usr/bin/owned").uid == 1000);
}

TEST_CASE("Entries the caller does not want are read past, hashed ones keep no content") {
  const std::string bytes = make_tar({dir("etc"), file("etc/a", "aaa"), file("etc/b", "bbb")});
  std::map<std::string, FileRecord> records;
  auto read = tar::read_tar_stream(
      pieces_of(bytes, 1), "/", {64 << 20, 100},
      [](const FileRecord& header) { return header.path == "/etc/b" ? ReadWant::Hash : ReadWant::Skip; },
      [&](FileRecord record) {
        records[record.path] = std::move(record);
        return true;
      });
  REQUIRE(read.ok());
  CHECK(*read);
  REQUIRE(records.size() == 1);
  CHECK(records.at("/etc/b").sha256 == tar::sha256_hex("bbb"));
  CHECK(records.at("/etc/b").head.empty());

  // Nothing more wanted after a header-only record: the rest of the archive is not read.
  int offered = 0;
  std::vector<std::string> visited;
  auto stopped = tar::read_tar_stream(
      pieces_of(bytes, 100), "/", {}, [&](const FileRecord&) { return ++offered == 2 ? ReadWant::Header : ReadWant::Skip; },
      [&](FileRecord record) {
        visited.push_back(record.path);
        CHECK(record.sha256.empty());
        return false;
      });
  REQUIRE(stopped.ok());
  CHECK_FALSE(*stopped);
  CHECK(offered == 2);
  CHECK(visited == std::vector<std::string>{"/etc/a"});
}

TEST_CASE("A tar larger than max_bytes is cut there: false, and the file cut has no digest") {
  const std::string big(3 << 20, 'z');
  const std::string bytes = make_tar({dir("tmp", 01777), file("tmp/big", big), file("tmp/after", "x")});
  Result<bool> result = false;
  const auto records = read_all(bytes, "/", {1 << 20, 8}, ReadWant::Keep, &result);
  REQUIRE(result.ok());
  CHECK_FALSE(*result);
  REQUIRE(records.count("/tmp/big"));
  CHECK(records.at("/tmp/big").sha256.empty());
  CHECK(records.at("/tmp/big").head == "zzzzzzzz");
  CHECK_FALSE(records.count("/tmp/after"));
}

TEST_CASE("Bytes that are not a tar, and a broken connection, are errors") {
  const std::string junk(2048, 'j');
  Result<bool> result = true;
  read_all(junk, "/", {}, ReadWant::Keep, &result);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::Internal);

  const std::string bytes = make_tar({file("f", std::string(100000, 'f'))});
  int pulls = 0;
  auto read = tar::read_tar_stream(
      [&]() -> Result<std::string_view> {
        if (++pulls > 2) return breakfix::make_error(ErrorCode::Unavailable, "lost the engine");
        return std::string_view(bytes.data() + (pulls - 1) * 1024, 1024);
      },
      "/", {}, [](const FileRecord&) { return ReadWant::Hash; }, [](FileRecord) { return true; });
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().code == ErrorCode::Unavailable);
}

TEST_CASE("The engine's list of changes is parsed as it arrives, one byte at a time if need be") {
  const std::string answer =
      R"([{"Path":"/usr","Kind":0},{"Path":"/usr/bin/su","Kind":0},)"
      R"({"Path":"/tmp/a \"quoted\" {brace}","Kind":1},{"Path":"/etc/gone","Kind":2},)"
      R"({"Kind":1,"Path":"/tmp/caf\u00e9"}])";
  std::vector<FsChange> changes;
  docker::ChangesParser parser([&](const FsChange& change) { changes.push_back(change); });
  for (const char c : answer) REQUIRE(parser.feed(std::string_view(&c, 1)).ok());
  CHECK(parser.finish().ok());
  REQUIRE(changes.size() == 5);
  CHECK(changes[1].path == "/usr/bin/su");
  CHECK(changes[1].kind == FsChangeKind::Modified);
  CHECK(changes[2].path == "/tmp/a \"quoted\" {brace}");
  CHECK(changes[2].kind == FsChangeKind::Added);
  CHECK(changes[3].kind == FsChangeKind::Deleted);
  CHECK(changes[4].path == "/tmp/caf\xc3\xa9");
}

TEST_CASE("A list of changes that is null, cut short or not the engine's is told apart") {
  int seen = 0;
  docker::ChangesParser empty([&](const FsChange&) { ++seen; });
  CHECK(empty.feed("null").ok());
  CHECK(empty.finish().ok());
  CHECK(seen == 0);

  docker::ChangesParser cut([](const FsChange&) {});
  CHECK(cut.feed(R"([{"Path":"/a","Kind":1},{"Path":"/b")").ok());
  CHECK_FALSE(cut.finish().ok());

  docker::ChangesParser odd([](const FsChange&) {});
  CHECK_FALSE(odd.feed(R"([{"Path":"/a","Kind":7}])").ok());
  docker::ChangesParser endless([](const FsChange&) {});
  CHECK_FALSE(endless.feed("[{\"Path\":\"" + std::string(40000, 'a')).ok());
}
