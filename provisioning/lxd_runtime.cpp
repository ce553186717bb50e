// The Runtime over LXD's REST API (docs/runtime.md, "LXD"). Every call opens its own
// connection to LXD's unix socket, as the Docker backend does; LXD's background
// operations are waited for with a bound.

#include "breakfix/lxd_runtime.h"
#include "breakfix/toolbox.h"
#include "breakfix/base_image.h"
#include "breakfix/docker_runtime.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "breakfix/percent_encoding.h"
#include "docker_requests.h"
#include "host_tree.h"
#include "lxd_build.h"
#include "lxd_client.h"
#include "lxd_exec.h"
#include "lxd_hosts.h"
#include "lxd_image.h"
#include "lxd_network.h"
#include "lxd_requests.h"
#include "mount_table.h"
#include "scratch_dir.h"
#include "random_hex.h"
#include "tar_archive.h"

namespace breakfix {
namespace {

namespace fs = std::filesystem;
using lxd::Client;
using lxd::Account;
using lxd::find_account;
using lxd::instance_name;
using lxd::kKeyImage;
using lxd::kKeyName;
using lxd::kKeyNetwork;
using lxd::labels_of;
using lxd::state_of;
using lxd::string_at;
using lxd::Method;
using lxd::MountTable;
using nlohmann::json;

constexpr std::chrono::seconds kKillBound{5};

// A whole decimal number from an instance's config (a time, an id), nullopt for anything
// else: the config is LXD's, and an admin may have edited it; std::stoll would throw.
std::optional<std::int64_t> config_number(const std::string& text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}
// How a snapshot is named where an image id goes: "lxd-snapshot:<instance>/<snapshot>".
constexpr const char* kSnapshotScheme = "lxd-snapshot:";
constexpr std::chrono::seconds kBootBound{90};

std::string path_of(const std::string& name) { return percent_encode(name); }

bool matches(const Labels& labels, const Labels& match) {
  return std::all_of(match.begin(), match.end(), [&](const auto& pair) {
    auto found = labels.find(pair.first);
    return found != labels.end() && found->second == pair.second;
  });
}

// A grader's exec from the toolbox, whose exit status counts only if the lab's mounts did
// not change while it ran: a mount over the toolbox made after the check before it, and
// undone before the end, would otherwise go unseen.
class ToolboxCheckedExec : public ExecStream {
 public:
  // `strict`: the lab has been open to a candidate, so any change of its mounts while the
  // tool ran refuses the result. Before (setup, faults, precheck: the author's scripts
  // alone, which may mount, as a /var/log of its own), the toolbox only has to be intact
  // at the end (`recheck`).
  ToolboxCheckedExec(std::unique_ptr<ExecStream> inner, std::unique_ptr<lxd::LabMounts> mounts, std::string host,
                     bool strict, std::function<Status()> recheck)
      : inner_(std::move(inner)), mounts_(std::move(mounts)), host_(std::move(host)), strict_(strict),
        recheck_(std::move(recheck)) {}
  int poll_fd() const override { return inner_->poll_fd(); }
  Result<bool> read_output(const std::function<void(OutputStream, std::string_view)>& sink) override {
    return inner_->read_output(sink);
  }
  Result<std::size_t> write_some_stdin(std::string_view data) override { return inner_->write_some_stdin(data); }
  Status close_stdin() override { return inner_->close_stdin(); }
  Status resize(TerminalSize size) override { return inner_->resize(size); }
  Result<int> exit_code() override {
    auto code = inner_->exit_code();
    if (!code) return code;
    auto changed = mounts_->changed();
    if (!changed) {
      return make_error(ErrorCode::Tampered, "cannot tell whether the mounts in " + host_ + " changed while a "
                                             "grader's tool ran there (" + changed.error().message + ")");
    }
    if (!*changed) return code;
    if (strict_) {
      return make_error(ErrorCode::Tampered, "the mounts in " + host_ + " changed while a grader's tool ran "
                                                     "there, so what it found cannot be trusted");
    }
    if (Status intact = recheck_(); !intact) return intact.error();
    return code;
  }
  Status kill() override { return inner_->kill(); }

 private:
  std::unique_ptr<ExecStream> inner_;
  std::unique_ptr<lxd::LabMounts> mounts_;
  std::string host_;
  bool strict_;
  std::function<Status()> recheck_;
};

class LxdRuntime : public Runtime {
 public:
  explicit LxdRuntime(const LxdOptions& options)
      : options_(options), client_({options.socket_path, options.io_timeout, options.operation_timeout}) {}

  Status ping() override {
    auto server = client_.call(Method::Get, "/1.0", "LXD");
    if (!server) return server.error();
    if (string_at(*server, "auth") != "trusted") {
      return make_error(ErrorCode::PermissionDenied, "LXD at " + options_.socket_path + " does not trust this client");
    }
    auto pool = client_.call(Method::Get, "/1.0/storage-pools/" + path_of(options_.pool), "storage pool " + options_.pool);
    if (!pool) {
      return make_error(pool.error().code, pool.error().message + " (run 'bash provisioning/setup-lxd.sh', or set "
                                                                 "runtime.lxd.pool)");
    }
    return {};
  }

  // --- images --------------------------------------------------------------------------

  Result<std::optional<std::string>> image_id(const std::string& reference) override {
    if (const auto [name, snapshot] = split_snapshot(reference); !snapshot.empty()) {
      auto found = client_.call(Method::Get, "/1.0/instances/" + path_of(name) + "/snapshots/" + path_of(snapshot),
                                "snapshot " + reference);
      if (found) return std::optional<std::string>(reference);
      if (found.error().code == ErrorCode::NotFound) return std::optional<std::string>();
      return found.error();
    }
    auto alias = client_.call(Method::Get, "/1.0/images/aliases/" + path_of(reference), "image " + reference);
    if (alias) return std::optional<std::string>(string_at(*alias, "target"));
    if (alias.error().code != ErrorCode::NotFound) return alias.error();
    auto image = client_.call(Method::Get, "/1.0/images/" + path_of(reference), "image " + reference);
    if (image) return std::optional<std::string>(string_at(*image, "fingerprint"));
    if (image.error().code == ErrorCode::NotFound || image.error().code == ErrorCode::Invalid) {
      return std::optional<std::string>();
    }
    return image.error();
  }

  // LXD has no builder: Docker builds, LXD imports the flattened file system (lxd_build.h).
  Status build_image(const fs::path& context_dir, const std::string& tag, const ProgressFn& progress) override {
    // One build of a tag at a time (a refill starts several labs of one scenario): the
    // next finds the image made and uses it.
    std::shared_ptr<std::mutex> build_mutex;
    {
      std::lock_guard lock(builds_mutex_);
      auto& mutex = builds_[tag];
      if (!mutex) mutex = std::make_shared<std::mutex>();
      build_mutex = mutex;
    }
    std::lock_guard build_lock(*build_mutex);
    auto made = image_id(tag);
    if (!made) return made.error();
    if (made->has_value()) {
      if (progress) progress("[lxd build] " + tag + " was built meanwhile");
      return {};
    }
    DockerOptions docker_options;
    docker_options.socket_path = options_.builder_docker_socket;
    const std::unique_ptr<Runtime> docker = make_docker_runtime(docker_options);
    if (Status up = docker->ping(); !up) {
      return make_error(up.error().code, "cannot build " + context_dir.string() + " for LXD: its builder is "
                                             "Docker's, which does not answer (" + up.error().message + ")");
    }
    auto base = image_id(kBaseImageTag);
    if (!base) return base.error();
    fs::path store = lxd_images_dir();
    if (base->has_value()) {
      auto copy = image_store(**base);
      if (!copy) return copy.error();
      store = *copy;
    }
    const lxd::BuildOnDocker with{*docker, options_.builder_docker_socket, store, base->value_or(""),
                                  options_.work_dir};
    return lxd::build_on_docker(with, context_dir, tag, progress, [&](const fs::path& rootfs_tar) {
      return import_image(rootfs_tar, tag, {std::string("LABEL ") + kLabelManaged + "=true"}, progress);
    });
  }

  Status import_image(const fs::path& rootfs_tar, const std::string& tag, const std::vector<std::string>& changes,
                      const ProgressFn& progress) override {
    Labels properties = {{"description", tag}};
    for (const std::string& change : changes) {
      // Docker's LABEL lines become image properties; ENV and CMD have no LXD image
      // counterpart (the backend sets an exec's environment itself).
      if (change.rfind("LABEL ", 0) != 0) continue;
      const std::string pair = change.substr(6);
      const auto equals = pair.find('=');
      if (equals != std::string::npos) properties[pair.substr(0, equals)] = pair.substr(equals + 1);
    }
    auto scratch = ScratchDir::make(options_.work_dir, "breakfix-lxd-image");
    if (!scratch) return scratch.error();
    const fs::path unified = scratch->path() / "image.tar";
    if (progress) progress("packing " + tag + " for LXD");
    if (Status made = lxd::make_unified_image(rootfs_tar, unified, properties); !made) return made;
    if (progress) progress("importing " + tag + " into LXD");
    auto imported = client_.upload("/1.0/images", unified, "import image " + tag);
    if (!imported) return imported.error();
    const std::string fingerprint = string_at(*imported, "fingerprint");
    if (fingerprint.empty()) return make_error(ErrorCode::Internal, "import image " + tag + ": LXD named no fingerprint");
    return point_alias(tag, fingerprint);
  }

  Status remove_image(const std::string& reference) override {
    if (const auto [name, snapshot] = split_snapshot(reference); !snapshot.empty()) {
      auto removed = client_.call(Method::Delete, "/1.0/instances/" + path_of(name) + "/snapshots/" + path_of(snapshot),
                                  "remove snapshot " + reference);
      if (!removed && removed.error().code != ErrorCode::NotFound) return removed.error();
      Status forgotten = forget_snapshot(name, snapshot);
      return removed ? forgotten : Status(removed.error());
    }
    auto id = image_id(reference);
    if (!id) return id.error();
    if (!id->has_value()) return make_error(ErrorCode::NotFound, "image " + reference + " not found");
    auto removed = client_.call(Method::Delete, "/1.0/images/" + **id, "remove image " + reference);
    return removed ? Status() : Status(removed.error());
  }

  // --- networks ------------------------------------------------------------------------

  Result<std::string> create_network(const NetworkSpec& spec) override {
    // Fail closed: a bridge without the firewall would let a lab's root reach the host.
    auto host = hosts();
    if (!host) return host.error();
    if (Status firewall = (*host)->ensure_firewall(); !firewall) return firewall.error();
    std::lock_guard lock(networks_mutex_);
    auto networks = client_.call(Method::Get, "/1.0/networks?recursion=1", "list networks");
    if (!networks) return networks.error();
    std::set<std::string> used = lxd::host_subnets();
    for (const json& network : *networks) {
      if (network.is_object()) used.insert(string_at(network.value("config", json::object()), lxd::kKeySubnet));
    }
    const auto subnet = lxd::pick_subnet(used, std::random_device{}());
    if (!subnet) return make_error(ErrorCode::Unavailable, "network " + spec.name + ": no free /24 in 10.200.0.0/13");
    const json body = lxd::network_create_body(spec, *subnet);
    const std::string bridge = body["name"].get<std::string>();
    if (clustered_) {
      // A cluster makes a network on every member: first each member's part (LXD's
      // "pending" network), then the whole. The session's hosts are all placed on one
      // member (create_container), whose bridge they share; the others' stay idle.
      // (An offline member gets none: LXD may then refuse the whole, and a session of
      // several hosts cannot start until the member is back or removed from the cluster.)
      auto members = client_.call(Method::Get, "/1.0/cluster/members?recursion=1", "create network " + spec.name);
      if (!members) return members.error();
      for (const json& member : *members) {
        if (string_at(member, "status") == "Offline") continue;
        const std::string name = string_at(member, "server_name");
        auto pending = client_.call(Method::Post, "/1.0/networks?target=" + percent_encode(name),
                                    "create network " + spec.name + " on " + name,
                                    json{{"name", bridge}, {"type", body.value("type", "bridge")}, {"config", json::object()}});
        if (!pending) {
          (void)client_.call(Method::Delete, "/1.0/networks/" + path_of(bridge), "remove network " + spec.name);
          return pending.error();
        }
      }
    }
    auto created = client_.call(Method::Post, "/1.0/networks", "create network " + spec.name, body);
    if (!created) {
      if (clustered_) (void)client_.call(Method::Delete, "/1.0/networks/" + path_of(bridge), "remove network " + spec.name);
      return created.error();
    }
    return bridge;
  }

  Status remove_network(const std::string& id_or_name) override {
    const std::string bridge = network_name_of(id_or_name);
    {
      std::lock_guard lock(networks_mutex_);
      hosts_mutexes_.erase(bridge);
    }
    auto removed = client_.call(Method::Delete, "/1.0/networks/" + path_of(bridge),
                                "remove network " + id_or_name);
    return removed ? Status() : Status(removed.error());
  }

  Result<std::vector<NetworkInfo>> list_networks(const Labels& match) override {
    auto networks = client_.call(Method::Get, "/1.0/networks?recursion=1", "list networks");
    if (!networks) return networks.error();
    std::vector<NetworkInfo> out;
    for (const json& network : *networks) {
      if (!network.is_object() || !network.contains("config")) continue;
      NetworkInfo info;
      info.id = string_at(network, "name");
      info.name = string_at(network["config"], kKeyNetwork);
      if (info.name.empty()) continue;  // not breakfix's
      info.labels = labels_of(network["config"]);
      if (matches(info.labels, match)) out.push_back(std::move(info));
    }
    return out;
  }

  // --- containers ----------------------------------------------------------------------

  Result<std::string> create_container(const ContainerSpec& spec) override {
    // A container from a snapshot is only ever its reader (LabProvisioner::open_snapshot):
    // the snapshot is read where it lies, without a copy of it.
    if (!split_snapshot(spec.image).second.empty()) {
      auto found = image_id(spec.image);
      if (!found) return found.error();
      if (!found->has_value()) return make_error(ErrorCode::NotFound, "snapshot " + spec.image + " not found");
      return spec.image;
    }
    const std::string name = instance_name(spec.name);
    if (auto host = hosts(); !host) return host.error();  // and whether LXD is a cluster
    std::vector<std::string> volume_sources;
    for (const VolumeMount& mount : spec.volumes) {
      auto source = volume_source(mount, spec.image);
      if (!source) return source.error();
      volume_sources.push_back(*source);
    }
    auto image = image_id(spec.image);
    if (!image) return image.error();
    if (!image->has_value()) {
      return make_error(ErrorCode::NotFound, "image " + spec.image + " is not in LXD (build it: breakfix image base "
                                                                      "--backend lxd)");
    }
    // On a network: its address, kept in the network's config with its names, so that
    // every host of the session has them in /etc/hosts.
    std::shared_ptr<std::mutex> network_mutex;
    std::unique_lock<std::mutex> network_lock;
    std::string bridge, subnet, address;
    lxd::NetworkHosts hosts;
    if (!spec.network.empty()) {
      bridge = network_name_of(spec.network);
      network_mutex = hosts_mutex_of(bridge);
      network_lock = std::unique_lock(*network_mutex);
      auto network = client_.call(Method::Get, "/1.0/networks/" + path_of(bridge), "network " + spec.network);
      if (!network) return network.error();
      const json network_config = network->value("config", json::object());
      subnet = string_at(network_config, lxd::kKeySubnet);
      hosts = lxd::parse_hosts(string_at(network_config, lxd::kKeyHosts));
      auto next = lxd::next_address(subnet, hosts);
      if (subnet.empty() || !next) {
        return make_error(ErrorCode::Unavailable, "container " + spec.name + ": no free address on network " + spec.network);
      }
      address = *next;
    }
    json body = lxd::instance_create_body(spec, **image, options_.pool, volume_sources, bridge, address);
    // LXD 5.0.2 picks each isolated lab's ids itself, but under concurrent starts it picked
    // [65536, 131072) here, outside root's subordinate ids, and the start failed
    // ("newuidmap: ... not allowed"). The backend picks them, one range per lab.
    std::unique_lock ids_lock(ids_mutex_);
    auto base = pick_id_base();
    if (!base) return base.error();
    if (*base) body["config"]["security.idmap.base"] = std::to_string(**base);
    // In a cluster LXD places a lab; the other hosts of its session go where the first
    // went, on the member whose bridge is theirs.
    std::string target;
    if (clustered_ && !hosts.empty()) {
      auto first = client_.call(Method::Get, "/1.0/instances/" + path_of(hosts.begin()->first), "container " + spec.name);
      if (!first) return first.error();
      target = "?target=" + percent_encode(member_of(*first));
    }
    auto created = client_.call(Method::Post, "/1.0/instances" + target, "create container " + spec.name, body);
    ids_lock.unlock();
    if (!created) return created.error();
    // The hostname: LXD names the UTS namespace after the instance (raw.lxc above says
    // otherwise), but systemd sets it from /etc/hostname at boot. An image without /etc
    // (the toolbox's, whose container only fills a volume and never starts) needs none.
    const std::string hostname = spec.hostname.empty() ? name : spec.hostname;
    std::map<std::string, std::string> files = {{"/etc/hostname", hostname + "\n"}};
    if (!spec.network.empty()) {
      lxd::NetworkHost self{address, spec.aliases};
      if (std::find(self.names.begin(), self.names.end(), hostname) == self.names.end()) self.names.push_back(hostname);
      hosts[name] = self;
      auto kept = client_.call(Method::Patch, "/1.0/networks/" + path_of(bridge), "network " + spec.network,
                               json{{"config", {{lxd::kKeyHosts, lxd::dump_hosts(hosts)}}}});
      if (!kept) {
        (void)remove_container(name);
        return kept.error();
      }
      const std::string gateway = subnet + ".1";
      files.merge(lxd::address_unit_files(address, gateway));
      files["/etc/resolv.conf"] = lxd::resolv_conf(spec.dns, gateway);
    }
    files["/etc/hosts"] = lxd::hosts_file(hostname, hosts);
    for (const auto& [path, content] : files) {
      const std::string dir = fs::path(path).parent_path().string();
      if (dir.size() > 4 && !client_.read_file(name, dir)) (void)client_.make_directory(name, dir);
      Status written = client_.write_file(name, path, content);
      if (!written && written.error().code != ErrorCode::NotFound) {
        (void)remove_container(name);
        return written.error();
      }
    }
    // The session's other hosts learn this one's names (before any candidate logs in:
    // the engine makes a lab's hosts before it opens any).
    for (const auto& [other, host] : hosts) {
      if (other == name) continue;
      auto other_hostname = client_.read_file(other, "/etc/hostname");
      if (!other_hostname) continue;  // gone: its entry is only a name nobody has
      std::string other_name = *other_hostname;
      while (!other_name.empty() && (other_name.back() == '\n' || other_name.back() == ' ')) other_name.pop_back();
      Status written = client_.write_file(other, "/etc/hosts", lxd::hosts_file(other_name, hosts));
      if (!written && written.error().code != ErrorCode::NotFound) return written.error();
    }
    return name;
  }

  Status start_container(const std::string& id) override {
    if (Status changed = change_state(id, "start"); !changed) return changed;
    if (Status booted = wait_for_boot(id); !booted) return booted;
    return note_first_start(id);
  }
  Status pause_container(const std::string& id) override { return change_state(id, "freeze"); }
  Status unpause_container(const std::string& id) override { return change_state(id, "unfreeze"); }

  Status remove_container(const std::string& id) override {
    if (!split_snapshot(id).second.empty()) return {};  // a snapshot's reader: the snapshot stays an image
    const std::string name = instance_name_of(id);
    auto stopped = client_.call(Method::Put, "/1.0/instances/" + path_of(name) + "/state", "stop " + id,
                                json{{"action", "stop"}, {"force", true}, {"timeout", 30}});
    if (!stopped && stopped.error().code == ErrorCode::NotFound) return stopped.error();
    auto removed = client_.call(Method::Delete, "/1.0/instances/" + path_of(name), "remove " + id);
    return removed ? Status() : Status(removed.error());
  }

  Result<ContainerInfo> inspect_container(const std::string& id) override {
    const std::string name = instance_name_of(id);
    // In a cluster, an instance whose member went away is told by the list, at once; LXD
    // answers the instance itself only after a timeout, with "Missing event connection".
    if (auto host = hosts(); host && clustered_) {
      auto lost = lost_instances();
      if (!lost) return lost.error();
      if (auto found = lost->find(name); found != lost->end()) {
        ContainerInfo info;
        info.id = info.name = name;
        info.state = ContainerState::Dead;
        info.lost = found->second;
        return info;
      }
    }
    auto instance = client_.call(Method::Get, "/1.0/instances/" + path_of(name) + "?recursion=1", "inspect " + id);
    if (!instance) return instance.error();
    return info_of(*instance);
  }

  Result<std::vector<std::string>> unreachable_containers() override {
    auto host = hosts();
    if (!host) return host.error();
    std::vector<std::string> out;
    if (!clustered_) return out;
    auto lost = lost_instances();
    if (!lost) return lost.error();
    for (const auto& [name, why] : *lost) out.push_back(name + " (" + why + ")");
    return out;
  }

  // The dir pool measures no usage and sets no quota: the disk a lab wrote is read on the
  // host, as its changes are (host_tree.h), for the engine's disk watchdog.
  Result<std::uint64_t> writable_layer_bytes(const std::string& id) override {
    const std::string name = instance_name_of(id);
    auto instance = client_.call(Method::Get, "/1.0/instances/" + path_of(name), "disk of " + id);
    if (!instance) return instance.error();
    const std::string started = string_at(instance->value("config", json::object()), lxd::kKeyStarted);
    if (started.empty()) return make_error(ErrorCode::Conflict, "disk of " + id + ": it has not been started");
    auto files = files_of(*instance, "");
    if (!files) return files.error();
    const auto since = config_number(started);
    if (!since) return make_error(ErrorCode::Internal, "disk of " + id + ": " + lxd::kKeyStarted + " is not a number");
    return (*hosts())->written_bytes(*files, *since);
  }

  Result<std::vector<ContainerInfo>> list_containers(const Labels& match) override {
    auto instances = client_.call(Method::Get, "/1.0/instances?recursion=2", "list containers");
    if (!instances) return instances.error();
    std::vector<ContainerInfo> out;
    for (const json& instance : *instances) {
      if (!instance.is_object() || string_at(instance.value("config", json::object()), kKeyName).empty()) continue;
      ContainerInfo info = info_of(instance);
      if (matches(info.labels, match)) out.push_back(std::move(info));
    }
    return out;
  }

  Result<bool> has_volume(const std::string& name) override {
    auto host = hosts();
    if (!host) return host.error();
    return (*host)->has_volume(name);
  }

  Status remove_volume(const std::string& name) override {
    auto host = hosts();
    if (!host) return host.error();
    return (*host)->remove_volume(name);
  }

  // --- execs ---------------------------------------------------------------------------

  Result<std::unique_ptr<ExecStream>> start_exec(const ExecSpec& spec) override { return start_exec_as(spec, false); }

 private:
  // `own`: the backend's own probe at boot, which opens the lab to no one.
  Result<std::unique_ptr<ExecStream>> start_exec_as(const ExecSpec& spec, bool own) {
    const std::string name = instance_name_of(spec.container);
    Account account;
    if (spec.user != "root" && spec.user != "0" && !spec.user.empty()) {
      auto passwd = client_.read_file(name, "/etc/passwd");
      if (!passwd) return passwd.error();
      auto found = find_account(*passwd, spec.user);
      if (!found) return make_error(ErrorCode::Invalid, "exec in " + spec.container + ": no user '" + spec.user + "' in /etc/passwd");
      account = *found;
    }
    // The grader's own tools: only from the toolbox the backend mounted (toolbox_cover).
    const bool toolbox = !spec.command.empty() && spec.command.front().rfind(std::string(kToolboxDir) + "/", 0) == 0;
    std::unique_ptr<lxd::LabMounts> mounts;
    bool strict = false;
    if (toolbox) {
      auto intact = verify_toolbox(name, &strict);
      if (!intact) return intact.error();
      mounts = std::move(*intact);
    } else if (!own) {
      if (Status opened = note_opened(name); !opened) return opened.error();
    }
    const std::string marker = random_hex(16);
    json environment = {{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                        {"LANG", "C.UTF-8"},
                        {"HOME", account.home},
                        {"USER", spec.user.empty() ? "root" : spec.user}};
    if (spec.tty) environment["TERM"] = "xterm-256color";
    for (const std::string& pair : spec.env) {
      const auto equals = pair.find('=');
      if (equals != std::string::npos) environment[pair.substr(0, equals)] = pair.substr(equals + 1);
    }
    environment[kExecMarkerVariable] = marker;
    json body = {{"command", spec.command},
                 {"environment", environment},
                 {"wait-for-websocket", true},
                 {"interactive", spec.tty},
                 {"record-output", false},
                 {"user", account.uid},
                 {"group", account.gid},
                 {"cwd", spec.workdir.empty() ? account.home : spec.workdir}};
    if (spec.tty) {
      body["width"] = spec.size.columns;
      body["height"] = spec.size.rows;
    }
    auto stream = lxd::start_exec_stream(client_, "/1.0/instances/" + path_of(name) + "/exec", body,
                                         "exec in " + spec.container, spec.tty, [this, name, marker] {
                                           return kill_marked_processes(*this, name, marker, kKillBound);
                                         });
    if (!stream) {
      // A frozen (paused) or stopped instance runs nothing: the state is wrong, as Docker says.
      const std::string& message = stream.error().message;
      if (message.find("frozen") != std::string::npos || message.find("not running") != std::string::npos) {
        return make_error(ErrorCode::Conflict, message);
      }
      return stream.error();
    }
    if (!toolbox) return stream;
    auto recheck = [this, name]() -> Status {
      auto intact = verify_toolbox(name, nullptr);
      return intact ? Status() : Status(intact.error());
    };
    return std::unique_ptr<ExecStream>(
        std::make_unique<ToolboxCheckedExec>(std::move(*stream), std::move(mounts), name, strict, recheck));
  }

 public:

  // --- the engine's view of files --------------------------------------------------------
  // Read from the host, below the pool's directories (host_tree.h): LXD has no change list
  // and no archive of an instance, and its file API runs inside the instance's mounts.
  // A snapshot is an LXD snapshot of the instance, named "lxd-snapshot:<instance>/<snapshot>";
  // it is its own reader, so creating a container from it makes none.

  Status container_changes(const std::string& id, const std::function<void(const FsChange&)>& visit) override {
    const std::string name = instance_name_of(id);
    auto instance = client_.call(Method::Get, "/1.0/instances/" + path_of(name), "changes of " + id);
    if (!instance) return instance.error();
    const json config = instance->value("config", json::object());
    const std::string started = string_at(config, lxd::kKeyStarted);
    if (started.empty()) return make_error(ErrorCode::Conflict, "changes of " + id + ": it has not been started");
    auto paths = image_paths_of(string_at(config, "volatile.base_image"));
    if (!paths) return make_error(paths.error().code, "changes of " + id + ": " + paths.error().message);
    auto files = files_of(*instance, "");
    if (!files) return files.error();
    const auto since = config_number(started);
    if (!since) return make_error(ErrorCode::Internal, "changes of " + id + ": " + lxd::kKeyStarted + " is not a number");
    return (*hosts())->changes(*files, **paths, *since, visit);
  }

  Result<std::string> commit_container(const std::string& id, const std::string& tag, const Labels& labels) override {
    const std::string name = instance_name_of(id);
    const std::string snapshot = "bf-" + archive::sha256_hex(tag).substr(0, 16);  // a retake replaces it
    const std::string snapshots = "/1.0/instances/" + path_of(name) + "/snapshots";
    const std::string what = "snapshot of " + id + " as " + tag;
    auto old = client_.call(Method::Delete, snapshots + "/" + snapshot, what);
    if (!old && old.error().code != ErrorCode::NotFound) return old.error();
    const std::string key = lxd::kKeySnapshotPrefix + snapshot;
    auto noted = client_.call(Method::Patch, "/1.0/instances/" + path_of(name), what,
                              json{{"config", {{key, json{{"tag", tag}, {"labels", labels}}.dump()}}}});
    if (!noted) return noted.error();
    auto taken = client_.call(Method::Post, snapshots, what, json{{"name", snapshot}, {"stateful", false}});
    if (!taken) {
      (void)forget_snapshot(name, snapshot);
      return taken.error();
    }
    return snapshot_id(name, snapshot);
  }

  Result<std::vector<ImageInfo>> list_images(const Labels& match) override {
    auto images = client_.call(Method::Get, "/1.0/images?recursion=1", "list images");
    if (!images) return images.error();
    std::vector<ImageInfo> out;
    for (const json& image : *images) {
      ImageInfo info;
      info.id = string_at(image, "fingerprint");
      if (image.contains("aliases") && image["aliases"].is_array()) {
        for (const json& alias : image["aliases"]) info.tags.push_back(string_at(alias, "name"));
      }
      if (image.contains("properties") && image["properties"].is_object()) {
        for (const auto& [key, value] : image["properties"].items()) {
          if (value.is_string()) info.labels[key] = value.get<std::string>();
        }
      }
      if (matches(info.labels, match)) out.push_back(std::move(info));
    }
    auto instances = client_.call(Method::Get, "/1.0/instances?recursion=1", "list snapshots");
    if (!instances) return instances.error();
    for (const json& instance : *instances) {
      if (!instance.is_object() || !instance.contains("config") || !instance["config"].is_object()) continue;
      for (const auto& [key, value] : instance["config"].items()) {
        if (key.rfind(lxd::kKeySnapshotPrefix, 0) != 0 || !value.is_string() || value.get<std::string>().empty()) continue;
        const json noted = json::parse(value.get<std::string>(), nullptr, false);
        if (!noted.is_object()) continue;
        ImageInfo info;
        info.id = snapshot_id(string_at(instance, "name"), key.substr(std::strlen(lxd::kKeySnapshotPrefix)));
        info.tags.push_back(string_at(noted, "tag"));
        if (noted.contains("labels") && noted["labels"].is_object()) {
          for (const auto& [label, text] : noted["labels"].items()) {
            if (text.is_string()) info.labels[label] = text.get<std::string>();
          }
        }
        if (matches(info.labels, match)) out.push_back(std::move(info));
      }
    }
    return out;
  }

  Result<bool> read_tree(const std::string& id, const std::string& path, const TreeReadOptions& options,
                         const WantFn& want, const VisitFn& visit) override {
    const auto [name, snapshot] = split_snapshot(id);
    auto instance = client_.call(Method::Get, "/1.0/instances/" + path_of(name), "read " + path + " of " + id);
    if (!instance) return instance.error();
    const json config = instance->value("config", json::object());
    auto ids = lxd::parse_idmap(string_at(config, "volatile.last_state.idmap"));
    if (!ids) return make_error(ids.error().code, "read " + path + " of " + id + ": " + ids.error().message);
    auto files = files_of(*instance, snapshot);
    if (!files) return files.error();
    return (*hosts())->read_tree(*files, path, *ids, options, want, visit);
  }

 private:
  // "lxd-snapshot:<instance>/<snapshot>" -> both; anything else -> {instance name, ""}.
  // (Image aliases have slashes too: "breakfix/base:bookworm".)
  std::pair<std::string, std::string> split_snapshot(const std::string& id) const {
    const auto slash = id.find('/');
    if (id.rfind(kSnapshotScheme, 0) != 0 || slash == std::string::npos) return {instance_name_of(id), ""};
    const std::size_t start = std::strlen(kSnapshotScheme);
    return {id.substr(start, slash - start), id.substr(slash + 1)};
  }
  static std::string snapshot_id(const std::string& instance, const std::string& snapshot) {
    return kSnapshotScheme + instance + "/" + snapshot;
  }

  Status forget_snapshot(const std::string& name, const std::string& snapshot) {
    auto forgotten = client_.call(Method::Patch, "/1.0/instances/" + path_of(name), "forget snapshot " + snapshot,
                                  json{{"config", {{lxd::kKeySnapshotPrefix + snapshot, ""}}}});
    return forgotten ? Status() : Status(forgotten.error());
  }

  // The first boot's end, kept: what changes after it is the lab's (container_changes).
  Status note_first_start(const std::string& id) {
    const std::string name = instance_name_of(id);
    auto instance = client_.call(Method::Get, "/1.0/instances/" + path_of(name), "start " + id);
    if (!instance) return instance.error();
    if (!string_at(instance->value("config", json::object()), lxd::kKeyStarted).empty()) return {};
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &now);  // the clock inode times are taken from
    const std::string started = std::to_string(static_cast<std::int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec);
    json config = {{lxd::kKeyStarted, started}};
    auto table = init_mounts(*instance);
    if (!table) return table.error();
    auto mounts = (*table)->read();
    if (!mounts) return mounts.error();
    if (const std::string toolbox = lxd::mount_id_at(*mounts, kToolboxDir); !toolbox.empty()) {
      config[lxd::kKeyToolboxMount] = toolbox;
    }
    auto noted = client_.call(Method::Patch, "/1.0/instances/" + path_of(name), "start " + id, json{{"config", config}});
    return noted ? Status() : Status(noted.error());
  }

  // An exec not of the grader's tools (a candidate's shell, an interviewer's): from now on
  // the lab holds what someone other than the scenario's author did. Kept in the
  // instance's config, so that a restarted daemon knows it too.
  Status note_opened(const std::string& name) {
    {
      std::lock_guard lock(opened_mutex_);
      if (opened_.count(name)) return {};
    }
    auto noted = client_.call(Method::Patch, "/1.0/instances/" + path_of(name), "exec in " + name,
                              json{{"config", {{lxd::kKeyOpened, "true"}}}});
    if (!noted) return noted.error();
    std::lock_guard lock(opened_mutex_);
    opened_.insert(name);
    return {};
  }

  // The mount table of the lab's init, opened on the machine it runs on: what a grader's
  // exec will see.
  Result<std::unique_ptr<lxd::LabMounts>> init_mounts(const json& instance) {
    const std::string name = string_at(instance, "name");
    auto state = client_.call(Method::Get, "/1.0/instances/" + path_of(name) + "/state", "state of " + name);
    if (!state) return state.error();
    const long pid = state->value("pid", 0L);
    if (pid <= 0) return make_error(ErrorCode::Conflict, name + " is not running");
    auto host = hosts();
    if (!host) return host.error();
    auto table = (*host)->open_mounts(member_of(instance), pid);
    if (!table) return make_error(table.error().code, "the mount table of " + name + "'s init: " + table.error().message);
    return table;
  }

  // Whether the toolbox at kToolboxDir is still the one the backend mounted at the first
  // boot; PermissionDenied, naming what covers it, when the lab's root mounted over it.
  // The table stays open, so that the exec's end can tell whether it changed meanwhile.
  // `opened` (may be null) is set when a candidate's exec has run in the lab (note_opened).
  Result<std::unique_ptr<lxd::LabMounts>> verify_toolbox(const std::string& name, bool* opened) {
    auto instance = client_.call(Method::Get, "/1.0/instances/" + path_of(name), "toolbox of " + name);
    if (!instance) return instance.error();
    const json config = instance->value("config", json::object());
    if (opened) *opened = !string_at(config, lxd::kKeyOpened).empty();
    const std::string expected = string_at(config, lxd::kKeyToolboxMount);
    if (expected.empty()) return make_error(ErrorCode::Invalid, name + " has no toolbox mount on record");
    auto table = init_mounts(*instance);
    if (!table) return table.error();
    auto text = (*table)->read();
    if (!text) return text.error();
    if (const std::string cover = lxd::toolbox_cover(*text, kToolboxDir, expected); !cover.empty()) {
      return make_error(ErrorCode::Tampered, "the toolbox in " + name + " is covered (" + cover +
                                                         "): the lab's root mounted over the grader's tools, so "
                                                         "nothing run from them there can be trusted");
    }
    return table;
  }

  // Where an instance's root file system, or a snapshot's, is: on which member (in a
  // cluster), below the pool's directory there, on a dir or btrfs pool (where each
  // instance and snapshot is a subvolume the host reads as a directory).
  Result<lxd::InstanceFiles> files_of(const json& instance, const std::string& snapshot) {
    {
      std::lock_guard lock(pool_mutex_);
      if (!pool_checked_) {
        auto pool = client_.call(Method::Get, "/1.0/storage-pools/" + path_of(options_.pool), "storage pool " + options_.pool);
        if (!pool) return pool.error();
        const std::string driver = string_at(*pool, "driver");
        if (driver != "dir" && driver != "btrfs") {
          return make_error(ErrorCode::Invalid, "storage pool " + options_.pool + " uses the " + driver +
                                                    " driver: the LXD backend reads labs' files on dir and btrfs pools only");
        }
        pool_checked_ = true;
      }
    }
    auto host = hosts();
    if (!host) return host.error();
    return lxd::InstanceFiles{member_of(instance), string_at(instance, "name"), snapshot};
  }

  // The instances (not the helpers) on members LXD holds offline, by name, each with
  // why. A member that stopped answering a moment ago is not offline yet: LXD waits for
  // cluster.offline_threshold without a heartbeat (20 s by default), so that a blip
  // fails no session.
  Result<std::map<std::string, std::string>> lost_instances() {
    auto members = client_.call(Method::Get, "/1.0/cluster/members?recursion=1", "cluster members");
    if (!members) return members.error();
    std::map<std::string, std::string> offline;  // member -> LXD's message
    for (const json& member : *members) {
      if (string_at(member, "status") == "Offline") offline[string_at(member, "server_name")] = string_at(member, "message");
    }
    std::map<std::string, std::string> lost;
    if (offline.empty()) return lost;
    auto instances = client_.call(Method::Get, "/1.0/instances?recursion=1", "list instances");
    if (!instances) return instances.error();
    for (const json& instance : *instances) {
      const std::string name = string_at(instance, "name");
      auto member = offline.find(member_of(instance));
      // breakfix's labs only (named "breakfix-..."), not its helpers, not an admin's own.
      if (member == offline.end() || name.rfind("breakfix-", 0) != 0 || name.rfind(lxd::kHelperPrefix, 0) == 0) continue;
      lost[name] = "its LXD cluster member " + member->first + " is offline (" + member->second + ")";
    }
    return lost;
  }

  // The member an instance is on; "" when LXD is not a cluster (it says "none").
  static std::string member_of(const json& instance) {
    const std::string location = string_at(instance, "location");
    return location == "none" ? "" : location;
  }

  // The machine labs run on, as the backend reaches it outside LXD's API (lxd_hosts.h):
  // this one, or, when LXD is a cluster, each member through a helper there.
  Result<lxd::HostAccess*> hosts() {
    std::lock_guard lock(hosts_mutex_);
    if (hosts_) return hosts_.get();
    auto server = client_.call(Method::Get, "/1.0", "LXD");
    if (!server) return server.error();
    clustered_ = server->value("environment", json::object()).value("server_clustered", false);
    if (!clustered_) {
      hosts_ = lxd::local_host(fs::path(options_.socket_path).parent_path() / "storage-pools" / options_.pool,
                               options_.volumes_dir);
      return hosts_.get();
    }
    lxd::ClusterOptions cluster;
    cluster.pool = options_.pool;
    cluster.helper_image = kBaseImageTag;
    cluster.helper_binary = options_.hostview_binary;
    if (cluster.helper_binary.empty()) {
      std::error_code ec;
      cluster.helper_binary = fs::read_symlink("/proc/self/exe", ec).parent_path() / "breakfix-hostview";
    }
    cluster.volumes_dir = options_.volumes_dir;
    cluster.work_dir = options_.work_dir;
    hosts_ = lxd::cluster_members(client_, cluster);
    return hosts_.get();
  }

  // A directory on this machine with LXD's files of image `fingerprint` (named as LXD
  // names them): LXD's own store, or, in a cluster, a copy exported through the API
  // (kept: an image's files never change under one fingerprint). The copy fills the
  // grader's toolbox, so it lies in a directory only root may enter, and counts only when
  // its SHA-256 is the fingerprint (a unified image's is; breakfix makes no other kind).
  Result<fs::path> image_store(const std::string& fingerprint) {
    auto host = hosts();
    if (!host) return host.error();
    if (!clustered_) return lxd_images_dir();
    const fs::path dir = options_.volumes_dir.parent_path() / "lxd-images";
    const fs::path file = dir / fingerprint;
    std::lock_guard lock(image_store_mutex_);
    if (verified_images_.count(fingerprint)) return dir;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return make_error(ErrorCode::Failed, "cannot make " + dir.string() + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);
    if (!fs::exists(file, ec)) {
      const fs::path partial = dir / (fingerprint + ".part");
      auto saved = client_.download("/1.0/images/" + path_of(fingerprint) + "/export", partial,
                                    "export image " + fingerprint.substr(0, 12));
      if (!saved) {
        fs::remove(partial, ec);
        return saved.error();
      }
      fs::rename(partial, file, ec);
      if (ec) return make_error(ErrorCode::Failed, "cannot rename " + partial.string() + ": " + ec.message());
    }
    auto digest = archive::sha256_file_hex(file);
    if (!digest) return digest.error();
    if (*digest != fingerprint) {
      fs::remove(file, ec);
      return make_error(ErrorCode::Failed, "image " + fingerprint.substr(0, 12) + ": its export is not that image "
                                           "(removed; a split image, or a file put there by someone else)");
    }
    verified_images_.insert(fingerprint);
    return dir;
  }

  // What the image held, read once per image (about a second for the base image).
  Result<std::shared_ptr<const std::vector<std::string>>> image_paths_of(const std::string& fingerprint) {
    if (fingerprint.empty()) return make_error(ErrorCode::Invalid, "LXD names no image it was made from");
    std::lock_guard lock(manifests_mutex_);
    if (auto found = manifests_.find(fingerprint); found != manifests_.end()) return found->second;
    auto store = image_store(fingerprint);
    if (!store) return store.error();
    auto paths = lxd::image_paths(*store, fingerprint);
    if (!paths) return paths.error();
    auto shared = std::make_shared<const std::vector<std::string>>(std::move(*paths));
    manifests_[fingerprint] = shared;
    return shared;
  }

  // A free range of 65536 ids for a new lab (lxd::pick_id_base); nullopt leaves the choice
  // to LXD, when /etc/subuid and /etc/subgid give root no range.
  Result<std::optional<std::int64_t>> pick_id_base() {
    auto read = [](const char* path) {
      std::ifstream in(path);
      std::ostringstream text;
      text << in.rdbuf();
      return text.str();
    };
    const auto allowed = lxd::root_subordinate_ids(read("/etc/subuid"), read("/etc/subgid"));
    if (!allowed) return std::optional<std::int64_t>();
    auto instances = client_.call(Method::Get, "/1.0/instances?recursion=1", "list instances");
    if (!instances) return instances.error();
    std::vector<std::int64_t> used;
    for (const json& instance : *instances) {
      const json config = instance.value("config", json::object());
      for (const char* key : {"volatile.idmap.base", "security.idmap.base"}) {
        const std::string value = string_at(config, key);
        if (const auto base = config_number(value); base && *base > 0) used.push_back(*base);
      }
    }
    auto base = lxd::pick_id_base(*allowed, used, std::random_device{}());
    if (!base) {
      return make_error(ErrorCode::Unavailable, "no free range of 65536 ids for another lab in root's subordinate ids "
                                                "(/etc/subuid, /etc/subgid)");
    }
    return std::optional<std::int64_t>(*base);
  }

  // An id is the instance's name; callers may also use the spec's name.
  std::string instance_name_of(const std::string& id) const { return instance_name(id); }
  // A network's bridge from its id or its NetworkSpec's name (whose kind the name alone
  // does not say): the internal one's, else the outside one's.
  std::string network_name_of(const std::string& id_or_name) {
    if (lxd::is_session_bridge(id_or_name)) return id_or_name;
    const std::string internal = lxd::network_name(id_or_name, NetworkKind::Internal);
    auto found = client_.call(Method::Get, "/1.0/networks/" + internal, "network " + id_or_name);
    if (found || found.error().code != ErrorCode::NotFound) return internal;
    return lxd::network_name(id_or_name, NetworkKind::Outside);
  }

  // The directory behind a named volume, on every machine labs run on, filled from
  // `image` at the mount's target when it does not exist yet (as Docker fills a new named
  // volume).
  Result<std::string> volume_source(const VolumeMount& mount, const std::string& image) {
    auto host = hosts();
    if (!host) return host.error();
    std::lock_guard lock(volumes_mutex_);
    return (*host)->ensure_volume(mount.volume, [&](const fs::path& dest) -> Status {
      auto fingerprint = image_id(image);
      if (!fingerprint) return fingerprint.error();
      if (!fingerprint->has_value()) return make_error(ErrorCode::NotFound, "image " + image + " is not in LXD");
      auto store = image_store(**fingerprint);
      if (!store) return store.error();
      return lxd::extract_image_subtree(*store, **fingerprint, mount.target, dest);
    });
  }

  fs::path lxd_images_dir() const { return fs::path(options_.socket_path).parent_path() / "images"; }

  Status point_alias(const std::string& alias, const std::string& fingerprint) {
    auto existing = client_.call(Method::Get, "/1.0/images/aliases/" + path_of(alias), "alias " + alias);
    if (existing) {
      const std::string old = string_at(*existing, "target");
      if (old == fingerprint) return {};
      auto moved = client_.call(Method::Put, "/1.0/images/aliases/" + path_of(alias), "alias " + alias,
                                json{{"target", fingerprint}, {"description", ""}});
      if (!moved) return moved.error();
      // The image the alias named before is nobody's now (as a dangling Docker image).
      (void)client_.call(Method::Delete, "/1.0/images/" + old, "remove image " + old);
      return {};
    }
    if (existing.error().code != ErrorCode::NotFound) return existing.error();
    auto added = client_.call(Method::Post, "/1.0/images/aliases", "alias " + alias,
                              json{{"name", alias}, {"target", fingerprint}});
    return added ? Status() : Status(added.error());
  }

  Status change_state(const std::string& id, const std::string& action) {
    auto changed = client_.call(Method::Put, "/1.0/instances/" + path_of(instance_name_of(id)) + "/state",
                                action + " " + id, json{{"action", action}, {"timeout", 30}});
    return changed ? Status() : Status(changed.error());
  }

  // A lab is ready once its systemd has finished booting: setup scripts then find their
  // units loaded. Without systemd (lxc.init.cmd), once init runs.
  Status wait_for_boot(const std::string& id) {
    const auto give_up = std::chrono::steady_clock::now() + kBootBound;
    std::string last;
    while (std::chrono::steady_clock::now() < give_up) {
      ExecSpec probe;
      probe.container = id;
      probe.command = {"/bin/systemctl", "is-system-running", "--wait"};
      auto stream = start_exec_as(probe, true);
      if (!stream) return stream.error();
      std::string output;
      bool ended = false;
      while (std::chrono::steady_clock::now() < give_up) {
        pollfd pfd{(*stream)->poll_fd(), POLLIN, 0};
        ::poll(&pfd, 1, 1000);
        auto more = (*stream)->read_output([&](OutputStream, std::string_view data) { output.append(data); });
        if (!more) return more.error();
        if (!*more) {
          ended = true;
          break;
        }
      }
      if (!ended) break;
      auto code = (*stream)->exit_code();
      if (!code) return code.error();
      if (*code == 127 || *code == 126) return {};  // no systemd in this image: init runs
      last = output.substr(0, output.find('\n'));
      if (last == "running" || last == "degraded") return {};
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return make_error(ErrorCode::Timeout, "container " + id + " did not finish booting within " +
                                              std::to_string(kBootBound.count()) + " s (systemd says: " + last + ")");
  }

  static ContainerInfo info_of(const json& instance) {
    ContainerInfo info;
    const json config = instance.value("config", json::object());
    info.id = string_at(instance, "name");
    info.name = string_at(config, kKeyName);
    if (info.name.empty()) info.name = info.id;
    info.image = string_at(config, kKeyImage);
    info.labels = labels_of(config);
    const std::string network = string_at(config, kKeyNetwork);
    if (!network.empty()) info.addresses[network] = string_at(config, lxd::kKeyAddress);
    const std::string status = instance.contains("state") && instance["state"].is_object()
                                   ? string_at(instance["state"], "status")
                                   : string_at(instance, "status");
    info.state = state_of(status, !string_at(config, "volatile.last_state.power").empty());
    return info;
  }



  LxdOptions options_;
  Client client_;
  std::mutex volumes_mutex_;
  std::mutex ids_mutex_;
  std::mutex builds_mutex_;
  std::map<std::string, std::shared_ptr<std::mutex>> builds_;  // by tag (a few per library)
  std::mutex networks_mutex_;  // a new network's subnet is picked among the others'
  // A network's hosts are read, added to and written back under its own mutex: hosts of
  // other sessions are made at the same time.
  std::map<std::string, std::shared_ptr<std::mutex>> hosts_mutexes_;
  std::shared_ptr<std::mutex> hosts_mutex_of(const std::string& bridge) {
    std::lock_guard lock(networks_mutex_);
    auto& mutex = hosts_mutexes_[bridge];
    if (!mutex) mutex = std::make_shared<std::mutex>();
    return mutex;
  }
  std::mutex opened_mutex_;
  std::set<std::string> opened_;  // instances note_opened has marked
  std::mutex pool_mutex_;
  bool pool_checked_ = false;
  std::mutex hosts_mutex_;
  std::unique_ptr<lxd::HostAccess> hosts_;
  bool clustered_ = false;  // set with hosts_
  std::mutex image_store_mutex_;
  std::set<std::string> verified_images_;  // exported copies whose digest was checked
  std::mutex manifests_mutex_;
  std::map<std::string, std::shared_ptr<const std::vector<std::string>>> manifests_;
};

}  // namespace

LxdOptions lxd_options_from_environment() {
  LxdOptions options;
  if (const char* socket = std::getenv("LXD_SOCKET"); socket && *socket) options.socket_path = socket;
  if (const char* pool = std::getenv("LXD_POOL"); pool && *pool) options.pool = pool;
  return options;
}

std::unique_ptr<Runtime> make_lxd_runtime(const LxdOptions& options) { return std::make_unique<LxdRuntime>(options); }

}  // namespace breakfix
