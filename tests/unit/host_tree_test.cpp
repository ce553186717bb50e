// The LXD backend's view of a lab's files, read from the host (host_tree.h), on a
// directory standing in for a container's root file system: what a hostile root in the
// lab does there (symlinks out, FIFOs, times set back) must not lead it astray.

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "host_tree.h"
#include "tar_archive.h"

using namespace breakfix;
using namespace breakfix::lxd;
namespace fs = std::filesystem;

namespace {

struct FakeRoot {
  fs::path root = fs::temp_directory_path() / ("breakfix-host-tree-" + std::to_string(::getpid()) + "-" +
                                               std::to_string(counter()++));
  fs::path outside = root.string() + "-outside";
  FakeRoot() {
    fs::create_directories(root / "etc");
    fs::create_directories(root / "srv/app");
    fs::create_directories(outside);
    write("etc/hostname", "lab\n");
    write("srv/app/app.conf", "port = 1\n");
    std::ofstream(outside / "secret") << "the host's\n";
  }
  ~FakeRoot() {
    std::error_code ec;
    fs::remove_all(root, ec);
    fs::remove_all(outside, ec);
  }
  void write(const std::string& relative, const std::string& content) const { std::ofstream(root / relative) << content; }
  static int& counter() {
    static int value = 0;
    return value;
  }
};

std::map<std::string, FileRecord> read_all(const FakeRoot& lab, const std::string& path, bool& complete,
                                           std::uint64_t max_bytes = 64 << 20) {
  std::map<std::string, FileRecord> records;
  auto read = read_host_tree(
      lab.root, path, IdShift{}, {max_bytes, 64}, [](const FileRecord&) { return ReadWant::Keep; },
      [&](FileRecord record) {
        records[record.path] = std::move(record);
        return true;
      });
  REQUIRE_MESSAGE(read.ok(), read.error().message);
  complete = *read;
  return records;
}

std::int64_t coarse_now() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

}  // namespace

TEST_CASE("LXD's idmap gives the container's own ids, an idmap of another shape is refused") {
  auto shift = parse_idmap(R"([{"Isuid":true,"Isgid":false,"Hostid":165536,"Nsid":0,"Maprange":65536},
                               {"Isuid":false,"Isgid":true,"Hostid":231072,"Nsid":0,"Maprange":65536}])");
  REQUIRE(shift.ok());
  CHECK(shift->uids.inside(165536) == 0);
  CHECK(shift->uids.inside(165536 + 33) == 33);
  CHECK(shift->gids.inside(231072 + 5) == 5);
  CHECK(shift->uids.inside(0) == 65534);  // the host's root is nobody inside
  CHECK(shift->uids.inside(165536 + 65536) == 65534);
  CHECK_FALSE(parse_idmap("").ok());
  CHECK_FALSE(parse_idmap(R"({"Hostid":1})").ok());
  CHECK_FALSE(parse_idmap(R"([{"Isuid":true,"Isgid":false,"Hostid":165536,"Nsid":0,"Maprange":65536}])").ok());
}

TEST_CASE("A tree is read from the host as a tar of it would show it: paths, types, contents, hard links") {
  FakeRoot lab;
  lab.write("srv/app/big", std::string(3000, 'x'));
  fs::create_hard_link(lab.root / "srv/app/big", lab.root / "srv/app/big-link");
  fs::create_symlink("app.conf", lab.root / "srv/app/current");
  ::chmod((lab.root / "srv/app/app.conf").c_str(), 0640);
  bool complete = false;
  auto records = read_all(lab, "/srv/app", complete);
  CHECK(complete);
  CHECK(records.at("/srv/app").type == FileType::Directory);
  CHECK(records.at("/srv/app/app.conf").head == "port = 1\n");
  CHECK(records.at("/srv/app/app.conf").mode == 0640);
  CHECK(records.at("/srv/app/app.conf").sha256 == breakfix::archive::sha256_hex("port = 1\n"));
  CHECK(records.at("/srv/app/big").type == FileType::Regular);
  CHECK(records.at("/srv/app/big-link").type == FileType::HardLink);  // "big" comes first, by name
  CHECK(records.at("/srv/app/big-link").link_target == "/srv/app/big");
  CHECK(records.at("/srv/app/big-link").sha256 == records.at("/srv/app/big").sha256);
  CHECK(records.at("/srv/app/current").type == FileType::Symlink);
  CHECK(records.at("/srv/app/current").link_target == "app.conf");

  // Cut at max_bytes: a file whose content lies across the cut is visited without digest.
  auto cut = read_all(lab, "/srv/app", complete, 2048);
  CHECK_FALSE(complete);
  CHECK(cut.at("/srv/app/big").sha256.empty());

  auto missing = read_host_tree(lab.root, "/srv/none", IdShift{}, {}, [](const FileRecord&) { return ReadWant::Hash; },
                                [](FileRecord) { return true; });
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::NotFound);
}

TEST_CASE("A symlink planted in a lab resolves inside the lab, never on the host") {
  FakeRoot lab;
  // What a hostile root makes: a link to the host's idea of a path, and one up and out.
  fs::create_symlink("/", lab.root / "srv/escape");
  fs::create_symlink("../../../../../../../../" + lab.outside.string(), lab.root / "srv/up");
  bool complete = false;
  auto through_root = read_all(lab, "/srv/escape/etc/hostname", complete);
  CHECK(through_root.at("/srv/escape/etc/hostname").head == "lab\n");  // the lab's, not this machine's
  auto up = read_host_tree(lab.root, "/srv/up/secret", IdShift{}, {}, [](const FileRecord&) { return ReadWant::Keep; },
                           [](FileRecord) { return true; });
  REQUIRE_FALSE(up.ok());
  CHECK(up.error().code == ErrorCode::NotFound);
  // A link read as such is a link, and a tree holding one is not followed through it.
  auto tree = read_all(lab, "/srv", complete);
  CHECK(tree.at("/srv/escape").type == FileType::Symlink);
  CHECK_FALSE(tree.count("/srv/escape/etc/hostname"));
}

TEST_CASE("A FIFO in a lab is recorded, never opened for reading, so the reader cannot be held") {
  FakeRoot lab;
  REQUIRE(::mkfifo((lab.root / "srv/app/pipe").c_str(), 0644) == 0);
  bool complete = false;
  auto records = read_all(lab, "/srv/app", complete);  // would block for ever if it opened the FIFO
  CHECK(complete);
  CHECK(records.at("/srv/app/pipe").type == FileType::Other);
  CHECK(records.at("/srv/app/pipe").sha256.empty());
}

TEST_CASE("Changes against the image: added, modified even with its times set back, deleted once at the top") {
  FakeRoot lab;
  fs::create_directories(lab.root / "var/lib/old/deep");
  lab.write("var/lib/old/deep/file", "x");
  lab.write("etc/motd", "hello\n");
  lab.write("etc/issue", "Debian\n");
  fs::create_directories(lab.root / "proc/1");  // below a mount point the container hides: never listed
  const std::vector<std::string> image = {"/",         "/etc",     "/etc/hostname", "/etc/issue",
                                          "/etc/motd", "/proc",    "/srv",          "/srv/app",
                                          "/srv/app/app.conf",     "/var",          "/var/lib",
                                          "/var/lib/old",          "/var/lib/old/deep", "/var/lib/old/deep/file"};
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // past the coarse clock's tick
  const std::int64_t since = coarse_now();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));

  // The candidate: a new file, an edit hidden behind the old times, a deleted tree.
  lab.write("srv/app/new.conf", "port = 2\n");
  struct stat before {};
  REQUIRE(::stat((lab.root / "etc/issue").c_str(), &before) == 0);
  lab.write("etc/issue", "Debian, changed\n");
  const timespec times[2] = {before.st_atim, before.st_mtim};
  REQUIRE(::utimensat(AT_FDCWD, (lab.root / "etc/issue").c_str(), times, 0) == 0);  // touch -r
  fs::remove_all(lab.root / "var/lib/old");

  std::map<std::string, FsChangeKind> changes;
  int listed = 0;
  REQUIRE(host_changes(lab.root, image, since, [&](const FsChange& change) {
            changes[change.path] = change.kind;
            ++listed;
          }).ok());
  CHECK(changes.at("/srv/app/new.conf") == FsChangeKind::Added);
  CHECK(changes.at("/srv/app") == FsChangeKind::Modified);
  CHECK(changes.at("/etc/issue") == FsChangeKind::Modified);
  CHECK(changes.at("/etc") == FsChangeKind::Modified);
  CHECK(changes.at("/var/lib/old") == FsChangeKind::Deleted);
  CHECK(changes.at("/var/lib") == FsChangeKind::Modified);
  CHECK_FALSE(changes.count("/var/lib/old/deep"));  // the top of what went, once
  CHECK_FALSE(changes.count("/etc/motd"));           // untouched
  CHECK_FALSE(changes.count("/etc/hostname"));
  CHECK_FALSE(changes.count("/proc/1"));
  CHECK(listed == static_cast<int>(changes.size()));  // each path once
}

TEST_CASE("The disk a lab wrote: what changed since its boot, hard links once, an empty file as an inode") {
  FakeRoot lab;
  lab.write("srv/app/old", std::string(100000, 'o'));  // the image's: not counted
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const std::int64_t since = coarse_now();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto before = host_written_bytes(lab.root, since);
  REQUIRE(before.ok());
  CHECK(*before == 0);

  lab.write("srv/app/fill", std::string(1 << 20, 'x'));
  fs::create_hard_link(lab.root / "srv/app/fill", lab.root / "srv/app/fill-again");
  for (int i = 0; i < 100; ++i) lab.write("srv/app/empty-" + std::to_string(i), "");
  auto after = host_written_bytes(lab.root, since);
  REQUIRE(after.ok());
  CHECK(*after >= (1u << 20) + 100 * 4096);       // the MiB once, and each empty file as an inode
  CHECK(*after < 2 * (1u << 20) + 100 * 4096);     // the hard link did not count the MiB again
}
