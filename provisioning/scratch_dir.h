#pragma once

// A directory of its own under a parent (mkdtemp), removed with everything in it when
// the object goes: where image tooling lays out a root file system and its tarball.

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "breakfix/error.h"

namespace breakfix {

class ScratchDir {
 public:
  // Failed names the parent when the directory cannot be made.
  static Result<ScratchDir> make(const std::filesystem::path& parent, const std::string& prefix) {
    std::string pattern = (parent / (prefix + "-XXXXXX")).string();
    if (!::mkdtemp(pattern.data())) {
      return make_error(ErrorCode::Failed,
                        "cannot make a directory under " + parent.string() + ": " + std::strerror(errno));
    }
    return ScratchDir(pattern);
  }
  ScratchDir(ScratchDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.reset(); }
  ScratchDir& operator=(ScratchDir&&) = delete;
  ScratchDir(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    if (path_) std::filesystem::remove_all(*path_, ignored);
  }
  const std::filesystem::path& path() const { return *path_; }

 private:
  explicit ScratchDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::optional<std::filesystem::path> path_;
};

}  // namespace breakfix
