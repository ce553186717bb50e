#include <doctest/doctest.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tar_archive.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using breakfix::ErrorCode;
using breakfix::testing::TempDir;
namespace tar = breakfix::archive;

namespace {

// One entry of a tar as libarchive reads it back.
struct TarEntry {
  std::string path;
  mode_t type = 0;
  mode_t permissions = 0;
  std::int64_t uid = -1;
  std::int64_t gid = -1;
  std::int64_t mtime = -1;
  std::string user_name;
  std::string symlink;
  std::string hardlink;
  dev_t rdev = 0;
  std::string data;
  std::map<std::string, std::string> xattrs;
};

std::string text_or_empty(const char* text) { return text ? text : ""; }

TarEntry read_entry(::archive* reader, archive_entry* entry) {
  TarEntry read;
  read.path = text_or_empty(archive_entry_pathname(entry));
  read.type = archive_entry_filetype(entry);
  read.permissions = archive_entry_perm(entry);
  read.uid = archive_entry_uid(entry);
  read.gid = archive_entry_gid(entry);
  read.mtime = archive_entry_mtime(entry);
  read.user_name = text_or_empty(archive_entry_uname(entry));
  read.symlink = text_or_empty(archive_entry_symlink(entry));
  read.hardlink = text_or_empty(archive_entry_hardlink(entry));
  read.rdev = archive_entry_rdev(entry);
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  archive_entry_xattr_reset(entry);
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
    read.xattrs[name] = std::string(static_cast<const char*>(value), size);
  }
  char buffer[4096];
  for (la_ssize_t got; (got = archive_read_data(reader, buffer, sizeof buffer)) > 0;) read.data.append(buffer, got);
  return read;
}

// Reads a whole tar back with libarchive, in order; fails the test if it is not one.
std::vector<TarEntry> read_tar(const std::string& bytes) {
  ::archive* reader = archive_read_new();
  archive_read_support_format_tar(reader);
  REQUIRE(archive_read_open_memory(reader, bytes.data(), bytes.size()) == ARCHIVE_OK);
  std::vector<TarEntry> entries;
  archive_entry* entry = nullptr;
  int status = ARCHIVE_OK;
  while ((status = archive_read_next_header(reader, &entry)) == ARCHIVE_OK) entries.push_back(read_entry(reader, entry));
  CHECK(status == ARCHIVE_EOF);
  archive_read_free(reader);
  return entries;
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<TarEntry> read_tar_file(const fs::path& file) { return read_tar(read_file(file)); }

const TarEntry* find(const std::vector<TarEntry>& entries, const std::string& path) {
  for (const TarEntry& entry : entries) {
    if (entry.path == path) return &entry;
  }
  return nullptr;
}

std::vector<std::string> paths(const std::vector<TarEntry>& entries) {
  std::vector<std::string> result;
  for (const TarEntry& entry : entries) result.push_back(entry.path);
  return result;
}

std::optional<std::string> xattr(const TarEntry& entry, const std::string& name) {
  const auto found = entry.xattrs.find(name);
  if (found == entry.xattrs.end()) return std::nullopt;
  return found->second;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

void set_times(const fs::path& root, fs::file_time_type when) {
  fs::last_write_time(root, when);
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_symlink()) fs::last_write_time(entry.path(), when);
  }
}

// Unmounts what a test mounted before its TempDir is removed.
class Mount {
 public:
  explicit Mount(fs::path point) : point_(std::move(point)) {
    mounted_ = ::mount("tmpfs", point_.c_str(), "tmpfs", 0, "size=1m") == 0;
  }
  ~Mount() {
    if (mounted_) ::umount2(point_.c_str(), MNT_DETACH);
  }
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  bool mounted() const { return mounted_; }

 private:
  fs::path point_;
  bool mounted_ = false;
};

}  // namespace

// ---- build contexts ----

TEST_CASE("A build context tar is the same whatever the file times, owners and creation order") {
  TempDir first;
  first.write("Dockerfile", "FROM breakfix/base:bookworm\nCOPY app /app\n");
  first.write("app/main.py", "print('hello')\n");
  first.write("app/lib/util.py", "X = 1\n");
  first.write("README", "read me\n");
  set_times(first.path(), fs::file_time_type::clock::now() - std::chrono::hours(24 * 365));

  // Same content written in the opposite order, a different age and a different owner.
  TempDir second;
  second.write("README", "read me\n");
  second.write("app/lib/util.py", "X = 1\n");
  second.write("app/main.py", "print('hello')\n");
  second.write("Dockerfile", "FROM breakfix/base:bookworm\nCOPY app /app\n");
  set_times(second.path(), fs::file_time_type::clock::now());
  REQUIRE(::lchown((second.path() / "app/main.py").c_str(), 1000, 1000) == 0);

  auto one = tar::tar_directory(first.path(), 1 << 20);
  auto two = tar::tar_directory(second.path(), 1 << 20);
  REQUIRE(one.ok());
  REQUIRE(two.ok());
  CHECK(*one == *two);
  CHECK(tar::sha256_hex(*one) == tar::sha256_hex(*two));
}

TEST_CASE("A build context tar holds relative sorted paths, modes, symlink targets and contents") {
  TempDir context;
  context.write("Dockerfile", "FROM scratch\n");
  const fs::path script = context.write("app/run.sh", "#!/bin/sh\necho run\n");
  fs::permissions(script, fs::perms(0755));
  fs::permissions(context.write("app/secret.conf", "key=value\n"), fs::perms(0640));
  fs::create_symlink("run.sh", context.path() / "app/current");
  fs::create_directory(context.path() / "empty");

  auto bytes = tar::tar_directory(context.path(), 1 << 20);
  REQUIRE(bytes.ok());
  const std::vector<TarEntry> entries = read_tar(*bytes);

  CHECK(paths(entries) ==
        std::vector<std::string>{"Dockerfile", "app/", "app/current", "app/run.sh", "app/secret.conf", "empty/"});
  const TarEntry* run = find(entries, "app/run.sh");
  REQUIRE(run);
  CHECK(run->type == AE_IFREG);
  CHECK(run->permissions == 0755);
  CHECK(run->data == "#!/bin/sh\necho run\n");
  CHECK(find(entries, "app/secret.conf")->permissions == 0640);
  CHECK(find(entries, "Dockerfile")->data == "FROM scratch\n");
  const TarEntry* current = find(entries, "app/current");
  REQUIRE(current);
  CHECK(current->type == AE_IFLNK);
  CHECK(current->symlink == "run.sh");
  CHECK(find(entries, "empty/")->type == AE_IFDIR);
  for (const TarEntry& entry : entries) {
    CAPTURE(entry.path);
    CHECK(entry.mtime == 0);
    CHECK(entry.uid == 0);
    CHECK(entry.gid == 0);
    CHECK(entry.user_name.empty());
  }
}

TEST_CASE("A build context larger than the limit is refused, naming the directory and the limit") {
  TempDir context;
  context.write("Dockerfile", "FROM scratch\n");
  context.write("blob", std::string(200 * 1024, 'x'));

  auto refused = tar::tar_directory(context.path(), 64 * 1024);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::Invalid);
  CHECK(contains(refused.error().message, context.path().string()));
  CHECK(contains(refused.error().message, "65536"));

  CHECK(tar::tar_directory(context.path(), 1 << 20).ok());
}

TEST_CASE("A missing build context directory is not found, and the message names it") {
  TempDir parent;
  const fs::path missing = parent.path() / "no-such-context";
  auto result = tar::tar_directory(missing, 1 << 20);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::NotFound);
  CHECK(contains(result.error().message, missing.string()));
}

TEST_CASE("A build context that is a file is invalid") {
  TempDir parent;
  auto result = tar::tar_directory(parent.write("Dockerfile", "FROM scratch\n"), 1 << 20);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::Invalid);
}

TEST_CASE("A fifo in a build context is an error naming it") {
  TempDir context;
  context.write("Dockerfile", "FROM scratch\n");
  fs::create_directory(context.path() / "app");
  REQUIRE(::mkfifo((context.path() / "app/pipe").c_str(), 0644) == 0);

  auto result = tar::tar_directory(context.path(), 1 << 20);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::Invalid);
  CHECK(contains(result.error().message, "app/pipe"));
  CHECK(contains(result.error().message, "fifo"));
}

// ---- digests ----

TEST_CASE("sha256_hex gives the standard digests of \"abc\" and of nothing") {
  CHECK(tar::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(tar::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("sha256_file_hex agrees with sha256_hex and reports a missing file as not found") {
  TempDir dir;
  const std::string content(200 * 1024 + 7, 'q');  // several read chunks
  auto digest = tar::sha256_file_hex(dir.write("blob", content));
  REQUIRE(digest.ok());
  CHECK(*digest == tar::sha256_hex(content));

  auto missing = tar::sha256_file_hex(dir.path() / "none");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::NotFound);
  CHECK(contains(missing.error().message, (dir.path() / "none").string()));
}

// ---- root file systems (these tests run as root) ----

TEST_CASE("A root file system tar keeps hard links, special modes, symlinks, empty dirs, owners and devices") {
  TempDir work;
  const fs::path root = work.path() / "root";
  const fs::path tool = work.write("root/usr/bin/tool", "#!/bin/sh\n");
  fs::permissions(tool, fs::perms(04755));
  fs::create_hard_link(tool, root / "usr/bin/tool-again");
  fs::create_directory_symlink("usr/bin", root / "bin");
  fs::create_directories(root / "var/empty");
  fs::create_directories(root / "tmp");
  fs::permissions(root / "tmp", fs::perms(01777));
  const fs::path owned = work.write("root/etc/owned", "mine\n");
  REQUIRE(::chown(owned.c_str(), 1234, 5678) == 0);
  fs::create_directories(root / "dev");
  REQUIRE(::mkfifo((root / "dev/initctl").c_str(), 0600) == 0);
  const bool have_device = ::mknod((root / "dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0;
  const fs::path out = work.path() / "rootfs.tar";

  REQUIRE(tar::tar_root_filesystem(root, out, nullptr).ok());
  CHECK_FALSE(fs::exists(work.path() / "rootfs.tar.partial"));
  const std::vector<TarEntry> entries = read_tar_file(out);

  const TarEntry* top = find(entries, "./");
  REQUIRE(top);
  CHECK(top->type == AE_IFDIR);
  // Whichever name comes first carries the data; the other is a hard link to it.
  const TarEntry* first = find(entries, "./usr/bin/tool");
  const TarEntry* second = find(entries, "./usr/bin/tool-again");
  REQUIRE(first);
  REQUIRE(second);
  if (!first->hardlink.empty()) std::swap(first, second);
  CHECK(first->hardlink.empty());
  CHECK(first->data == "#!/bin/sh\n");
  CHECK(first->permissions == 04755);
  CHECK(second->hardlink == first->path);
  CHECK(second->data.empty());

  const TarEntry* bin = find(entries, "./bin");
  REQUIRE(bin);
  CHECK(bin->type == AE_IFLNK);
  CHECK(bin->symlink == "usr/bin");
  REQUIRE(find(entries, "./var/empty/"));
  CHECK(find(entries, "./var/empty/")->type == AE_IFDIR);
  REQUIRE(find(entries, "./tmp/"));
  CHECK(find(entries, "./tmp/")->permissions == 01777);
  const TarEntry* owned_entry = find(entries, "./etc/owned");
  REQUIRE(owned_entry);
  CHECK(owned_entry->uid == 1234);
  CHECK(owned_entry->gid == 5678);
  CHECK(owned_entry->user_name.empty());
  REQUIRE(find(entries, "./dev/initctl"));
  CHECK(find(entries, "./dev/initctl")->type == AE_IFIFO);
  if (have_device) {
    const TarEntry* null = find(entries, "./dev/null");
    REQUIRE(null);
    CHECK(null->type == AE_IFCHR);
    CHECK(null->rdev == makedev(1, 3));
  } else {
    MESSAGE("mknod is not permitted here; device nodes not checked");
  }
}

TEST_CASE("A root file system tar keeps extended attributes") {
  TempDir work;
  const fs::path file = work.write("root/usr/bin/ping", "ping\n");
  const bool user_xattrs = ::setxattr(file.c_str(), "user.test", "1", 1, 0) == 0;
  if (!user_xattrs) REQUIRE(errno == ENOTSUP);
  // A file capability as setcap writes it: revision 2, cap_net_raw (13) permitted and effective.
  const unsigned char capability[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x20};
  const bool capabilities = ::setxattr(file.c_str(), "security.capability", capability, sizeof capability, 0) == 0;

  const fs::path out = work.path() / "rootfs.tar";
  REQUIRE(tar::tar_root_filesystem(work.path() / "root", out, nullptr).ok());
  const std::vector<TarEntry> entries = read_tar_file(out);
  const TarEntry* ping = find(entries, "./usr/bin/ping");
  REQUIRE(ping);
  if (user_xattrs) {
    CHECK(xattr(*ping, "user.test") == "1");
  } else {
    MESSAGE("the file system of $TMPDIR has no user xattrs; user.test not checked");
  }
  if (capabilities) {
    // Compared with what the kernel stored, which a user namespace may rewrite.
    char stored[64];
    const ssize_t size = ::getxattr(file.c_str(), "security.capability", stored, sizeof stored);
    REQUIRE(size > 0);
    CHECK(xattr(*ping, "security.capability") == std::string(stored, static_cast<std::size_t>(size)));
  } else {
    MESSAGE("security.capability cannot be set here; file capabilities not checked");
  }
}

TEST_CASE("A root file system tar does not enter file systems mounted below the root") {
  TempDir work;
  work.write("root/etc/hostname", "lab\n");
  fs::create_directories(work.path() / "root/proc");
  Mount proc(work.path() / "root/proc");
  if (!proc.mounted()) {
    MESSAGE("mounting a tmpfs is not permitted here; not checked");
    return;
  }
  work.write("root/proc/cpuinfo", "not the image's\n");

  const fs::path out = work.path() / "rootfs.tar";
  REQUIRE(tar::tar_root_filesystem(work.path() / "root", out, nullptr).ok());
  const std::vector<TarEntry> entries = read_tar_file(out);
  CHECK(find(entries, "./proc/"));
  CHECK_FALSE(find(entries, "./proc/cpuinfo"));
  CHECK(find(entries, "./etc/hostname"));
}

TEST_CASE("A socket left in a root file system is left out of its tar") {
  TempDir work;
  work.write("root/etc/hostname", "lab\n");
  fs::create_directories(work.path() / "root/run");
  const std::string socket_path = (work.path() / "root/run/daemon.sock").string();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  REQUIRE(socket_path.size() < sizeof address.sun_path);
  socket_path.copy(address.sun_path, socket_path.size());
  const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  ::close(listener);

  const fs::path out = work.path() / "rootfs.tar";
  REQUIRE(tar::tar_root_filesystem(work.path() / "root", out, nullptr).ok());
  const std::vector<TarEntry> entries = read_tar_file(out);
  CHECK(find(entries, "./run/"));
  CHECK_FALSE(find(entries, "./run/daemon.sock"));
}

TEST_CASE("Packing a root file system reports progress every 2000 entries and at the end") {
  TempDir work;
  const fs::path root = work.path() / "root";
  fs::create_directories(root / "many");
  for (int i = 0; i < 2100; ++i) std::ofstream(root / "many" / std::to_string(i)) << i;
  std::vector<std::string> lines;
  auto progress = [&lines](std::string_view line) { lines.emplace_back(line); };

  REQUIRE(tar::tar_root_filesystem(root, work.path() / "rootfs.tar", progress).ok());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "packed 2000 files (0 MiB)");
  CHECK(lines[1] == "packed 2102 files (0 MiB)");  // the root, many/ and 2100 files
}

TEST_CASE("A root file system tar is refused inside the tree, and a missing root is not found") {
  TempDir work;
  work.write("root/etc/hostname", "lab\n");
  const auto inside = tar::tar_root_filesystem(work.path() / "root", work.path() / "root/rootfs.tar", nullptr);
  REQUIRE_FALSE(inside.ok());
  CHECK(inside.error().code == ErrorCode::Invalid);
  CHECK_FALSE(fs::exists(work.path() / "root/rootfs.tar"));

  const auto missing = tar::tar_root_filesystem(work.path() / "none", work.path() / "rootfs.tar", nullptr);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::NotFound);
  CHECK(contains(missing.error().message, (work.path() / "none").string()));
}
