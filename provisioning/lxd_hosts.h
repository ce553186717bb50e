#pragma once

// What the LXD backend does on the machine a lab runs on, outside LXD's API, against a
// hostile root in the lab (docs/runtime.md, "LXD"): it reads the lab's files below the
// storage pool (host_tree.h), holds its init's mount table open while a grader's tool
// runs (mount_table.h), keeps named volumes (the toolbox) in a directory it attaches
// read-only, and loads the firewall that fences session networks (lxd_network.h).
//
// On one LXD server that machine is the daemon's own (local_host). In an LXD cluster it
// is whichever member LXD placed the lab on (cluster_members): there each member has a
// helper instance of breakfix's own, privileged, with the member's /proc attached
// read-only, in which the backend runs breakfix-hostview through LXD's exec API (LXD
// forwards it to the member). The member's files are reached through
// /proc/<LXD's pid>/root, so the helper needs no other device and no path of the
// member's but LXD's own directory. Internal to provisioning/.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "breakfix/error.h"
#include "breakfix/runtime.h"
#include "host_tree.h"
#include "lxd_client.h"
#include "lxd_network.h"

namespace breakfix::lxd {

// An instance's root file system (or one of its snapshots') and the member it is on
// ("" on a server that is not clustered).
struct InstanceFiles {
  std::string member;
  std::string instance;
  std::string snapshot;  // "" for the instance itself
};

// A lab's init's mount table, held open while a grader's tool runs.
class LabMounts {
 public:
  virtual ~LabMounts() = default;
  virtual Result<std::string> read() = 0;
  // Whether the mounts changed since the table was opened (once seen, it stays).
  virtual Result<bool> changed() = 0;
};

class HostAccess {
 public:
  virtual ~HostAccess() = default;

  // Runtime::read_tree, container_changes and writable_layer_bytes of an instance whose
  // file system is `files` (host_tree.h says how).
  virtual Result<bool> read_tree(const InstanceFiles& files, const std::string& path, const IdShift& ids,
                                 const TreeReadOptions& options, const WantFn& want, const VisitFn& visit) = 0;
  virtual Status changes(const InstanceFiles& files, const std::vector<std::string>& image_paths, std::int64_t since,
                         const std::function<void(const FsChange&)>& visit) = 0;
  virtual Result<std::uint64_t> written_bytes(const InstanceFiles& files, std::int64_t since) = 0;

  // The mount table of process `pid` (LXD's number for an instance's init) on `member`.
  virtual Result<std::unique_ptr<LabMounts>> open_mounts(const std::string& member, long pid) = 0;

  // Named volumes: a directory of that name on every machine a lab may be placed on.
  // ensure_volume makes it where it is missing, with what `fill` puts into an empty
  // directory of this machine, and returns the path a disk device names.
  virtual Result<bool> has_volume(const std::string& name) = 0;
  virtual Result<std::string> ensure_volume(const std::string& name,
                                            const std::function<Status(const std::filesystem::path& dest)>& fill) = 0;
  virtual Status remove_volume(const std::string& name) = 0;

  // The session networks' firewall (lxd_network.h) on every machine.
  virtual Status ensure_firewall() = 0;
};

// Where an instance's root file system lies below a storage pool's directory, on a dir
// or btrfs pool (each instance and snapshot is then a directory, or a subvolume).
std::filesystem::path rootfs_below(const std::filesystem::path& pool_dir, const std::string& instance,
                                   const std::string& snapshot);

// This machine: `pool_dir` is the pool's directory (/var/lib/lxd/storage-pools/<pool>).
std::unique_ptr<HostAccess> local_host(std::filesystem::path pool_dir, std::filesystem::path volumes_dir);

struct ClusterOptions {
  std::string pool;                     // the storage pool labs (and the helpers) use
  std::string helper_image;             // the helpers' image (breakfix/base:bookworm)
  std::filesystem::path helper_binary;  // breakfix-hostview on this machine, pushed to each helper
  std::filesystem::path lxd_dir = "/var/lib/lxd";  // LXD's directory on each member
  std::filesystem::path volumes_dir;    // the named volumes' directory on each member
  std::filesystem::path work_dir;       // scratch space on this machine
  std::chrono::seconds bound{120};      // a helper's run, at most
};

// An LXD cluster's members, through a helper on each (made on first use, remade when
// breakfix-hostview changed).
std::unique_ptr<HostAccess> cluster_members(Client& client, ClusterOptions options);

// The helper instance's name on `member`: kHelperPrefix and the member's.
inline constexpr const char* kHelperPrefix = "breakfix-hostview-";
std::string helper_name(const std::string& member);
inline constexpr const char* kKeyHelper = "user.breakfix-lxd.hostview";  // its member
inline constexpr const char* kKeyHelperDigest = "user.breakfix-lxd.hostview-digest";

}  // namespace breakfix::lxd
