#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "breakfix/runtime.h"

namespace breakfix {

inline constexpr const char* kBaseImageTag = "breakfix/base:bookworm";

struct BaseImageOptions {
  std::string tag = kBaseImageTag;
  std::string suite = "bookworm";
  std::string mirror;  // empty: the host's Debian mirror (apt sources), else deb.debian.org
  std::filesystem::path work_dir = "/var/tmp";  // where the root file system is made
  bool rebuild = false;  // build even when the image exists
  // Beyond base_image_packages(): the LXD backend's hosts boot systemd.
  std::vector<std::string> extra_packages;
};

// What an admin expects on a box, beyond debootstrap's minbase (docs/runtime.md).
const std::vector<std::string>& base_image_packages();

// The mirror the host's apt uses (first URIs: / deb line for Debian), else the default.
std::string host_debian_mirror();

// Whether `tag` is on the engine already; when it is, says so through `progress` (the
// image commands build only what is missing unless asked to rebuild).
Result<bool> image_already_built(Runtime& runtime, const std::string& tag, const ProgressFn& progress);

// Builds the offline base image: debootstrap minbase with base_image_packages(), file
// capabilities stripped (lab hosts run without CAP_NET_RAW/SETFCAP, and a binary with
// a file capability outside the bounding set cannot be executed), packed and imported.
// Needs root and debootstrap. Progress: one line per step and debootstrap's own lines.
Status build_base_image(Runtime& runtime, const BaseImageOptions& options, const ProgressFn& progress);

}  // namespace breakfix
