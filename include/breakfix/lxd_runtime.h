#pragma once

// The Runtime over LXD's REST API on its unix socket (docs/runtime.md, "LXD"): lab
// hosts are unprivileged system containers that boot systemd, so a scenario can break
// units, timers and the journal. Chosen with `runtime.backend: lxd`.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "breakfix/runtime.h"

namespace breakfix {

struct LxdOptions {
  // Debian's lxd package listens here; LXD_SOCKET overrides it (lxd_options_from_environment).
  std::string socket_path = "/var/lib/lxd/unix.socket";
  // The storage pool every lab's root disk comes from ("breakfix", as setup-lxd.sh makes it).
  std::string pool = "breakfix";
  // Where named volumes (the grader's toolbox) live on this machine: LXD has no volume
  // that an image fills, so the backend fills a directory and attaches it read-only.
  std::filesystem::path volumes_dir = "/var/lib/breakfix/lxd-volumes";
  // breakfix-hostview, which the backend runs on each member of an LXD cluster (docs/
  // runtime.md, "Clustering"); empty: the one beside this program.
  std::filesystem::path hostview_binary;
  // The Docker engine that builds scenarios' `build:` directories for LXD (LXD has none).
  std::string builder_docker_socket = "/var/run/docker.sock";
  // Where image tarballs are made before they are sent to LXD.
  std::filesystem::path work_dir = "/var/tmp";
  // Bounds each read or write on the socket (not whole operations, which LXD runs
  // in the background and which the backend waits for with their own bound).
  std::chrono::seconds io_timeout{300};
  // How long an operation (a launch, an image import) may take before it is an error.
  std::chrono::seconds operation_timeout{600};
};

// The options from the environment (the CLI's commands without a daemon config):
// LXD_SOCKET=/path and LXD_POOL=name when set, else the defaults.
LxdOptions lxd_options_from_environment();

// The Runtime backed by LXD (docs/runtime.md, "LXD" says what it does not do yet).
std::unique_ptr<Runtime> make_lxd_runtime(const LxdOptions& options);

}  // namespace breakfix
