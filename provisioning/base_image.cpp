#include "breakfix/base_image.h"

#include <ftw.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "scratch_dir.h"
#include "tar_archive.h"

namespace breakfix {
namespace {

namespace bp = boost::process;
namespace fs = std::filesystem;

Status run_debootstrap(const BaseImageOptions& options, const std::string& mirror, const fs::path& root,
                       const ProgressFn& progress) {
  const auto debootstrap = bp::search_path("debootstrap");
  if (debootstrap.empty()) {
    return make_error(ErrorCode::NotFound, "debootstrap is not installed (apt-get install debootstrap)");
  }
  std::string include;
  for (const std::string& package : base_image_packages()) include += (include.empty() ? "" : ",") + package;
  for (const std::string& package : options.extra_packages) include += "," + package;
  bp::ipstream output;
  std::error_code ec;
  bp::child child(debootstrap.string(), "--variant=minbase", "--include=" + include, options.suite, root.string(),
                  mirror, (bp::std_out & bp::std_err) > output, ec);
  if (ec) return make_error(ErrorCode::Failed, "cannot start debootstrap: " + ec.message());
  std::vector<std::string> tail;
  for (std::string line; std::getline(output, line);) {
    if (progress) progress("debootstrap: " + line);
    tail.push_back(line);
    if (tail.size() > 20) tail.erase(tail.begin());
  }
  child.wait();
  if (child.exit_code() != 0) {
    std::string last;
    for (const std::string& line : tail) last += "  " + line + "\n";
    return make_error(ErrorCode::Failed, "debootstrap " + options.suite + " from " + mirror + " failed (exit " +
                                             std::to_string(child.exit_code()) + "); its last lines:\n" + last);
  }
  return {};
}

// nftw gives no user pointer; this runs on the calling thread only, during the walk.
thread_local int stripped_capabilities = 0;

int strip_capability(const char* path, const struct stat*, int type, FTW*) {
  if (type == FTW_F && ::lremovexattr(path, "security.capability") == 0) ++stripped_capabilities;
  return 0;
}

// File capabilities (ping's cap_net_raw) make a binary unexecutable in a lab host,
// whose bounding set lacks them; without them ping uses ICMP datagram sockets.
int strip_file_capabilities(const fs::path& root) {
  stripped_capabilities = 0;
  ::nftw(root.c_str(), strip_capability, 64, FTW_PHYS | FTW_MOUNT);
  return stripped_capabilities;
}

// Package caches and lists: megabytes that no lab needs (scenario builds run apt-get update).
void remove_caches(const fs::path& root) {
  std::error_code ignored;
  for (const fs::path& dir : {root / "var/cache/apt/archives", root / "var/lib/apt/lists"}) {
    for (const auto& entry : fs::directory_iterator(dir, ignored)) {
      if (entry.is_regular_file(ignored)) fs::remove(entry.path(), ignored);
    }
  }
}

}  // namespace

const std::vector<std::string>& base_image_packages() {
  static const std::vector<std::string> packages = {
      "bash", "procps", "iproute2", "iputils-ping", "netcat-openbsd", "curl", "ca-certificates", "less",
      "vim-tiny", "strace", "lsof", "psmisc", "sudo", "openssh-sftp-server", "openssh-client", "man-db",
  };
  return packages;
}

std::string host_debian_mirror() {
  // deb822 sources (Debian 12's default) first, then the one-line format.
  std::ifstream deb822("/etc/apt/sources.list.d/debian.sources");
  for (std::string line; std::getline(deb822, line);) {
    if (line.rfind("URIs:", 0) == 0) {
      std::istringstream words(line.substr(5));
      std::string uri;
      if (words >> uri && uri.find("security") == std::string::npos) return uri;
    }
  }
  std::ifstream list("/etc/apt/sources.list");
  for (std::string line; std::getline(list, line);) {
    std::istringstream words(line);
    std::string type, uri;
    if (words >> type >> uri && type == "deb" && uri.find("security") == std::string::npos) return uri;
  }
  return "http://deb.debian.org/debian";
}

Result<bool> image_already_built(Runtime& runtime, const std::string& tag, const ProgressFn& progress) {
  auto existing = runtime.image_id(tag);
  if (!existing) return existing.error();
  if (!existing->has_value()) return false;
  if (progress) progress(tag + " is already on the engine (" + **existing + "); --rebuild builds it again");
  return true;
}

Status build_base_image(Runtime& runtime, const BaseImageOptions& options, const ProgressFn& progress) {
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  if (!options.rebuild) {
    auto built = image_already_built(runtime, options.tag, progress);
    if (!built) return built.error();
    if (*built) return {};
  }
  if (::geteuid() != 0) return make_error(ErrorCode::PermissionDenied, "building the base image needs root (debootstrap)");
  const std::string mirror = options.mirror.empty() ? host_debian_mirror() : options.mirror;
  auto made = ScratchDir::make(options.work_dir, "breakfix-base");
  if (!made) return made.error();
  const ScratchDir scratch = std::move(made.value());
  const fs::path root = scratch.path() / "root";
  const fs::path tarball = scratch.path() / "rootfs.tar";

  say("[1/4] debootstrap " + options.suite + " (minbase + " +
      std::to_string(base_image_packages().size() + options.extra_packages.size()) + " packages) from " + mirror);
  if (Status status = run_debootstrap(options, mirror, root, progress); !status) return status;
  say("[2/4] tidying: file capabilities stripped from " + std::to_string(strip_file_capabilities(root)) +
      " files, package caches removed");
  remove_caches(root);
  say("[3/4] packing the root file system");
  if (Status status = archive::tar_root_filesystem(root, tarball, progress); !status) return status;
  say("[4/4] importing as " + options.tag);
  const std::vector<std::string> changes = {
      "ENV LANG=C.UTF-8",
      "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "LABEL breakfix.image=base",
      "CMD [\"/bin/bash\"]",
  };
  if (Status status = runtime.import_image(tarball, options.tag, changes, progress); !status) return status;
  auto id = runtime.image_id(options.tag);
  if (!id) return id.error();
  say(options.tag + " is ready (" + (id->has_value() ? **id : std::string("?")) + ")");
  return {};
}

}  // namespace breakfix
