#include "lxd_image.h"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <ctime>
#include <memory>
#include <system_error>

namespace breakfix::lxd {
namespace {

namespace fs = std::filesystem;

struct ReadFree {
  void operator()(archive* handle) const { archive_read_free(handle); }
};
struct WriteFree {
  void operator()(archive* handle) const { archive_write_free(handle); }
};
using Reader = std::unique_ptr<archive, ReadFree>;
using Writer = std::unique_ptr<archive, WriteFree>;

Error archive_failure(archive* handle, const std::string& what) {
  const char* message = archive_error_string(handle);
  return make_error(ErrorCode::Failed, what + ": " + (message ? message : "libarchive failed"));
}

// "./bin/bash" or "bin/bash" -> "bin/bash"; "./" or "." -> "".
std::string relative(std::string path) {
  if (path.rfind("./", 0) == 0) path.erase(0, 2);
  if (path == ".") path.clear();
  return path;
}

// Copies the current entry's data from `in` to a tar being written (which takes data
// in order, without offsets).
bool copy_to_tar(archive* in, archive* out) {
  char buffer[64 * 1024];
  for (;;) {
    const la_ssize_t got = archive_read_data(in, buffer, sizeof buffer);
    if (got == 0) return true;
    if (got < 0) return false;
    if (archive_write_data(out, buffer, static_cast<size_t>(got)) != got) return false;
  }
}

// Copies the current entry's data from `in` to disk (sparse files keep their holes).
bool copy_to_disk(archive* in, archive* out) {
  const void* block;
  size_t size;
  la_int64_t offset;
  for (;;) {
    const int status = archive_read_data_block(in, &block, &size, &offset);
    if (status == ARCHIVE_EOF) return true;
    if (status != ARCHIVE_OK) return false;
    if (archive_write_data_block(out, block, size, offset) != ARCHIVE_OK) return false;
  }
}

std::string yaml_quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}


// Copies every entry of `in` whose name `rename` maps (nullopt: left out) into `out`,
// hard links renamed alike. `in_name`, `out_name`: the files, for errors.
Status copy_entries(archive* in, const fs::path& in_name, archive* out, const fs::path& out_name,
                    const std::function<std::optional<std::string>(const std::string&)>& rename,
                    int* copied = nullptr) {
  archive_entry* entry;
  int status;
  // A warning still gives the entry (a name not valid in the locale, read as bytes).
  while ((status = archive_read_next_header(in, &entry)) == ARCHIVE_OK || status == ARCHIVE_WARN) {
    const std::string path = relative(archive_entry_pathname(entry));
    const auto renamed = rename(path);
    if (!renamed || renamed->empty()) continue;
    archive_entry_set_pathname(entry, renamed->c_str());
    if (const char* link = archive_entry_hardlink(entry)) {
      const auto target = rename(relative(link));
      if (!target) continue;  // a link to what is left out
      archive_entry_set_hardlink(entry, target->c_str());
    }
    // A warning still writes the entry (a name not valid in the locale, kept as bytes).
    if (archive_write_header(out, entry) < ARCHIVE_WARN) {
      return archive_failure(out, "cannot write " + path + " to " + out_name.string());
    }
    if (archive_entry_size(entry) > 0 && !copy_to_tar(in, out)) {
      return make_error(ErrorCode::Failed, "cannot copy " + path + " from " + in_name.string() + " to " +
                                               out_name.string());
    }
    if (copied) ++*copied;
  }
  if (status != ARCHIVE_EOF) return archive_failure(in, "cannot read " + in_name.string());
  return {};
}

Status close_and_rename(archive* writer, const fs::path& partial, const fs::path& out) {
  if (archive_write_close(writer) != ARCHIVE_OK) return archive_failure(writer, "cannot write " + partial.string());
  std::error_code ec;
  fs::rename(partial, out, ec);
  if (ec) return make_error(ErrorCode::Failed, "cannot rename " + partial.string() + ": " + ec.message());
  return {};
}

}  // namespace

Status make_unified_image(const fs::path& rootfs_tar, const fs::path& out, const Labels& properties) {
  Reader in(archive_read_new());
  archive_read_support_format_tar(in.get());
  archive_read_support_filter_all(in.get());
  if (archive_read_open_filename(in.get(), rootfs_tar.c_str(), 1 << 16) != ARCHIVE_OK) {
    return archive_failure(in.get(), "cannot read " + rootfs_tar.string());
  }
  Writer writer(archive_write_new());
  archive_write_set_format_pax_restricted(writer.get());
  // Names go in as the bytes they are, whatever this process's locale (as tar_archive.cpp).
  archive_write_set_options(writer.get(), "hdrcharset=BINARY");
  const fs::path partial = out.string() + ".partial";
  if (archive_write_open_filename(writer.get(), partial.c_str()) != ARCHIVE_OK) {
    return archive_failure(writer.get(), "cannot write " + partial.string());
  }
  std::string metadata = "architecture: x86_64\ncreation_date: " + std::to_string(std::time(nullptr)) +
                         "\nproperties:\n";
  for (const auto& [key, value] : properties) metadata += "  " + yaml_quoted(key) + ": " + yaml_quoted(value) + "\n";
  {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(entry.get(), "metadata.yaml");
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0644);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(metadata.size()));
    archive_entry_set_mtime(entry.get(), std::time(nullptr), 0);
    if (archive_write_header(writer.get(), entry.get()) != ARCHIVE_OK ||
        archive_write_data(writer.get(), metadata.data(), metadata.size()) < 0) {
      return archive_failure(writer.get(), "cannot write " + partial.string());
    }
  }
  const auto under_rootfs = [](const std::string& path) { return std::optional<std::string>("rootfs/" + path); };
  if (Status copied = copy_entries(in.get(), rootfs_tar, writer.get(), partial, under_rootfs); !copied) return copied;
  return close_and_rename(writer.get(), partial, out);
}

namespace {

// LXD's store of an image: split images keep the root file system in <fingerprint>.rootfs
// without a prefix, unified ones under rootfs/ in <fingerprint>.
std::pair<fs::path, std::string> stored_rootfs(const fs::path& image_dir, const std::string& fingerprint) {
  std::error_code ec;
  fs::path split = image_dir / (fingerprint + ".rootfs");
  if (fs::exists(split, ec)) return {split, ""};
  return {image_dir / fingerprint, "rootfs/"};
}

// A reader of LXD's store of an image (any tar, any compression).
Result<Reader> open_stored(const fs::path& file) {
  Reader in(archive_read_new());
  archive_read_support_format_tar(in.get());
  archive_read_support_filter_all(in.get());
  if (archive_read_open_filename(in.get(), file.c_str(), 1 << 16) != ARCHIVE_OK) {
    return archive_failure(in.get(), "cannot read LXD's image " + file.string());
  }
  return in;
}

}  // namespace

Result<std::vector<std::string>> image_paths(const fs::path& image_dir, const std::string& fingerprint) {
  const auto [source, prefix] = stored_rootfs(image_dir, fingerprint);
  auto opened = open_stored(source);
  if (!opened) return opened.error();
  Reader in = std::move(*opened);
  std::vector<std::string> paths;
  archive_entry* entry;
  int status;
  // The next header skips the entry's data without reading it.
  while ((status = archive_read_next_header(in.get(), &entry)) == ARCHIVE_OK) {
    std::string path = relative(archive_entry_pathname(entry));
    if (path.rfind(prefix, 0) != 0) continue;  // metadata.yaml, templates/
    path = relative(path.substr(prefix.size()));
    while (!path.empty() && path.back() == '/') path.pop_back();
    paths.push_back("/" + path);
  }
  if (status != ARCHIVE_EOF) return archive_failure(in.get(), "cannot read LXD's image " + source.string());
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  return paths;
}

Status extract_image_subtree(const fs::path& image_dir, const std::string& fingerprint, const std::string& subtree,
                             const fs::path& dest) {
  const auto [source, prefix] = stored_rootfs(image_dir, fingerprint);
  std::error_code ec;
  std::string wanted = relative(subtree.empty() || subtree[0] != '/' ? subtree : "." + subtree);
  if (!wanted.empty() && wanted.back() != '/') wanted += '/';
  wanted = prefix + wanted;

  auto opened = open_stored(source);
  if (!opened) return opened.error();
  Reader in = std::move(*opened);
  const fs::path partial = dest.string() + ".partial-" + std::to_string(::getpid());
  fs::remove_all(partial, ec);
  fs::create_directories(partial, ec);
  if (ec) return make_error(ErrorCode::Failed, "cannot make " + partial.string() + ": " + ec.message());
  Writer disk(archive_write_disk_new());
  // Entries are written to absolute paths under `partial` (built below from names that
  // are checked to be relative); ".." and symlinks on the way are refused by libarchive.
  archive_write_disk_set_options(disk.get(), ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                 ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  archive_entry* entry;
  int status;
  std::size_t extracted = 0;
  while ((status = archive_read_next_header(in.get(), &entry)) == ARCHIVE_OK) {
    std::string path = archive_entry_pathname(entry);
    if (path.rfind("./", 0) == 0) path.erase(0, 2);
    if (path.rfind(wanted, 0) != 0) continue;
    const std::string inside = path.substr(wanted.size());
    if (inside.empty()) continue;
    if (inside[0] == '/') return make_error(ErrorCode::Invalid, "LXD's image " + fingerprint + " holds " + path);
    archive_entry_set_pathname(entry, (partial / inside).c_str());
    archive_entry_set_uid(entry, 0);  // the volume is the host's, read-only for the lab
    archive_entry_set_gid(entry, 0);
    if (const char* link = archive_entry_hardlink(entry)) {
      std::string target = link;
      if (target.rfind("./", 0) == 0) target.erase(0, 2);
      if (target.rfind(wanted, 0) != 0 || target.size() == wanted.size() || target[wanted.size()] == '/') continue;
      archive_entry_set_hardlink(entry, (partial / target.substr(wanted.size())).c_str());
    }
    if (archive_write_header(disk.get(), entry) != ARCHIVE_OK) {
      return archive_failure(disk.get(), "cannot extract " + path + " to " + partial.string());
    }
    if (archive_entry_size(entry) > 0 && !copy_to_disk(in.get(), disk.get())) {
      return archive_failure(disk.get(), "cannot extract " + path);
    }
    ++extracted;
  }
  if (status != ARCHIVE_EOF) return archive_failure(in.get(), "cannot read LXD's image " + source.string());
  if (archive_write_close(disk.get()) != ARCHIVE_OK) return archive_failure(disk.get(), "cannot extract to " + partial.string());
  if (extracted == 0) {
    fs::remove_all(partial, ec);
    return make_error(ErrorCode::NotFound, "LXD's image " + fingerprint + " holds nothing under " + subtree);
  }
  fs::rename(partial, dest, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove_all(partial, ignored);
    // Another filler got there first: its copy is as good.
    if (fs::exists(dest, ignored)) return {};
    return make_error(ErrorCode::Failed, "cannot rename " + partial.string() + ": " + ec.message());
  }
  return {};
}

Status rootfs_tar_of_image(const fs::path& image_dir, const std::string& fingerprint, const fs::path& out) {
  const auto [stored, prefix] = stored_rootfs(image_dir, fingerprint);
  auto opened = open_stored(stored);
  if (!opened) return opened.error();
  Reader in = std::move(*opened);
  const fs::path partial = out.string() + ".partial";
  Writer writer(archive_write_new());
  archive_write_set_format_pax_restricted(writer.get());
  archive_write_set_options(writer.get(), "hdrcharset=BINARY");
  if (archive_write_open_filename(writer.get(), partial.c_str()) != ARCHIVE_OK) {
    return archive_failure(writer.get(), "cannot write " + partial.string());
  }
  // Only the root file system, moved to the top: metadata.yaml and templates stay.
  const auto out_of_rootfs = [prefix = prefix](const std::string& path) -> std::optional<std::string> {
    if (path.rfind(prefix, 0) != 0) return std::nullopt;
    return path.substr(prefix.size());
  };
  int copied = 0;
  if (Status status = copy_entries(in.get(), stored, writer.get(), partial, out_of_rootfs, &copied); !status) {
    return status;
  }
  // An image of another layout would give Docker an empty base, kept for good.
  if (copied < 10) {
    return make_error(ErrorCode::Failed, "LXD's image " + stored.string() + " holds no root file system that "
                                             "breakfix can read (" + std::to_string(copied) + " entries)");
  }
  return close_and_rename(writer.get(), partial, out);
}

}  // namespace breakfix::lxd
