#pragma once

// LXD's image files. LXD imports a "unified" tarball: metadata.yaml beside the root file
// system under rootfs/. breakfix makes one from the same root file system tarball it
// gives Docker (base_image.cpp, toolbox.cpp), and reads a stored image back to fill a
// named volume. libarchive stays in lxd_image.cpp.

#include <filesystem>
#include <string>
#include <vector>

#include "breakfix/error.h"
#include "breakfix/runtime.h"

namespace breakfix::lxd {

// Writes `out`: metadata.yaml (architecture, creation date, `properties`) and every
// entry of `rootfs_tar` (a tar of "./..." paths) moved under "rootfs/", hard links
// included. Failed names the file when either cannot be read or written.
Status make_unified_image(const std::filesystem::path& rootfs_tar, const std::filesystem::path& out,
                          const Labels& properties);

// The root file system of the unified image `image_dir`/<fingerprint> as a tar of its
// own ("bin/bash", not "rootfs/bin/bash"), for Docker to import (the LXD base under a
// scenario's `build:`). Failed names the file when either cannot be read or written.
Status rootfs_tar_of_image(const std::filesystem::path& image_dir, const std::string& fingerprint,
                           const std::filesystem::path& out);

// Extracts what `image_dir`/<fingerprint> (LXD's store of an image: unified, or split
// with a .rootfs tar) holds under `subtree` ("/.breakfix") into `dest`, which must not
// exist yet; it is made whole in a sibling directory and renamed into place. Never
// writes outside `dest`: absolute paths, "..", and symlinks in the way are refused.
Status extract_image_subtree(const std::filesystem::path& image_dir, const std::string& fingerprint,
                             const std::string& subtree, const std::filesystem::path& dest);

// Every path the root file system of `image_dir`/<fingerprint> holds, absolute ("/",
// "/etc", "/etc/passwd"), sorted: what a container made from it had before anything ran,
// against which the LXD backend lists a container's changes. Failed names the file when
// it cannot be read.
Result<std::vector<std::string>> image_paths(const std::filesystem::path& image_dir, const std::string& fingerprint);

}  // namespace breakfix::lxd
