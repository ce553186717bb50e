#include "tar_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

namespace breakfix::archive {
namespace {

namespace fs = std::filesystem;

// The C library's handle; inside this namespace a bare `archive` names the namespace.
using Archive = ::archive;

struct WriterFree {
  void operator()(Archive* handle) const { archive_write_free(handle); }
};
struct ReaderFree {
  void operator()(Archive* handle) const { archive_read_free(handle); }
};
struct EntryFree {
  void operator()(archive_entry* entry) const { archive_entry_free(entry); }
};
struct ResolverFree {
  void operator()(archive_entry_linkresolver* resolver) const { archive_entry_linkresolver_free(resolver); }
};
using Writer = std::unique_ptr<Archive, WriterFree>;
using Reader = std::unique_ptr<Archive, ReaderFree>;
using Entry = std::unique_ptr<archive_entry, EntryFree>;
using Resolver = std::unique_ptr<archive_entry_linkresolver, ResolverFree>;

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

constexpr std::size_t kChunkBytes = 64 * 1024;
constexpr std::uint64_t kProgressEveryEntries = 2000;

std::string errno_text(int error) { return std::generic_category().message(error); }

std::string library_error(Archive* handle) {
  const char* text = archive_error_string(handle);
  return text ? text : "unknown libarchive error";
}

ssize_t read_some(int fd, char* buffer, std::size_t size) {
  for (;;) {
    const ssize_t got = ::read(fd, buffer, size);
    if (got >= 0 || errno != EINTR) return got;
  }
}

// Follows a symlink named as the directory itself: callers may well pass one.
Status check_directory(const fs::path& dir, const std::string& what) {
  std::error_code error;
  const fs::file_status status = fs::status(dir, error);
  if (status.type() == fs::file_type::not_found) {
    return make_error(ErrorCode::NotFound, what + " " + dir.string() + " does not exist");
  }
  if (error) return make_error(ErrorCode::Invalid, "cannot read " + what + " " + dir.string() + ": " + error.message());
  if (status.type() != fs::file_type::directory) {
    return make_error(ErrorCode::Invalid, what + " " + dir.string() + " is not a directory");
  }
  return {};
}

// ---- build contexts ----

// Appends every path below `dir`/`relative` to `names`, '/'-separated and relative to
// `dir`. Symlinks to directories are names like any other, never entered.
Status list_tree(const fs::path& dir, const std::string& relative, std::vector<std::string>& names) {
  const fs::path here = relative.empty() ? dir : dir / relative;
  std::error_code error;
  for (fs::directory_iterator it(here, error); !error && it != fs::directory_iterator(); it.increment(error)) {
    const std::string leaf = it->path().filename().string();
    std::string name = relative.empty() ? leaf : relative + "/" + leaf;
    const bool is_directory = it->symlink_status(error).type() == fs::file_type::directory;
    if (error) break;
    names.push_back(name);
    if (is_directory) {
      if (Status status = list_tree(dir, name, names); !status) return status;
    }
  }
  if (error) return make_error(ErrorCode::Invalid, "cannot read directory " + here.string() + ": " + error.message());
  return {};
}

// The archive grows in memory and refuses to pass the limit, so an oversized context
// is turned away after one block more than the limit, not after reading all of it.
struct MemorySink {
  std::string bytes;
  std::size_t limit = 0;
  bool over_limit = false;
};

la_ssize_t append_to_sink(Archive* handle, void* client, const void* buffer, std::size_t size) {
  auto& sink = *static_cast<MemorySink*>(client);
  if (size > sink.limit - sink.bytes.size()) {
    sink.over_limit = true;
    archive_set_error(handle, EFBIG, "the archive exceeds its size limit");
    return -1;
  }
  try {
    sink.bytes.append(static_cast<const char*>(buffer), size);
  } catch (const std::exception&) {  // an exception must not unwind through libarchive's C frames
    archive_set_error(handle, ENOMEM, "out of memory");
    return -1;
  }
  return static_cast<la_ssize_t>(size);
}

const char* file_kind(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFIFO: return "fifo";
    case S_IFSOCK: return "socket";
    case S_IFCHR: return "character device";
    case S_IFBLK: return "block device";
    default: return "file of unknown type";
  }
}

// Copies exactly `size` bytes: a file that changed while being read would otherwise
// leave a header that disagrees with its data.
Status copy_file_data(const fs::path& file, off_t size, Archive* out) {
  FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return make_error(ErrorCode::Failed, "cannot open " + file.string() + ": " + errno_text(errno));
  std::vector<char> buffer(kChunkBytes);
  for (off_t left = size; left > 0;) {
    const ssize_t got = read_some(fd.get(), buffer.data(), static_cast<std::size_t>(std::min<off_t>(left, kChunkBytes)));
    if (got < 0) return make_error(ErrorCode::Failed, "cannot read " + file.string() + ": " + errno_text(errno));
    if (got == 0) return make_error(ErrorCode::Failed, file.string() + " shrank while it was being archived");
    if (archive_write_data(out, buffer.data(), static_cast<std::size_t>(got)) != got) {
      return make_error(ErrorCode::Failed, "archiving " + file.string() + ": " + library_error(out));
    }
    left -= got;
  }
  return {};
}

// Only content goes into the entry: times, owners and owner names differ between two
// checkouts of the same tree and would change the image's content hash.
Status add_context_entry(const fs::path& dir, const std::string& name, archive_entry* entry, Archive* out) {
  const fs::path file = dir / name;
  struct stat info {};
  if (::lstat(file.c_str(), &info) != 0) {
    return make_error(ErrorCode::Failed, "cannot stat " + file.string() + ": " + errno_text(errno));
  }
  archive_entry_clear(entry);
  archive_entry_copy_pathname(entry, name.c_str());
  archive_entry_set_perm(entry, info.st_mode & 07777);
  archive_entry_set_mtime(entry, 0, 0);
  archive_entry_set_uid(entry, 0);
  archive_entry_set_gid(entry, 0);
  switch (info.st_mode & S_IFMT) {
    case S_IFREG:
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_size(entry, info.st_size);
      break;
    case S_IFDIR: archive_entry_set_filetype(entry, AE_IFDIR); break;
    case S_IFLNK: {
      std::error_code error;
      const fs::path target = fs::read_symlink(file, error);
      if (error) return make_error(ErrorCode::Failed, "cannot read symlink " + file.string() + ": " + error.message());
      archive_entry_set_filetype(entry, AE_IFLNK);
      archive_entry_copy_symlink(entry, target.c_str());
      break;
    }
    default:
      return make_error(ErrorCode::Invalid, "build context " + dir.string() + " holds " + name + ", a " +
                                                file_kind(info.st_mode) +
                                                ": only regular files, directories and symlinks can be sent");
  }
  if (archive_write_header(out, entry) < ARCHIVE_WARN) {
    return make_error(ErrorCode::Failed, "archiving " + file.string() + ": " + library_error(out));
  }
  if (S_ISREG(info.st_mode) && info.st_size > 0) return copy_file_data(file, info.st_size, out);
  return {};
}

Status write_context(const fs::path& dir, const std::vector<std::string>& names, Archive* out) {
  Entry entry(archive_entry_new());
  if (!entry) return make_error(ErrorCode::Internal, "out of memory");
  for (const std::string& name : names) {
    if (Status status = add_context_entry(dir, name, entry.get(), out); !status) return status;
  }
  if (archive_write_close(out) != ARCHIVE_OK) {
    return make_error(ErrorCode::Failed, "archiving " + dir.string() + ": " + library_error(out));
  }
  return {};
}

// ---- root file systems ----

// Maps a path as libarchive reports it ("<root>/bin/bash") to its name in the image
// ("./bin/bash"); `root` has no trailing '/'.
std::optional<std::string> name_in_image(std::string_view root, std::string_view path) {
  if (!path.starts_with(root)) return std::nullopt;
  path.remove_prefix(root.size());
  if (!path.empty() && path.front() != '/') return std::nullopt;  // a sibling: "<root>2/..."
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return path.empty() ? std::string(".") : "./" + std::string(path);
}

struct PackCount {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};

void report(const std::function<void(std::string_view)>& progress, const PackCount& count) {
  if (!progress) return;
  progress("packed " + std::to_string(count.entries) + " files (" + std::to_string(count.bytes >> 20) + " MiB)");
}

Status open_disk(Archive* disk, const std::string& root) {
  // Physical: a symlink is archived as a symlink. Following one (to "/", say) would
  // pack the host.
  archive_read_disk_set_symlink_physical(disk);
  // No user or group name lookup is installed, on purpose: names would come from this
  // host's /etc/passwd, not the image's; the numeric ids are what the image needs.
  // Mounts below root (a /proc or /dev bound for debootstrap) are not the image's.
  // Sparse files are stored whole, the one form every tar reader extracts alike; a
  // fresh root file system has next to none.
  // Extended attributes, ACLs and file flags are read: that is libarchive's default.
  if (archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS | ARCHIVE_READDISK_NO_SPARSE) !=
          ARCHIVE_OK ||
      archive_read_disk_open(disk, root.c_str()) != ARCHIVE_OK) {
    return make_error(ErrorCode::Failed, "cannot read " + root + ": " + library_error(disk));
  }
  return {};
}

Status open_tar_file(Archive* out, const fs::path& file) {
  if (archive_write_set_format_pax(out) != ARCHIVE_OK || archive_write_open_filename(out, file.c_str()) != ARCHIVE_OK) {
    return make_error(ErrorCode::Failed, "cannot write " + file.string() + ": " + library_error(out));
  }
  return {};
}

Status copy_disk_data(Archive* disk, Archive* out, const std::string& name, la_int64_t size) {
  la_int64_t copied = 0;
  for (;;) {
    const void* block = nullptr;
    std::size_t length = 0;
    la_int64_t offset = 0;
    const int status = archive_read_data_block(disk, &block, &length, &offset);
    if (status == ARCHIVE_EOF) break;
    if (status != ARCHIVE_OK) return make_error(ErrorCode::Failed, "reading " + name + ": " + library_error(disk));
    // ARCHIVE_READDISK_NO_SPARSE promises contiguous blocks; a gap would shift the data.
    if (offset != copied) return make_error(ErrorCode::Internal, "reading " + name + ": unexpected hole");
    if (archive_write_data(out, block, length) < 0) {
      return make_error(ErrorCode::Failed, "writing " + name + ": " + library_error(out));
    }
    copied += static_cast<la_int64_t>(length);
  }
  if (copied != size) return make_error(ErrorCode::Failed, name + " changed size while it was being packed");
  return {};
}

Status pack_entry(Archive* disk, Archive* out, archive_entry_linkresolver* links, archive_entry* entry,
                  const std::string& root, PackCount& count) {
  const char* source = archive_entry_pathname(entry);
  const std::optional<std::string> name = name_in_image(root, source ? source : "");
  if (!name) return make_error(ErrorCode::Internal, std::string("libarchive found ") + (source ? source : "?") + " outside " + root);
  archive_entry_copy_pathname(entry, name->c_str());
  // The tar strategy hands the entry straight back: a later name of an inode already
  // seen becomes a hard link to the first, with no data.
  archive_entry* to_write = entry;
  archive_entry* deferred = nullptr;
  archive_entry_linkify(links, &to_write, &deferred);
  if (to_write != entry || deferred != nullptr) {
    return make_error(ErrorCode::Internal, "libarchive's link resolver deferred " + *name);
  }
  // A warning still writes the entry: it means a name was not valid in the locale and
  // went in as raw bytes (hdrcharset=BINARY), which extract to the same name.
  if (archive_write_header(out, entry) < ARCHIVE_WARN) {
    return make_error(ErrorCode::Failed, "packing " + *name + ": " + library_error(out));
  }
  const la_int64_t size = archive_entry_size(entry);
  if (size <= 0) return {};
  count.bytes += static_cast<std::uint64_t>(size);
  return copy_disk_data(disk, out, *name, size);
}

Status pack_root(const fs::path& root, const fs::path& tar_file, const std::function<void(std::string_view)>& progress) {
  std::string root_text = root.lexically_normal().string();
  while (!root_text.empty() && root_text.back() == '/') root_text.pop_back();
  Reader disk(archive_read_disk_new());
  Writer out(archive_write_new());
  Entry entry(archive_entry_new());
  Resolver links(archive_entry_linkresolver_new());
  if (!disk || !out || !entry || !links) return make_error(ErrorCode::Internal, "out of memory");
  if (Status status = open_disk(disk.get(), root_text.empty() ? "/" : root_text); !status) return status;
  if (Status status = open_tar_file(out.get(), tar_file); !status) return status;
  archive_entry_linkresolver_set_strategy(links.get(), archive_format(out.get()));

  PackCount count;
  for (;;) {
    const int status = archive_read_next_header2(disk.get(), entry.get());
    if (status == ARCHIVE_EOF) break;
    // Warnings fail too: they mean something (extended attributes, ACLs) was not read,
    // and the image would silently lack it.
    if (status != ARCHIVE_OK) {
      return make_error(ErrorCode::Failed, "packing " + root.string() + ": " + library_error(disk.get()));
    }
    if (archive_read_disk_descend(disk.get()) != ARCHIVE_OK) {
      return make_error(ErrorCode::Failed, "packing " + root.string() + ": " + library_error(disk.get()));
    }
    // A socket is only ever left by a process that ran in the tree; tar cannot hold one.
    if (archive_entry_filetype(entry.get()) == AE_IFSOCK) continue;
    if (Status packed = pack_entry(disk.get(), out.get(), links.get(), entry.get(), root_text, count); !packed) {
      return packed;
    }
    if (++count.entries % kProgressEveryEntries == 0) report(progress, count);
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK) {
    return make_error(ErrorCode::Failed, "writing " + tar_file.string() + ": " + library_error(out.get()));
  }
  report(progress, count);
  return {};
}

// A tar written inside the tree it packs would contain a part of itself.
Status check_outside(const fs::path& root, const fs::path& out_file) {
  std::error_code error;
  const fs::path real_root = fs::canonical(root, error);
  if (error) return make_error(ErrorCode::Invalid, "cannot resolve " + root.string() + ": " + error.message());
  const fs::path real_out = fs::weakly_canonical(out_file, error);
  if (error) return make_error(ErrorCode::Invalid, "cannot resolve " + out_file.string() + ": " + error.message());
  const fs::path relative = real_out.lexically_relative(real_root);
  if (!relative.empty() && *relative.begin() != "..") {
    return make_error(ErrorCode::Invalid, "the tar " + out_file.string() + " would lie inside the tree it packs, " +
                                              root.string());
  }
  return {};
}

// ---- digests ----

}  // namespace

Result<std::string> tar_directory(const fs::path& dir, std::size_t max_bytes) {
  if (Status status = check_directory(dir, "build context"); !status) return status.error();
  std::vector<std::string> names;
  if (Status status = list_tree(dir, "", names); !status) return status.error();
  // Byte order, not the listing's (which follows the file system's hash order).
  std::sort(names.begin(), names.end());

  MemorySink sink;
  sink.limit = max_bytes;
  Writer out(archive_write_new());
  if (!out) return make_error(ErrorCode::Internal, "out of memory");
  if (archive_write_set_format_pax_restricted(out.get()) != ARCHIVE_OK ||
      archive_write_open(out.get(), &sink, nullptr, append_to_sink, nullptr) != ARCHIVE_OK) {
    return make_error(ErrorCode::Internal, "cannot start a tar: " + library_error(out.get()));
  }
  if (Status status = write_context(dir, names, out.get()); !status) {
    if (!sink.over_limit) return status.error();
    return make_error(ErrorCode::Invalid, "build context " + dir.string() + " is larger than the limit of " +
                                              std::to_string(max_bytes) + " bytes");
  }
  return std::move(sink.bytes);
}

Status tar_root_filesystem(const fs::path& root, const fs::path& out_file,
                           const std::function<void(std::string_view)>& progress) {
  if (Status status = check_directory(root, "root file system"); !status) return status;
  if (Status status = check_outside(root, out_file); !status) return status;
  fs::path partial = out_file;
  partial += ".partial";
  Status status = pack_root(root, partial, progress);
  std::error_code error;
  if (status) {
    fs::rename(partial, out_file, error);
    if (error) status = make_error(ErrorCode::Failed, "cannot rename " + partial.string() + ": " + error.message());
  }
  if (!status) fs::remove(partial, error);
  return status;
}

Result<std::string> sha256_file_hex(const fs::path& file) {
  FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int error = errno;
    return make_error(error == ENOENT ? ErrorCode::NotFound : ErrorCode::Failed,
                      "cannot open " + file.string() + ": " + errno_text(error));
  }
  Sha256 hash;
  std::vector<char> buffer(kChunkBytes);
  for (;;) {
    const ssize_t got = read_some(fd.get(), buffer.data(), buffer.size());
    if (got < 0) return make_error(ErrorCode::Failed, "cannot read " + file.string() + ": " + errno_text(errno));
    if (got == 0) break;
    hash.update(std::string_view(buffer.data(), static_cast<std::size_t>(got)));
  }
  return hash.hex_digest();
}

namespace {

// Where libarchive's reads come from: the caller's pull, cut at max_bytes.
struct PullSource {
  const PullFn* pull = nullptr;
  std::uint64_t max_bytes = 0;
  std::uint64_t read = 0;
  bool cut = false;
  std::optional<Error> error;
};

la_ssize_t pull_some(Archive* handle, void* data, const void** buffer) {
  auto* source = static_cast<PullSource*>(data);
  if (source->read >= source->max_bytes) {
    source->cut = true;
    return 0;  // libarchive then reports a truncated archive, which read_tar_stream knows to expect
  }
  auto piece = (*source->pull)();
  if (!piece) {
    source->error = piece.error();
    archive_set_error(handle, EIO, "%s", piece.error().message.c_str());
    return ARCHIVE_FATAL;
  }
  const std::size_t size = static_cast<std::size_t>(std::min<std::uint64_t>(piece->size(), source->max_bytes - source->read));
  source->read += size;
  *buffer = piece->data();
  return static_cast<la_ssize_t>(size);
}

// "nginx/sites-enabled/" under "/etc" is "/etc/nginx/sites-enabled".
std::string absolute_entry_path(const std::string& base_dir, std::string name) {
  while (name.rfind("./", 0) == 0) name.erase(0, 2);
  while (!name.empty() && name.back() == '/') name.pop_back();
  if (name.empty() || name == ".") return base_dir;
  return base_dir == "/" ? "/" + name : base_dir + "/" + name;
}

std::string xattr_text(archive_entry* entry) {
  // By name: a pax header may carry an attribute twice (as LIBARCHIVE.xattr and SCHILY.xattr).
  std::map<std::string, std::string> items;
  archive_entry_xattr_reset(entry);
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
    items[name] = to_hex(static_cast<const unsigned char*>(value), size);
  }
  std::string text;
  for (const auto& [item, hex] : items) text += item + "=" + hex + "\n";
  return text;
}

FileRecord record_of(archive_entry* entry, const std::string& base_dir) {
  FileRecord record;
  record.path = absolute_entry_path(base_dir, archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "");
  switch (archive_entry_filetype(entry)) {
    case AE_IFREG: record.type = FileType::Regular; break;
    case AE_IFDIR: record.type = FileType::Directory; break;
    case AE_IFLNK: record.type = FileType::Symlink; break;
    default: record.type = FileType::Other; break;
  }
  if (const char* linked = archive_entry_hardlink(entry)) {
    record.type = FileType::HardLink;
    record.link_target = absolute_entry_path(base_dir, linked);
  } else if (const char* target = archive_entry_symlink(entry)) {
    record.link_target = target;
  }
  record.mode = static_cast<std::uint32_t>(archive_entry_perm(entry)) & 07777;
  record.uid = archive_entry_uid(entry);
  record.gid = archive_entry_gid(entry);
  record.size = record.type == FileType::Regular ? archive_entry_size(entry) : 0;
  record.xattrs = xattr_text(entry);
  return record;
}

}  // namespace

Result<bool> read_tar_stream(const PullFn& pull, const std::string& base_dir, const TreeReadOptions& options,
                             const WantFn& want, const VisitFn& visit) {
  PullSource source;
  source.pull = &pull;
  source.max_bytes = options.max_bytes;
  Reader reader(archive_read_new());
  if (!reader || archive_read_support_format_tar(reader.get()) != ARCHIVE_OK ||
      archive_read_open(reader.get(), &source, nullptr, pull_some, nullptr) != ARCHIVE_OK) {
    if (source.error) return *source.error;
    if (source.cut) return false;
    return make_error(ErrorCode::Internal, "reading the engine's archive: " + library_error(reader.get()));
  }
  // A tar stops, rather than fails, where max_bytes cut it.
  auto stopped = [&](Archive* handle) -> Result<bool> {
    if (source.error) return *source.error;
    if (source.cut) return false;
    return make_error(ErrorCode::Internal, "the engine's archive is not a tar: " + library_error(handle));
  };
  // Hard links carry no content of their own: they take the digest of the file they name.
  std::map<std::string, std::pair<std::string, std::int64_t>> digests;
  std::vector<char> buffer(kChunkBytes);
  for (;;) {
    archive_entry* entry = nullptr;
    const int status = archive_read_next_header(reader.get(), &entry);
    if (status == ARCHIVE_EOF) return !source.cut;
    if (status < ARCHIVE_WARN) return stopped(reader.get());
    FileRecord record = record_of(entry, base_dir);
    const ReadWant wanted = want(record);
    if (wanted == ReadWant::Skip) continue;  // the next header reads past its content
    if (wanted == ReadWant::Header) {
      record.size = record.type == FileType::Regular ? record.size : 0;
      if (!visit(std::move(record))) return false;  // a 10 GB file is not read past for nothing
      continue;
    }
    if (record.type == FileType::HardLink) {
      if (auto found = digests.find(record.link_target); found != digests.end()) {
        std::tie(record.sha256, record.size) = found->second;
      }
    } else if (record.type == FileType::Regular) {
      Sha256 hash;
      bool whole = true;
      for (;;) {
        const la_ssize_t got = archive_read_data(reader.get(), buffer.data(), buffer.size());
        if (got == 0) break;
        if (got < 0) {
          whole = false;
          break;
        }
        const std::string_view data(buffer.data(), static_cast<std::size_t>(got));
        hash.update(data);
        if (wanted == ReadWant::Keep && record.head.size() < options.keep_bytes) {
          record.head.append(data.substr(0, options.keep_bytes - record.head.size()));
        }
      }
      if (whole) {
        record.sha256 = hash.hex_digest();
        digests[record.path] = {record.sha256, record.size};
      } else {
        visit(std::move(record));
        return stopped(reader.get());
      }
    }
    if (!visit(std::move(record))) return false;
  }
}

}  // namespace breakfix::archive
