#include "host_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "sha256.h"

namespace breakfix::lxd {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kHeaderBytes = 512;  // what a tar spends on an entry's header
constexpr std::size_t kChunkBytes = 64 * 1024;

// Below these the host's directory holds only what the container's own mounts hide
// (proc, sysfs, its /dev and /run): nothing a lab's state lives in.
constexpr std::string_view kUnwalked[] = {"/proc", "/sys", "/dev", "/run"};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // The descriptor's file, reached again through /proc (an O_PATH descriptor reads nothing).
  std::string proc_path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

std::string errno_text(int error) { return std::strerror(error); }

// "/srv/app" -> "srv/app"; "/" -> ".".
std::string relative_of(const std::string& path) {
  std::string relative = path;
  while (!relative.empty() && relative.front() == '/') relative.erase(0, 1);
  while (!relative.empty() && relative.back() == '/') relative.pop_back();
  return relative.empty() ? "." : relative;
}
std::string absolute_of(const std::string& relative) { return relative == "." ? "/" : "/" + relative; }
std::string child_of(const std::string& relative, const std::string& name) {
  return relative == "." ? name : relative + "/" + name;
}

// `relative` opened below `root` as the container would resolve it: symlinks on the way
// are followed inside `root`, never out of it; the last component is not followed.
Fd open_in_root(int root, const std::string& relative, std::uint64_t flags) {
  open_how how{};
  how.flags = flags | O_CLOEXEC | O_NOFOLLOW;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return Fd(static_cast<int>(::syscall(SYS_openat2, root, relative.c_str(), &how, sizeof how)));
}

// A directory's names, sorted; at most `most` of them (a walk that can visit no more
// does not hold a million names of a directory the candidate filled).
std::vector<std::string> names_in(const Fd& directory, std::size_t most, bool& all) {
  std::vector<std::string> names;
  all = true;
  const int fd = ::open(directory.proc_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return names;
  DIR* stream = ::fdopendir(fd);
  if (!stream) {
    ::close(fd);
    return names;
  }
  while (const dirent* entry = ::readdir(stream)) {
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    if (names.size() >= most) {
      all = false;
      break;
    }
    names.emplace_back(entry->d_name);
  }
  ::closedir(stream);
  std::sort(names.begin(), names.end());
  return names;
}

// "name=hex\n" sorted, as the Docker backend's records say it (tar_archive.cpp).
std::string xattrs_of(const Fd& entry) {
  const std::string path = entry.proc_path();
  std::vector<char> names(4096);
  ssize_t got = ::listxattr(path.c_str(), names.data(), names.size());
  if (got < 0 && errno == ERANGE) {
    got = ::listxattr(path.c_str(), nullptr, 0);
    if (got > 0) {
      names.resize(static_cast<std::size_t>(got));
      got = ::listxattr(path.c_str(), names.data(), names.size());
    }
  }
  if (got <= 0) return "";
  std::map<std::string, std::string> items;
  for (std::size_t at = 0; at < static_cast<std::size_t>(got);) {
    const std::string name(names.data() + at);
    at += name.size() + 1;
    std::vector<unsigned char> value(256);
    ssize_t size = ::getxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (size < 0 && errno == ERANGE) {
      size = ::getxattr(path.c_str(), name.c_str(), nullptr, 0);
      if (size < 0) continue;
      value.resize(static_cast<std::size_t>(size));
      size = ::getxattr(path.c_str(), name.c_str(), value.data(), value.size());
    }
    if (size < 0) continue;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (ssize_t i = 0; i < size; ++i) {
      hex += kHex[value[static_cast<std::size_t>(i)] >> 4];
      hex += kHex[value[static_cast<std::size_t>(i)] & 15];
    }
    items[name] = hex;
  }
  std::string text;
  for (const auto& [name, hex] : items) text += name + "=" + hex + "\n";
  return text;
}

FileType type_of(mode_t mode) {
  if (S_ISREG(mode)) return FileType::Regular;
  if (S_ISDIR(mode)) return FileType::Directory;
  if (S_ISLNK(mode)) return FileType::Symlink;
  return FileType::Other;
}

std::uint64_t padded(std::int64_t size) { return (static_cast<std::uint64_t>(size) + 511) / 512 * 512; }

bool under(std::string_view path, std::string_view prefix) {
  return path == prefix || (path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix &&
                            path[prefix.size()] == '/');
}
bool unwalked(std::string_view path) {
  return std::any_of(std::begin(kUnwalked), std::end(kUnwalked), [&](std::string_view top) { return under(path, top); });
}

std::string parent_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// Reads a regular file's content (at most `size` bytes, what its header said) into the
// record's digest and head. False when it is no regular file any more.
bool read_content(const Fd& entry, const struct stat& seen, std::size_t keep_bytes, FileRecord& record) {
  Fd file(::open(entry.proc_path().c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  struct stat now {};
  if (!file || ::fstat(file.get(), &now) != 0 || !S_ISREG(now.st_mode) || now.st_ino != seen.st_ino ||
      now.st_dev != seen.st_dev) {
    return false;
  }
  archive::Sha256 hash;
  std::vector<char> buffer(kChunkBytes);
  std::uint64_t left = static_cast<std::uint64_t>(seen.st_size);
  while (left > 0) {
    const ssize_t got = ::read(file.get(), buffer.data(), std::min<std::uint64_t>(left, buffer.size()));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    const std::string_view data(buffer.data(), static_cast<std::size_t>(got));
    hash.update(data);
    if (record.head.size() < keep_bytes) record.head.append(data.substr(0, keep_bytes - record.head.size()));
    left -= static_cast<std::uint64_t>(got);
  }
  record.sha256 = hash.hex_digest();
  return true;
}

}  // namespace

std::int64_t IdRange::inside(std::int64_t stored) const {
  if (count == 0) return stored;
  if (stored >= host_base && stored < host_base + count) return stored - host_base;
  return 65534;
}

Result<IdShift> parse_idmap(std::string_view text) {
  const nlohmann::json map = nlohmann::json::parse(text, nullptr, false);
  if (!map.is_array()) return make_error(ErrorCode::Invalid, "LXD's idmap is not a list: " + std::string(text));
  IdShift shift;
  for (const nlohmann::json& range : map) {
    if (!range.is_object() || !range.value("Hostid", nlohmann::json()).is_number_integer() ||
        !range.value("Maprange", nlohmann::json()).is_number_integer() ||
        range.value("Nsid", nlohmann::json()).get<std::int64_t>() != 0) {
      continue;  // breakfix maps one range from 0; any other is not its
    }
    const IdRange ids{range["Hostid"].get<std::int64_t>(), range["Maprange"].get<std::int64_t>()};
    if (range.value("Isuid", false)) shift.uids = ids;
    if (range.value("Isgid", false)) shift.gids = ids;
  }
  if (shift.uids.count == 0 || shift.gids.count == 0) {
    return make_error(ErrorCode::Invalid, "LXD's idmap maps no uids or no gids from 0: " + std::string(text));
  }
  return shift;
}

Result<bool> read_host_tree(const fs::path& root, const std::string& path, const IdShift& ids,
                            const TreeReadOptions& options, const WantFn& want, const VisitFn& visit) {
  Fd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) return make_error(ErrorCode::Failed, "cannot open " + root.string() + ": " + errno_text(errno));
  std::uint64_t bytes = 0;
  std::map<std::pair<dev_t, ino_t>, std::string> first_seen;  // files with more than one link
  std::map<std::string, std::pair<std::string, std::int64_t>> digests;  // what hard links take
  std::vector<std::string> pending = {relative_of(path)};
  bool first = true;
  bool complete = true;
  while (!pending.empty()) {
    const std::string relative = std::move(pending.back());
    pending.pop_back();
    Fd entry = open_in_root(root_fd.get(), relative, O_PATH);
    if (!entry) {
      if (first && (errno == ENOENT || errno == ENOTDIR)) return make_error(ErrorCode::NotFound, path + " not found");
      if (first) return make_error(ErrorCode::Failed, "cannot open " + path + ": " + errno_text(errno));
      continue;  // gone since its directory was listed, as from a tar made a moment earlier
    }
    first = false;
    struct stat seen {};
    if (::fstat(entry.get(), &seen) != 0) continue;
    if (bytes + kHeaderBytes > options.max_bytes) return false;
    bytes += kHeaderBytes;

    FileRecord record;
    record.path = absolute_of(relative);
    record.type = type_of(seen.st_mode);
    record.mode = seen.st_mode & 07777;
    record.uid = ids.uids.inside(seen.st_uid);
    record.gid = ids.gids.inside(seen.st_gid);
    if (record.type == FileType::Symlink) {
      std::vector<char> target(4096);
      const ssize_t got = ::readlinkat(entry.get(), "", target.data(), target.size());
      if (got > 0) record.link_target.assign(target.data(), static_cast<std::size_t>(got));
    } else {
      record.xattrs = xattrs_of(entry);
    }
    if (record.type != FileType::Directory && seen.st_nlink > 1) {
      auto [at, inserted] = first_seen.emplace(std::make_pair(seen.st_dev, seen.st_ino), record.path);
      if (!inserted) {
        record.type = FileType::HardLink;
        record.link_target = at->second;
      }
    }
    record.size = record.type == FileType::Regular ? seen.st_size : 0;
    const std::uint64_t content = record.type == FileType::Regular ? padded(seen.st_size) : 0;

    const ReadWant wanted = want(record);
    if (wanted == ReadWant::Header) {
      if (!visit(std::move(record))) return false;
    } else if (wanted == ReadWant::Hash || wanted == ReadWant::Keep) {
      if (record.type == FileType::HardLink) {
        if (auto found = digests.find(record.link_target); found != digests.end()) {
          std::tie(record.sha256, record.size) = found->second;
        }
      } else if (record.type == FileType::Regular) {
        if (bytes + content > options.max_bytes) {  // cut inside the content: no digest
          visit(std::move(record));
          return false;
        }
        const std::size_t keep = wanted == ReadWant::Keep ? options.keep_bytes : 0;
        if (read_content(entry, seen, keep, record)) digests[record.path] = {record.sha256, record.size};
      }
      if (!visit(std::move(record))) return false;
    }
    bytes += content;

    if (S_ISDIR(seen.st_mode)) {
      // A tar holds the directory's entries after it, each directory's before the next.
      const std::size_t room = (options.max_bytes - std::min(bytes, options.max_bytes)) / kHeaderBytes + 1;
      bool all = true;
      std::vector<std::string> names = names_in(entry, room, all);
      if (!all) complete = false;  // more names than max_bytes could ever reach
      for (auto name = names.rbegin(); name != names.rend(); ++name) pending.push_back(child_of(relative, *name));
    }
  }
  return complete;
}

namespace {

// Walks everything below `root` that the lab's state lives in: not into other file
// systems, not below kUnwalked. `visit` gets each entry's path (absolute, as in the lab)
// and lstat, as the walk finds them; nothing is held but the directories still to walk.
Status walk_rootfs(const fs::path& root, const std::function<void(const std::string&, const struct stat&)>& visit) {
  Fd root_fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) return make_error(ErrorCode::Failed, "cannot open " + root.string() + ": " + errno_text(errno));
  struct stat root_stat {};
  if (::fstat(root_fd.get(), &root_stat) != 0) return make_error(ErrorCode::Failed, "cannot stat " + root.string());
  std::vector<std::string> pending = {"."};
  while (!pending.empty()) {
    const std::string relative = std::move(pending.back());
    pending.pop_back();
    Fd directory = open_in_root(root_fd.get(), relative, O_RDONLY | O_DIRECTORY);
    if (!directory) continue;  // gone, or made a symlink, since it was listed
    DIR* stream = ::fdopendir(::dup(directory.get()));
    if (!stream) continue;
    while (const dirent* entry = ::readdir(stream)) {
      if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
      struct stat status {};
      if (::fstatat(directory.get(), entry->d_name, &status, AT_SYMLINK_NOFOLLOW) != 0) continue;
      const std::string child = child_of(relative, entry->d_name);
      const std::string path = absolute_of(child);
      visit(path, status);
      if (S_ISDIR(status.st_mode) && status.st_dev == root_stat.st_dev && !unwalked(path)) pending.push_back(child);
    }
    ::closedir(stream);
  }
  return {};
}

std::int64_t ctime_of(const struct stat& status) {
  return static_cast<std::int64_t>(status.st_ctim.tv_sec) * 1000000000 + status.st_ctim.tv_nsec;
}

}  // namespace

Status host_changes(const fs::path& root, const std::vector<std::string>& image_paths, std::int64_t since,
                    const std::function<void(const FsChange&)>& visit) {
  std::vector<bool> seen(image_paths.size(), false);
  auto index_of = [&](const std::string& path) -> std::ptrdiff_t {
    auto found = std::lower_bound(image_paths.begin(), image_paths.end(), path);
    return found != image_paths.end() && *found == path ? found - image_paths.begin() : -1;
  };
  // A change's directories are listed as Modified too (runtime.h), each once.
  std::set<std::string> reported_directories;
  auto report = [&](const std::string& path, FsChangeKind kind) {
    if (kind == FsChangeKind::Modified && !reported_directories.insert(path).second) return;
    visit({path, kind});
    for (std::string up = parent_of(path); up != "/"; up = parent_of(up)) {
      if (!reported_directories.insert(up).second) break;
      visit({up, FsChangeKind::Modified});
    }
  };
  Status walked = walk_rootfs(root, [&](const std::string& path, const struct stat& status) {
    const std::ptrdiff_t index = index_of(path);
    if (index >= 0) seen[static_cast<std::size_t>(index)] = true;
    if (index < 0) {
      report(path, FsChangeKind::Added);
    } else if (ctime_of(status) > since && !unwalked(path)) {
      report(path, FsChangeKind::Modified);
    }
  });
  if (!walked) return walked;
  // What the image held and the walk did not find: the top of each subtree that went.
  for (std::size_t i = 0; i < image_paths.size(); ++i) {
    const std::string& path = image_paths[i];
    if (seen[i] || path == "/" || unwalked(path)) continue;
    const std::string parent = parent_of(path);
    const std::ptrdiff_t parent_index = index_of(parent);
    if (parent != "/" && parent_index >= 0 && !seen[static_cast<std::size_t>(parent_index)]) continue;
    report(path, FsChangeKind::Deleted);
  }
  return {};
}

Result<std::uint64_t> host_written_bytes(const fs::path& root, std::int64_t since) {
  constexpr std::uint64_t kEntryBytes = 4096;  // what an inode costs the host at least
  std::uint64_t bytes = 0;
  std::set<std::pair<dev_t, ino_t>> counted;  // a file with more links counts once
  Status walked = walk_rootfs(root, [&](const std::string&, const struct stat& entry) {
    if (ctime_of(entry) <= since) return;
    if (entry.st_nlink > 1 && !S_ISDIR(entry.st_mode) && !counted.emplace(entry.st_dev, entry.st_ino).second) return;
    bytes += std::max<std::uint64_t>(static_cast<std::uint64_t>(entry.st_blocks) * 512, kEntryBytes);
  });
  if (!walked) return walked.error();
  return bytes;
}

}  // namespace breakfix::lxd
