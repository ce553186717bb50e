#include "docker_requests.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "breakfix/percent_encoding.h"

namespace breakfix::docker {

using nlohmann::json;

const std::vector<std::string>& lab_capabilities() {
  // Docker's defaults less MKNOD (no device nodes), SETFCAP (no file capabilities) and
  // NET_RAW (raw frames could be aimed at the host through the session's bridge; ping
  // works without it through ICMP datagram sockets). SYS_PTRACE only for hosts whose
  // scenario asks for it (`capabilities:`): it lets root read any process's memory,
  // a running check's included.
  static const std::vector<std::string> capabilities = {
      "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
      "NET_BIND_SERVICE", "SYS_CHROOT", "AUDIT_WRITE",
  };
  return capabilities;
}

json container_create_body(const ContainerSpec& spec) {
  std::vector<std::string> capabilities = lab_capabilities();
  for (const std::string& extra : spec.capabilities) {
    if (std::find(capabilities.begin(), capabilities.end(), extra) == capabilities.end()) capabilities.push_back(extra);
  }
  json tmpfs = json::object();
  for (const TmpfsMount& mount : spec.tmpfs) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%o", mount.mode);
    std::string options = "size=" + std::to_string(mount.size_bytes) + ",mode=" + mode;
    if (mount.inodes > 0) options += ",nr_inodes=" + std::to_string(mount.inodes);
    tmpfs[mount.path] = options;
  }
  json host_config = {
      {"NetworkMode", spec.network.empty() ? "none" : spec.network},
      {"NanoCpus", static_cast<std::int64_t>(std::llround(spec.cpus * 1e9))},
      {"Memory", spec.memory_bytes},
      {"MemorySwap", spec.memory_bytes},  // equal to Memory: no swap on top
      {"PidsLimit", spec.pids},
      {"Privileged", false},
      {"Init", false},  // our own PID 1 (kInitScript) survives `kill -9 -1`; tini would not
      {"CapDrop", json::array({"ALL"})},
      {"CapAdd", capabilities},
      {"SecurityOpt", json::array()},  // the engine's default seccomp and AppArmor profiles
      {"IpcMode", "private"},
      {"RestartPolicy", {{"Name", "no"}}},
      // PID 1 prints nothing; a cap anyway so a container can never fill the host's disk with logs.
      {"LogConfig", {{"Type", "json-file"}, {"Config", {{"max-size", "1m"}, {"max-file", "1"}}}}},
      {"Tmpfs", tmpfs},
  };
  json mounts = json::array();
  for (const VolumeMount& mount : spec.volumes) {
    mounts.push_back({{"Type", "volume"},
                      {"Source", mount.volume},
                      {"Target", mount.target},
                      {"ReadOnly", mount.read_only},
                      {"VolumeOptions", {{"NoCopy", false}, {"Labels", mount.labels}}}});
  }
  if (!mounts.empty()) host_config["Mounts"] = mounts;
  const json init = spec.command.empty() ? json::array({"/bin/sh", "-c", kInitScript}) : json(spec.command);
  json body = {
      {"Image", spec.image},
      {"Hostname", spec.hostname},
      {"Labels", spec.labels},
      {"Entrypoint", init},
      {"Cmd", json::array()},
      {"Env", json::array()},
      {"Tty", false},
      {"OpenStdin", false},
      {"StopSignal", "SIGKILL"},
  };
  if (!spec.dns.empty()) host_config["Dns"] = spec.dns;
  if (spec.open_files > 0) {
    host_config["Ulimits"] = json::array({{{"Name", "nofile"}, {"Soft", spec.open_files}, {"Hard", spec.open_files}}});
  }
  body["HostConfig"] = host_config;
  if (!spec.network.empty()) {
    body["NetworkingConfig"] = {{"EndpointsConfig", {{spec.network, {{"Aliases", spec.aliases}}}}}};
  }
  return body;
}

json network_create_body(const NetworkSpec& spec) {
  // icc on: the session's hosts talk to each other (each session has a bridge of its own).
  json options = {{"com.docker.network.bridge.enable_icc", "true"}};
  // An internal bridge still has the host's address on it, and a container reaches the
  // host there (that traffic is the host's INPUT, which Docker's isolation rules do not
  // cover). With no address on the bridge, the host is not on the session's network.
  if (spec.kind == NetworkKind::Internal) options["com.docker.network.bridge.inhibit_ipv4"] = "true";
  return {
      {"Name", spec.name},
      {"Driver", "bridge"},
      {"Internal", spec.kind == NetworkKind::Internal},
      {"CheckDuplicate", true},
      {"Attachable", false},
      {"EnableIPv6", false},
      {"Labels", spec.labels},
      {"Options", options},
  };
}

json exec_create_body(const ExecSpec& spec, const std::string& marker) {
  std::vector<std::string> env = spec.env;
  env.push_back(std::string(kExecMarkerVariable) + "=" + marker);
  json body = {
      {"AttachStdin", true},
      {"AttachStdout", true},
      {"AttachStderr", true},
      {"Tty", spec.tty},
      {"Cmd", spec.command},
      {"Env", env},
      {"User", spec.user},
      {"Privileged", false},
  };
  if (!spec.workdir.empty()) body["WorkingDir"] = spec.workdir;
  return body;
}

std::string label_filter_query(const Labels& match) {
  json labels = json::array();
  for (const auto& [key, value] : match) labels.push_back(key + "=" + value);
  return "filters=" + percent_encode(json{{"label", labels}}.dump());
}

ContainerState parse_container_state(const std::string& state) {
  if (state == "created") return ContainerState::Created;
  if (state == "running") return ContainerState::Running;
  if (state == "paused") return ContainerState::Paused;
  if (state == "restarting") return ContainerState::Restarting;
  if (state == "exited") return ContainerState::Exited;
  if (state == "dead") return ContainerState::Dead;
  return ContainerState::Unknown;
}

namespace {

Labels parse_labels(const json& labels) {
  Labels out;
  if (!labels.is_object()) return out;
  for (const auto& [key, value] : labels.items()) {
    if (value.is_string()) out[key] = value.get<std::string>();
  }
  return out;
}

std::map<std::string, std::string> parse_addresses(const json& networks) {
  std::map<std::string, std::string> out;
  if (!networks.is_object()) return out;
  for (const auto& [name, endpoint] : networks.items()) {
    if (endpoint.is_object() && endpoint.value("IPAddress", "") != "") out[name] = endpoint["IPAddress"];
  }
  return out;
}

}  // namespace

ContainerInfo parse_container_summary(const json& summary) {
  ContainerInfo info;
  info.id = summary.value("Id", "");
  if (summary.contains("Names") && summary["Names"].is_array() && !summary["Names"].empty()) {
    info.name = summary["Names"][0].get<std::string>();
    if (!info.name.empty() && info.name.front() == '/') info.name.erase(0, 1);
  }
  info.image = summary.value("Image", "");
  info.state = parse_container_state(summary.value("State", ""));
  info.labels = parse_labels(summary.value("Labels", json::object()));
  if (summary.contains("NetworkSettings") && summary["NetworkSettings"].is_object()) {
    info.addresses = parse_addresses(summary["NetworkSettings"].value("Networks", json::object()));
  }
  return info;
}

ContainerInfo parse_container_inspect(const json& inspect) {
  ContainerInfo info;
  info.id = inspect.value("Id", "");
  info.name = inspect.value("Name", "");
  if (!info.name.empty() && info.name.front() == '/') info.name.erase(0, 1);
  if (inspect.contains("Config") && inspect["Config"].is_object()) {
    info.image = inspect["Config"].value("Image", "");
    info.labels = parse_labels(inspect["Config"].value("Labels", json::object()));
  }
  if (inspect.contains("State") && inspect["State"].is_object()) {
    info.state = parse_container_state(inspect["State"].value("Status", ""));
  }
  if (inspect.contains("NetworkSettings") && inspect["NetworkSettings"].is_object()) {
    info.addresses = parse_addresses(inspect["NetworkSettings"].value("Networks", json::object()));
  }
  return info;
}

NetworkInfo parse_network(const json& network) {
  return {network.value("Id", ""), network.value("Name", ""), parse_labels(network.value("Labels", json::object()))};
}

ImageInfo parse_image_summary(const json& summary) {
  ImageInfo image{summary.value("Id", ""), {}, parse_labels(summary.value("Labels", json::object()))};
  if (auto tags = summary.find("RepoTags"); tags != summary.end() && tags->is_array()) {
    for (const json& tag : *tags) {
      if (tag.is_string() && tag.get<std::string>() != "<none>:<none>") image.tags.push_back(tag.get<std::string>());
    }
  }
  return image;
}


}  // namespace breakfix::docker
