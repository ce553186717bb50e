#include "lxd_requests.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "lxd_network.h"
#include "tar_archive.h"

namespace breakfix::lxd {

using nlohmann::json;

namespace {

// raw.lxc lines: the UTS name, and the tmpfs mounts LXD has no device type for.
std::string raw_lxc(const ContainerSpec& spec) {
  std::string raw;
  if (!spec.hostname.empty()) raw += "lxc.uts.name = " + spec.hostname + "\n";
  for (const TmpfsMount& tmpfs : spec.tmpfs) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%o", tmpfs.mode & 07777);
    raw += "lxc.mount.entry = tmpfs " + tmpfs.path.substr(1) + " tmpfs rw,nosuid,nodev,size=" +
           std::to_string(tmpfs.size_bytes) + (tmpfs.inodes > 0 ? ",nr_inodes=" + std::to_string(tmpfs.inodes) : "") +
           ",mode=" + mode + ",create=dir 0 0\n";
  }
  return raw;
}

}  // namespace


std::string instance_name(const std::string& name) {
  std::string out;
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  if (out.empty() || !std::isalpha(static_cast<unsigned char>(out[0]))) out = "x" + out;
  if (out.size() > 63 || out != name) {
    if (out.size() > 50) out.resize(50);
    while (!out.empty() && out.back() == '-') out.pop_back();
    if (out != name) out += "-" + archive::sha256_hex(name).substr(0, 8);
  }
  return out;
}

Labels labels_of(const json& config) {
  Labels labels;
  if (!config.is_object()) return labels;
  for (const auto& [key, value] : config.items()) {
    if (key.rfind(kLabelPrefix, 0) != 0 || key.rfind("user.breakfix-lxd.", 0) == 0 || !value.is_string()) continue;
    labels[key.substr(std::strlen(kLabelPrefix))] = value.get<std::string>();
  }
  return labels;
}

ContainerState state_of(const std::string& status, bool ever_started) {
  if (status == "Running") return ContainerState::Running;
  if (status == "Frozen") return ContainerState::Paused;
  if (status == "Stopped") return ever_started ? ContainerState::Exited : ContainerState::Created;
  if (status == "Error") return ContainerState::Dead;
  return ContainerState::Unknown;
}

std::string string_at(const json& object, const char* key) {
  return object.is_object() && object.contains(key) && object[key].is_string() ? object[key].get<std::string>() : "";
}

std::optional<Account> find_account(const std::string& passwd, const std::string& user) {
  std::istringstream lines(passwd);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (std::size_t colon; (colon = line.find(':', start)) != std::string::npos; start = colon + 1) {
      fields.push_back(line.substr(start, colon - start));
    }
    fields.push_back(line.substr(start));
    if (fields.size() < 7) continue;
    if (fields[0] != user && fields[2] != user) continue;
    Account account;
    account.uid = std::strtol(fields[2].c_str(), nullptr, 10);
    account.gid = std::strtol(fields[3].c_str(), nullptr, 10);
    account.home = fields[5].empty() ? "/" : fields[5];
    return account;
  }
  return std::nullopt;
}

json instance_create_body(const ContainerSpec& spec, const std::string& fingerprint, const std::string& pool,
                          const std::vector<std::string>& volume_sources, const std::string& bridge,
                          const std::string& address) {
  json config = {
      {kKeyName, spec.name},
      {kKeyImage, spec.image},
      // Each lab gets a uid range of its own: root in one lab is nobody in another, and
      // nobody on the machine.
      {"security.idmap.isolated", "true"},
      {"security.nesting", "false"},
      {"security.privileged", "false"},
      {"limits.memory", std::to_string((spec.memory_bytes + (1 << 20) - 1) >> 20) + "MiB"},
      {"limits.memory.swap", "false"},
      {"limits.processes", std::to_string(spec.pids)},
      // A quota of CPU time, as Docker's --cpus: 0.5 is 50 ms of every 100 ms.
      {"limits.cpu.allowance", std::to_string(std::max<long>(1, std::lround(spec.cpus * 100))) + "ms/100ms"},
      {"raw.lxc", raw_lxc(spec)},
      // Not started again when the machine boots: as on Docker, a lab that stopped is its
      // session's failure, not something to resume unseen.
      {"boot.autostart", "false"},
  };
  if (spec.open_files > 0) config["limits.kernel.nofile"] = std::to_string(spec.open_files);
  for (const auto& [key, value] : spec.labels) config[kLabelPrefix + key] = value;
  // No profile: every device is named here, so that an admin's default profile (a NIC
  // on lxdbr0, say) cannot give a lab a network it should not have.
  json devices = {{"root", {{"type", "disk"}, {"path", "/"}, {"pool", pool}}}};
  if (!spec.network.empty() && !bridge.empty()) {
    devices["eth0"] = {{"type", "nic"}, {"network", bridge}, {"name", "eth0"}};
    config[kKeyNetwork] = spec.network;
    config[kKeyAddress] = address;
  }
  for (std::size_t i = 0; i < spec.volumes.size() && i < volume_sources.size(); ++i) {
    devices["volume" + std::to_string(i)] = {{"type", "disk"},
                                             {"source", volume_sources[i]},
                                             {"path", spec.volumes[i].target},
                                             {"readonly", spec.volumes[i].read_only ? "true" : "false"}};
  }
  return {{"name", instance_name(spec.name)},
          {"type", "container"},
          {"profiles", json::array()},
          {"source", {{"type", "image"}, {"fingerprint", fingerprint}}},
          {"config", config},
          {"devices", devices}};
}

namespace {

// A mountinfo line's fields: id, parent, major:minor, root, mount point, options, ...
struct MountLine {
  std::string id, mount_point, options;
};
std::vector<MountLine> mount_lines(const std::string& mountinfo) {
  std::vector<MountLine> lines;
  std::istringstream in(mountinfo);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    MountLine mount;
    std::string parent, device, root;
    if (fields >> mount.id >> parent >> device >> root >> mount.mount_point >> mount.options) lines.push_back(mount);
  }
  return lines;
}

bool at_or_below(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

}  // namespace

std::string mount_id_at(const std::string& mountinfo, const std::string& dir) {
  std::string found;
  for (const MountLine& mount : mount_lines(mountinfo)) {
    if (mount.mount_point != dir) continue;
    if (!found.empty()) return "";
    found = mount.id;
  }
  return found;
}

std::string toolbox_cover(const std::string& mountinfo, const std::string& dir, const std::string& id) {
  const std::vector<MountLine> lines = mount_lines(mountinfo);
  auto toolbox = std::find_if(lines.begin(), lines.end(), [&](const MountLine& mount) { return mount.mount_point == dir; });
  if (toolbox == lines.end()) return "nothing is mounted at " + dir;
  if (toolbox->id != id) return dir + " is mount " + toolbox->id + ", not the toolbox's " + id;
  const std::string options = "," + toolbox->options + ",";
  if (options.find(",ro,") == std::string::npos) return dir + " is writable";
  // A mount table lists mounts in the order they were made: a later one at the root covers all.
  for (auto later = std::next(toolbox); later != lines.end(); ++later) {
    if (at_or_below(later->mount_point, dir) || later->mount_point == "/") {
      return "mount " + later->id + " at " + later->mount_point + " covers " + dir;
    }
  }
  return "";
}

std::optional<IdRangeOnHost> root_subordinate_ids(const std::string& subuid, const std::string& subgid) {
  auto root_line = [](const std::string& text) -> std::optional<IdRangeOnHost> {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      long long start = 0, count = 0;
      char name[64] = {0};
      if (std::sscanf(line.c_str(), "%63[^:]:%lld:%lld", name, &start, &count) == 3 && std::string(name) == "root" &&
          start > 0 && count > 0) {
        return IdRangeOnHost{start, count};
      }
    }
    return std::nullopt;
  };
  const auto uids = root_line(subuid);
  const auto gids = root_line(subgid);
  if (!uids || !gids) return std::nullopt;
  const std::int64_t start = std::max(uids->start, gids->start);
  const std::int64_t end = std::min(uids->start + uids->count, gids->start + gids->count);
  if (end <= start) return std::nullopt;
  return IdRangeOnHost{start, end - start};
}

std::optional<std::int64_t> pick_id_base(const IdRangeOnHost& allowed, const std::vector<std::int64_t>& used,
                                         std::uint64_t pick) {
  constexpr std::int64_t kSlot = 65536;
  std::vector<std::int64_t> free;
  for (std::int64_t base = allowed.start + kSlot; base + kSlot <= allowed.start + allowed.count; base += kSlot) {
    const bool taken = std::any_of(used.begin(), used.end(), [&](std::int64_t other) {
      return other < base + kSlot && base < other + kSlot;  // the ranges overlap
    });
    if (!taken) free.push_back(base);
  }
  if (free.empty()) return std::nullopt;
  return free[pick % free.size()];
}

}  // namespace breakfix::lxd
