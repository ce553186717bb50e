#pragma once

// LXD's JSON in and out: the instance a ContainerSpec becomes, names mapped onto LXD's
// rules, labels kept as config keys. Pure functions, so that unit tests pin down what
// breakfix asks LXD for (isolation lives in these bodies), as docker_requests.h does.

#include <nlohmann/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "breakfix/runtime.h"

namespace breakfix::lxd {

// Label "k" is config key "user.k" (LXD keeps user.* keys as they are).
inline constexpr const char* kLabelPrefix = "user.";
// Config keys of breakfix's own beside the labels.
inline constexpr const char* kKeyName = "user.breakfix-lxd.name";        // the ContainerSpec's name
inline constexpr const char* kKeyImage = "user.breakfix-lxd.image";      // the image asked for
inline constexpr const char* kKeyNetwork = "user.breakfix-lxd.network";  // the NetworkSpec's name
// When the instance had first finished booting (ns since the epoch, the host's coarse
// clock, as inode times): what it changed after that are its changes.
inline constexpr const char* kKeyStarted = "user.breakfix-lxd.started";
// "user.breakfix-lxd.snapshot.<snapshot>": a snapshot's tag and labels, as JSON (an LXD
// snapshot has no config of its own).
inline constexpr const char* kKeySnapshotPrefix = "user.breakfix-lxd.snapshot.";
// The mount id the toolbox had in the lab's init's mount table after the first boot.
inline constexpr const char* kKeyToolboxMount = "user.breakfix-lxd.toolbox-mount";
// Set once an exec other than the grader's tools (a candidate's shell) has run.
inline constexpr const char* kKeyOpened = "user.breakfix-lxd.opened";

// LXD names instances like host names: letters, digits and '-', at most 63, starting
// with a letter. Docker-style names ("breakfix-s1-web.ready") are mapped onto that; a
// name that had to change keeps a digest of the whole, so that two never meet. A valid
// name maps to itself, so an instance's name is also its id.
std::string instance_name(const std::string& name);

// The labels among an instance's (or network's) config keys.
Labels labels_of(const nlohmann::json& config);
// LXD's status ("Running", "Frozen", "Stopped", "Error") as a container state.
ContainerState state_of(const std::string& status, bool ever_started);
// object[key] when it is a string, else "".
std::string string_at(const nlohmann::json& object, const char* key);

// A passwd line's uid, gid and home for `user` (a name or a number): LXD's exec takes
// numbers, Docker's takes names.
struct Account {
  long uid = 0;
  long gid = 0;
  std::string home = "/root";
};
std::optional<Account> find_account(const std::string& passwd, const std::string& user);

// The toolbox on LXD: root in a system container may mount, so it may cover the toolbox
// with its own files (docs/runtime.md, "LXD"). What it mounted shows in its init's mount
// table, which the host reads (/proc/<pid>/mountinfo) and the lab cannot change but by
// mounting. The id of the mount at `dir` in `mountinfo`, "" when there is none or more.
std::string mount_id_at(const std::string& mountinfo, const std::string& dir);
// "" while the mount at `dir` is still mount `id`, read-only, and nothing is mounted at
// it, below it or over the root after it; else what is wrong, for the error.
std::string toolbox_cover(const std::string& mountinfo, const std::string& dir, const std::string& id);

// Root's subordinate ids ("root:100000:10000001" in /etc/subuid and /etc/subgid): the
// range both files give root, as [start, start + count). Nullopt when either names none.
struct IdRangeOnHost {
  std::int64_t start = 0;
  std::int64_t count = 0;
};
std::optional<IdRangeOnHost> root_subordinate_ids(const std::string& subuid, const std::string& subgid);

// A lab's own 65536 ids within `allowed`, none of `used` (the bases other instances
// have): slot 0 is left to containers on LXD's default map; among the free slots, the
// one `pick` (any number) lands on, so that two daemons choosing at once rarely meet.
// Nullopt when every slot is taken.
std::optional<std::int64_t> pick_id_base(const IdRangeOnHost& allowed, const std::vector<std::int64_t>& used,
                                         std::uint64_t pick);

// POST /1.0/instances for `spec` from the image `fingerprint`, its root disk on `pool`,
// its volumes at `volume_sources` (host directories, one per spec.volumes entry), and
// (when spec.network is set) its eth0 on `bridge` with `address` (lxd_network.h).
nlohmann::json instance_create_body(const ContainerSpec& spec, const std::string& fingerprint, const std::string& pool,
                                    const std::vector<std::string>& volume_sources, const std::string& bridge = "",
                                    const std::string& address = "");

}  // namespace breakfix::lxd
