#pragma once

// A scenario's `build:` directory for the LXD backend, built by Docker's builder
// (docs/runtime.md, "build: on LXD"), so that one scenario directory serves both
// backends with the same content-hash tag:
//
// 1. Docker gets LXD's base image, once per LXD fingerprint, as
//    breakfix/base-lxd:<fingerprint prefix>: the same debootstrap root file system plus
//    systemd, read from LXD's image store. A Dockerfile's `FROM breakfix/base:bookworm`
//    is built from it (in a copy of the context: the scenario's files are not touched),
//    so the lab boots systemd on LXD.
// 2. Docker builds the copy as breakfix-lxd-build/<tag>; its output is the progress.
// 3. A container of the result (never started) is exported: the flattened file system.
// 4. That tar becomes the LXD image `tag`; the Docker image and container go.
// LXD itself has no image builder; this is the documented equivalent of one.

#include <filesystem>
#include <functional>
#include <string>

#include "breakfix/error.h"
#include "breakfix/runtime.h"

namespace breakfix::lxd {

struct BuildOnDocker {
  Runtime& docker;                        // the builder
  std::string docker_socket;              // for the export, which Runtime has no call for
  std::filesystem::path lxd_image_dir;    // LXD's image store (/var/lib/lxd/images)
  std::string base_fingerprint;           // LXD's breakfix/base:bookworm; "" when it has none
  std::filesystem::path work_dir;         // where the tars are made
};

// The Dockerfile with each `FROM <base_tag>` (any case, any `AS name` kept) naming
// `replacement` instead; other lines as they are. `replaced`: how many.
std::string rebase_dockerfile(const std::string& dockerfile, const std::string& base_tag,
                              const std::string& replacement, int* replaced = nullptr);

// Builds `context_dir` as described above; `import` takes the flattened file system's tar
// and makes the LXD image `tag` of it. Failed carries the build's last lines.
Status build_on_docker(const BuildOnDocker& with, const std::filesystem::path& context_dir, const std::string& tag,
                       const ProgressFn& progress,
                       const std::function<Status(const std::filesystem::path& rootfs_tar)>& import);

}  // namespace breakfix::lxd
