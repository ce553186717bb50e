#pragma once

// LXD's JSON in and out: the instance a ContainerSpec becomes, names mapped onto LXD's
// rules, labels kept as config keys. Pure functions, so that unit tests pin down what
// breakfix asks LXD for (isolation lives in these bodies), as docker_requests.h does.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "breakfix/runtime.h"

namespace breakfix::lxd {

// Config keys of breakfix's own beside the labels (label "k" is key "user.k").
inline constexpr const char* kKeyName = "user.breakfix-lxd.name";        // the ContainerSpec's name
inline constexpr const char* kKeyImage = "user.breakfix-lxd.image";      // the image asked for
inline constexpr const char* kKeyNetwork = "user.breakfix-lxd.network";  // the NetworkSpec's name

// LXD names instances like host names: letters, digits and '-', at most 63, starting
// with a letter. Docker-style names ("breakfix-s1-web.ready") are mapped onto that; a
// name that had to change keeps a digest of the whole, so that two never meet. A valid
// name maps to itself, so an instance's name is also its id.
std::string instance_name(const std::string& name);
// Network (bridge) names are interface names: at most 15 characters.
std::string network_name(const std::string& name);

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

// POST /1.0/instances for `spec` from the image `fingerprint`, its root disk on `pool`
// and its volumes at `volume_sources` (host directories, one per spec.volumes entry).
nlohmann::json instance_create_body(const ContainerSpec& spec, const std::string& fingerprint, const std::string& pool,
                                    const std::vector<std::string>& volume_sources);

}  // namespace breakfix::lxd
