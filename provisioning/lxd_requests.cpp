#include "lxd_requests.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "tar_archive.h"

namespace breakfix::lxd {

using nlohmann::json;

namespace {

constexpr const char* kLabelPrefix = "user.";

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

std::string network_name(const std::string& name) { return "bf" + archive::sha256_hex(name).substr(0, 12); }

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
                          const std::vector<std::string>& volume_sources) {
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

}  // namespace breakfix::lxd
