#include "fs_changes.h"

#include <nlohmann/json.hpp>

namespace breakfix {

const char* to_string(FsChangeKind kind) {
  switch (kind) {
    case FsChangeKind::Modified: return "modified";
    case FsChangeKind::Added: return "added";
    case FsChangeKind::Deleted: return "deleted";
  }
  return "modified";
}

const char* to_string(FileType type) {
  switch (type) {
    case FileType::Regular: return "file";
    case FileType::Directory: return "directory";
    case FileType::Symlink: return "symlink";
    case FileType::HardLink: return "hard link";
    case FileType::Other: return "other";
  }
  return "other";
}

namespace docker {
namespace {

// PATH_MAX bytes, each escaped as \uXXXX at worst, and the keys around them.
constexpr std::size_t kMaxObjectBytes = 4096 * 6 + 256;

}  // namespace

Status ChangesParser::feed(std::string_view piece) {
  for (const char c : piece) {
    if (!in_object_) {
      if (c == '{') {
        in_object_ = true;
        object_ = "{";
      }
      continue;
    }
    object_ += c;
    if (object_.size() > kMaxObjectBytes) {
      return make_error(ErrorCode::Internal, "the engine's list of changes has an entry longer than any path");
    }
    if (in_string_) {
      if (escaped_) escaped_ = false;
      else if (c == '\\') escaped_ = true;
      else if (c == '"') in_string_ = false;
      continue;
    }
    if (c == '"') {
      in_string_ = true;
      continue;
    }
    if (c != '}') continue;  // the engine's objects are flat: the first '}' outside a string ends one
    in_object_ = false;
    const nlohmann::json entry = nlohmann::json::parse(object_, nullptr, /*allow_exceptions=*/false);
    if (!entry.is_object() || !entry.contains("Path") || !entry["Path"].is_string() || !entry.contains("Kind") ||
        !entry["Kind"].is_number_integer()) {
      return make_error(ErrorCode::Internal, "the engine's list of changes has an entry it should not: " + object_.substr(0, 200));
    }
    const int kind = entry["Kind"].get<int>();
    if (kind < 0 || kind > 2) return make_error(ErrorCode::Internal, "the engine's list of changes has Kind " + std::to_string(kind));
    visit_({entry["Path"].get<std::string>(), static_cast<FsChangeKind>(kind)});  // 0, 1, 2 as the engine numbers them
  }
  return {};
}

Status ChangesParser::finish() const {
  if (in_object_) return make_error(ErrorCode::Internal, "the engine's list of changes ends inside an entry");
  return {};
}

}  // namespace docker
}  // namespace breakfix
