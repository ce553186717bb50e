#include "breakfix/lab.h"

#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "breakfix/toolbox.h"
#include "tar_archive.h"

namespace breakfix {
namespace {

constexpr const char* kLabelScenario = "breakfix.scenario";
constexpr const char* kLabelEntry = "breakfix.entry";
constexpr const char* kLabelSnapshotOf = "breakfix.snapshot-of";  // on snapshots and their readers: the host
constexpr std::size_t kMaxContextBytes = 512 * 1024 * 1024;
// PID 1 of a lab host, run by the toolbox's busybox sh: an init the candidate cannot kill
// (the kernel drops signals to a namespace's init that has no handler) that keeps a child
// sleeping and waits, which also reaps orphaned zombies as they die.
constexpr const char* kLabInitScript = "while :; do /.breakfix/bin/busybox sleep 2147483647 & wait; done";

bool is_safe_session_id(const std::string& id) {
  return !id.empty() && id.size() <= 64 &&
         std::all_of(id.begin(), id.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

// The images a Dockerfile builds FROM (first word after FROM, skipping --flags), so
// that a rebuilt base image gives scenario images a new content hash.
std::vector<std::string> from_images(const std::filesystem::path& dockerfile) {
  std::vector<std::string> images;
  std::ifstream in(dockerfile);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string keyword, word;
    words >> keyword;
    for (char& c : keyword) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (keyword != "FROM") continue;
    while (words >> word && word.rfind("--", 0) == 0) {
    }
    if (!word.empty()) images.push_back(word);
  }
  return images;
}

// Open files for lab processes: plenty for any service (65536), but never above what
// this machine allows (engines run under the same limits as breakfix here).
std::int64_t open_files_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_max == RLIM_INFINITY) return 65536;
  return std::min<std::int64_t>(65536, static_cast<std::int64_t>(limit.rlim_max));
}

Labels session_labels(const std::string& session_id) {
  return {{kLabelManaged, "true"}, {kLabelSession, session_id}};
}

}  // namespace

std::string lab_container_name(const std::string& session_id, const std::string& host_name) {
  return "breakfix-" + session_id + "-" + host_name;
}

std::string lab_network_name(const std::string& session_id) { return "breakfix-" + session_id; }

std::string lab_snapshot_tag(const std::string& session_id, const std::string& host_name) {
  // '.' cannot occur in either name, so no two (session, host) pairs share a tag.
  return "breakfix/snapshot:" + session_id + "." + host_name;
}

std::string built_image_tag(const std::string& scenario_id, const std::string& host_name,
                            const std::string& content_hash) {
  return "breakfix/" + scenario_id + "-" + host_name + ":" + content_hash.substr(0, 16);
}

const LabHost* Lab::find(std::string_view host_name) const {
  for (const LabHost& host : hosts) {
    if (host.name == host_name) return &host;
  }
  return nullptr;
}

const LabHost& Lab::entry() const {
  for (const LabHost& host : hosts) {
    if (host.entry) return host;
  }
  return hosts.front();
}

Result<std::string> LabProvisioner::ensure_image(const Scenario& scenario, const Host& host, const ProgressFn& progress) {
  if (!host.image.empty()) {
    auto id = runtime_.image_id(host.image);
    if (!id) return id.error();
    if (!id->has_value()) {
      return make_error(ErrorCode::NotFound,
                        "image '" + host.image + "' of host '" + host.name + "' (scenario " + scenario.id +
                            ") is not on the Docker engine" +
                            (host.image == "breakfix/base:bookworm" ? ": build it with 'breakfix image base'"
                                                                    : ": build or load it first (breakfix pulls nothing)"));
    }
    return host.image;
  }
  auto context = archive::tar_directory(host.build_context, kMaxContextBytes);
  if (!context) return context.error();
  std::string fingerprint = archive::sha256_hex(*context);
  for (const std::string& base : from_images(host.build_context / "Dockerfile")) {
    auto base_id = runtime_.image_id(base);
    if (!base_id) return base_id.error();
    if (!base_id->has_value()) {
      return make_error(ErrorCode::NotFound,
                        "host '" + host.name + "' (scenario " + scenario.id + ") builds FROM '" + base +
                            "', which is not on the Docker engine" +
                            (base == "breakfix/base:bookworm" ? ": build it with 'breakfix image base'" : ""));
    }
    fingerprint += base + "=" + **base_id + "\n";
  }
  const std::string tag = built_image_tag(scenario.id, host.name, archive::sha256_hex(fingerprint));
  auto existing = runtime_.image_id(tag);
  if (!existing) return existing.error();
  if (existing->has_value()) {
    if (progress) progress("image " + tag + " is up to date");
    return tag;
  }
  if (progress) progress("building " + tag + " from " + host.build_context.string());
  if (Status built = runtime_.build_image(host.build_context, tag, progress); !built) return built.error();
  return tag;
}

Result<Lab> LabProvisioner::provision(const Scenario& scenario, const std::string& session_id,
                                      const ProgressFn& progress) {
  if (!is_safe_session_id(session_id)) {
    return make_error(ErrorCode::Invalid, "session id '" + session_id + "' must be 1 to 64 of a-z, 0-9 and '-'");
  }
  if (scenario.network == NetworkMode::Outside && !options_.allow_outside_network) {
    return make_error(ErrorCode::PermissionDenied, "scenario " + scenario.id +
                                                       " asks for network: outside, which this daemon does not allow");
  }
  std::vector<std::string> images;
  for (const Host& host : scenario.hosts) {
    auto image = ensure_image(scenario, host, progress);
    if (!image) return image.error();
    images.push_back(*image);
  }

  // The grader's tools (toolbox.h), mounted read-only in every host.
  auto toolbox = ensure_toolbox_volume(runtime_, progress);
  if (!toolbox) return toolbox.error();

  Lab lab;
  lab.session_id = session_id;
  // Whatever fails from here on, nothing of this session may stay behind.
  auto fail = [&](const Error& error) -> Result<Lab> {
    (void)remove_session(session_id);
    return error;
  };
  if (scenario.network != NetworkMode::None) {
    NetworkSpec network;
    network.name = lab_network_name(session_id);
    network.kind = scenario.network == NetworkMode::Outside ? NetworkKind::Outside : NetworkKind::Internal;
    network.labels = session_labels(session_id);
    network.labels[kLabelScenario] = scenario.id;
    auto created = runtime_.create_network(network);
    if (!created) return fail(created.error());
    lab.network = network.name;
  }
  for (std::size_t i = 0; i < scenario.hosts.size(); ++i) {
    const Host& host = scenario.hosts[i];
    ContainerSpec spec;
    spec.name = lab_container_name(session_id, host.name);
    spec.image = images[i];
    spec.hostname = host.name;
    // PID 1 is the toolbox's shell too: replacing /bin/sh or sleep cannot touch it.
    spec.command = {kToolboxBusybox, "sh", "-c", kLabInitScript};
    spec.systemd = host.init == HostInit::Systemd;
    spec.volumes.push_back(toolbox_mount(*toolbox));
    spec.capabilities = host.capabilities;
    spec.network = lab.network;
    if (!lab.network.empty()) spec.aliases = {host.name};
    if (scenario.network == NetworkMode::Internal) spec.dns = {"127.0.0.1"};
    spec.cpus = host.resources.cpus;
    spec.memory_bytes = host.resources.memory_bytes;
    spec.pids = host.resources.pids;
    spec.open_files = open_files_limit();
    for (const Tmpfs& tmpfs : host.tmpfs) spec.tmpfs.push_back({tmpfs.path, tmpfs.size_bytes, tmpfs.inodes, tmpfs.mode});
    spec.labels = session_labels(session_id);
    spec.labels[kLabelHost] = host.name;
    spec.labels[kLabelScenario] = scenario.id;
    if (host.entry) spec.labels[kLabelEntry] = "true";
    if (progress) progress("creating host " + host.name);
    auto id = runtime_.create_container(spec);
    if (!id) return fail(id.error());
    lab.hosts.push_back({host.name, *id, spec.name, host.entry});
    if (Status started = runtime_.start_container(*id); !started) return fail(started.error());
  }
  return lab;
}

Status LabProvisioner::remove_session(const std::string& session_id) {
  Status first_error;
  auto keep_first = [&](Status status) {
    if (!status && first_error && status.error().code != ErrorCode::NotFound) first_error = status;
  };
  auto containers = runtime_.list_containers({{kLabelSession, session_id}});
  if (!containers) return containers.error();
  for (const ContainerInfo& container : *containers) keep_first(runtime_.remove_container(container.id));
  auto networks = runtime_.list_networks({{kLabelSession, session_id}});
  if (!networks) return networks.error();
  for (const NetworkInfo& network : *networks) keep_first(runtime_.remove_network(network.id));
  // Images after containers: an image a container was created from cannot go.
  auto images = runtime_.list_images({{kLabelSession, session_id}});
  if (!images) return images.error();
  for (const ImageInfo& image : *images) keep_first(runtime_.remove_image(image.id));
  return first_error;
}

Result<std::string> LabProvisioner::snapshot_host(const std::string& session_id, const LabHost& host) {
  Labels labels = session_labels(session_id);
  labels[kLabelSnapshotOf] = host.name;
  return runtime_.commit_container(host.container_id, lab_snapshot_tag(session_id, host.name), labels);
}

Result<std::string> LabProvisioner::open_snapshot(const std::string& session_id, const std::string& host_name,
                                                  const std::string& image) {
  Labels labels = session_labels(session_id);
  labels[kLabelSnapshotOf] = host_name;
  auto stale = runtime_.list_containers(labels);
  if (!stale) return stale.error();
  for (const ContainerInfo& container : *stale) {
    if (Status removed = runtime_.remove_container(container.id); !removed && removed.error().code != ErrorCode::NotFound) {
      return removed.error();
    }
  }
  ContainerSpec spec;
  spec.name = lab_container_name(session_id, host_name) + ".ready";  // host names have no '.'
  spec.image = image;
  spec.hostname = host_name;
  spec.labels = labels;
  return runtime_.create_container(spec);
}

Result<GarbageReport> LabProvisioner::collect_garbage(const std::set<std::string>& live_sessions, bool dry_run) {
  return collect_garbage_unless([&](const std::string& id) { return live_sessions.count(id) > 0; }, dry_run);
}

Result<GarbageReport> LabProvisioner::collect_garbage_unless(const std::function<bool(const std::string&)>& live,
                                                             bool dry_run) {
  GarbageReport report;
  auto orphaned = [&](const Labels& labels) {
    auto session = labels.find(kLabelSession);
    return session == labels.end() || !live(session->second);
  };
  // Images are listed first: a snapshot that lives in its container (LXD's) goes with the
  // container, and is still reported as collected.
  auto images = runtime_.list_images({{kLabelManaged, "true"}});
  if (!images) return images.error();
  auto containers = runtime_.list_containers({{kLabelManaged, "true"}});
  if (!containers) return containers.error();
  for (const ContainerInfo& container : *containers) {
    if (!orphaned(container.labels)) continue;
    if (!dry_run) {
      if (Status removed = runtime_.remove_container(container.id); !removed && removed.error().code != ErrorCode::NotFound) {
        report.left.push_back("container " + container.name + ": " + removed.error().message);
        continue;
      }
    }
    report.containers.push_back(container.name);
  }
  auto unreachable = runtime_.unreachable_containers();
  if (!unreachable) return unreachable.error();
  for (const std::string& what : *unreachable) report.left.push_back("container " + what);
  // Networks after containers: a network with containers attached cannot go.
  auto networks = runtime_.list_networks({{kLabelManaged, "true"}});
  if (!networks) return networks.error();
  for (const NetworkInfo& network : *networks) {
    if (!orphaned(network.labels)) continue;
    if (!dry_run) {
      if (Status removed = runtime_.remove_network(network.id); !removed && removed.error().code != ErrorCode::NotFound) {
        report.left.push_back("network " + network.name + ": " + removed.error().message);
        continue;
      }
    }
    report.networks.push_back(network.name);
  }
  // Images last (containers made from them are gone by now). Only sessions' snapshots:
  // images built from scenarios are labelled managed too, but belong to no session.
  for (const ImageInfo& image : *images) {
    if (!image.labels.count(kLabelSession) || !orphaned(image.labels)) continue;
    if (!dry_run) {
      if (Status removed = runtime_.remove_image(image.id); !removed && removed.error().code != ErrorCode::NotFound) {
        report.left.push_back("image " + (image.tags.empty() ? image.id : image.tags.front()) + ": " +
                              removed.error().message);
        continue;
      }
    }
    report.images.push_back(image.tags.empty() ? image.id : image.tags.front());
  }
  return report;
}

Result<Lab> LabProvisioner::find_lab(const std::string& session_id) {
  auto containers = runtime_.list_containers({{kLabelSession, session_id}});
  if (!containers) return containers.error();
  if (containers->empty()) return make_error(ErrorCode::NotFound, "no hosts of session " + session_id + " on the engine");
  Lab lab;
  lab.session_id = session_id;
  for (const ContainerInfo& container : *containers) {
    auto host = container.labels.find(kLabelHost);
    // A snapshot's reader inherits the host's labels from the image it was made from.
    if (host == container.labels.end() || container.labels.count(kLabelSnapshotOf)) continue;
    auto entry = container.labels.find(kLabelEntry);
    lab.hosts.push_back({host->second, container.id, container.name, entry != container.labels.end()});
  }
  auto networks = runtime_.list_networks({{kLabelSession, session_id}});
  if (!networks) return networks.error();
  if (!networks->empty()) lab.network = networks->front().name;
  return lab;
}

}  // namespace breakfix
