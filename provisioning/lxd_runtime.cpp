// The Runtime over LXD's REST API (docs/runtime.md, "LXD"). Every call opens its own
// connection to LXD's unix socket, as the Docker backend does; LXD's background
// operations are waited for with a bound.

#include "breakfix/lxd_runtime.h"
#include "breakfix/toolbox.h"

#include <poll.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "breakfix/percent_encoding.h"
#include "docker_requests.h"
#include "lxd_client.h"
#include "lxd_exec.h"
#include "lxd_image.h"
#include "lxd_requests.h"
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
using lxd::network_name;
using lxd::state_of;
using lxd::string_at;
using lxd::Method;
using nlohmann::json;

constexpr std::chrono::seconds kKillBound{5};
constexpr std::chrono::seconds kBootBound{90};

std::string path_of(const std::string& name) { return percent_encode(name); }

bool matches(const Labels& labels, const Labels& match) {
  return std::all_of(match.begin(), match.end(), [&](const auto& pair) {
    auto found = labels.find(pair.first);
    return found != labels.end() && found->second == pair.second;
  });
}

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

  Status build_image(const fs::path& context_dir, const std::string& tag, const ProgressFn&) override {
    return make_error(ErrorCode::Invalid, "cannot build " + context_dir.string() + " as " + tag +
                                              ": the LXD backend does not build `build:` directories yet "
                                              "(docs/runtime.md, \"LXD\"); use an image or a setup script");
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
    auto id = image_id(reference);
    if (!id) return id.error();
    if (!id->has_value()) return make_error(ErrorCode::NotFound, "image " + reference + " not found");
    auto removed = client_.call(Method::Delete, "/1.0/images/" + **id, "remove image " + reference);
    return removed ? Status() : Status(removed.error());
  }

  // --- networks ------------------------------------------------------------------------

  Result<std::string> create_network(const NetworkSpec& spec) override {
    return make_error(ErrorCode::Invalid, "network " + spec.name + ": the LXD backend has no session networks yet; "
                                                                   "LXD labs have one host and no network");
  }

  Status remove_network(const std::string& id_or_name) override {
    auto removed = client_.call(Method::Delete, "/1.0/networks/" + path_of(network_name_of(id_or_name)),
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
    if (!spec.network.empty()) {
      return make_error(ErrorCode::Invalid, "container " + spec.name + ": the LXD backend has no session networks yet");
    }
    const std::string name = instance_name(spec.name);
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
    const json body = lxd::instance_create_body(spec, **image, options_.pool, volume_sources);
    auto created = client_.call(Method::Post, "/1.0/instances", "create container " + spec.name, body);
    if (!created) return created.error();
    // The hostname: LXD names the UTS namespace after the instance (raw.lxc above says
    // otherwise), but systemd sets it from /etc/hostname at boot. An image without /etc
    // (the toolbox's, whose container only fills a volume and never starts) needs none.
    const std::string hostname = spec.hostname.empty() ? name : spec.hostname;
    {
      const std::string hosts =
          "127.0.0.1\tlocalhost\n127.0.1.1\t" + hostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n";
      for (const auto& [path, content] : {std::pair{"/etc/hostname", hostname + "\n"}, std::pair{"/etc/hosts", hosts}}) {
        Status written = client_.write_file(name, path, content);
        if (!written && written.error().code != ErrorCode::NotFound) {
          (void)remove_container(name);
          return written.error();
        }
      }
    }
    return name;
  }

  Status start_container(const std::string& id) override {
    if (Status changed = change_state(id, "start"); !changed) return changed;
    return wait_for_boot(id);
  }
  Status pause_container(const std::string& id) override { return change_state(id, "freeze"); }
  Status unpause_container(const std::string& id) override { return change_state(id, "unfreeze"); }

  Status remove_container(const std::string& id) override {
    const std::string name = instance_name_of(id);
    auto stopped = client_.call(Method::Put, "/1.0/instances/" + path_of(name) + "/state", "stop " + id,
                                json{{"action", "stop"}, {"force", true}, {"timeout", 30}});
    if (!stopped && stopped.error().code == ErrorCode::NotFound) return stopped.error();
    auto removed = client_.call(Method::Delete, "/1.0/instances/" + path_of(name), "remove " + id);
    return removed ? Status() : Status(removed.error());
  }

  Result<ContainerInfo> inspect_container(const std::string& id) override {
    auto instance = client_.call(Method::Get, "/1.0/instances/" + path_of(instance_name_of(id)) + "?recursion=1",
                                 "inspect " + id);
    if (!instance) return instance.error();
    return info_of(*instance);
  }

  Result<std::uint64_t> writable_layer_bytes(const std::string& id) override {
    auto state = client_.call(Method::Get, "/1.0/instances/" + path_of(instance_name_of(id)) + "/state", "state of " + id);
    if (!state) return state.error();
    if (state->contains("disk") && (*state)["disk"].is_object() && (*state)["disk"].contains("root")) {
      const json& root = (*state)["disk"]["root"];
      if (root.contains("usage") && root["usage"].is_number_unsigned()) return root["usage"].get<std::uint64_t>();
    }
    return make_error(ErrorCode::Invalid, "LXD's " + options_.pool + " pool does not measure " + id + "'s disk");
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
    std::error_code ec;
    return fs::is_directory(options_.volumes_dir / name, ec);
  }

  Status remove_volume(const std::string& name) override {
    std::error_code ec;
    const fs::path dir = options_.volumes_dir / name;
    if (!fs::exists(dir, ec)) return make_error(ErrorCode::NotFound, "volume " + name + " not found");
    fs::remove_all(dir, ec);
    if (ec) return make_error(ErrorCode::Failed, "cannot remove volume " + dir.string() + ": " + ec.message());
    return {};
  }

  // --- execs ---------------------------------------------------------------------------

  Result<std::unique_ptr<ExecStream>> start_exec(const ExecSpec& spec) override {
    const std::string name = instance_name_of(spec.container);
    Account account;
    if (spec.user != "root" && spec.user != "0" && !spec.user.empty()) {
      auto passwd = client_.read_file(name, "/etc/passwd");
      if (!passwd) return passwd.error();
      auto found = find_account(*passwd, spec.user);
      if (!found) return make_error(ErrorCode::Invalid, "exec in " + spec.container + ": no user '" + spec.user + "' in /etc/passwd");
      account = *found;
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
    auto operation = client_.start(Method::Post, "/1.0/instances/" + path_of(name) + "/exec", "exec in " + spec.container, body);
    if (!operation) {
      // A frozen (paused) or stopped instance runs nothing: the state is wrong, as Docker says.
      const std::string& message = operation.error().message;
      if (message.find("frozen") != std::string::npos || message.find("not running") != std::string::npos) {
        return make_error(ErrorCode::Conflict, message);
      }
      return operation.error();
    }
    return lxd::open_exec_stream(client_, *operation, spec.tty, [this, name, marker] { return kill_marked_processes(*this, name, marker, kKillBound); });
  }

  // --- the engine's view of files --------------------------------------------------------

  Status container_changes(const std::string& id, const std::function<void(const FsChange&)>&) override {
    return make_error(ErrorCode::Invalid, "changes of " + id + ": the LXD backend does not list changes yet");
  }

  Result<std::string> commit_container(const std::string& id, const std::string& tag, const Labels&) override {
    return make_error(ErrorCode::Invalid, "snapshot of " + id + " as " + tag + ": the LXD backend has no snapshots yet");
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
    return out;
  }

  Result<bool> read_tree(const std::string& id, const std::string& path, const TreeReadOptions&, const WantFn&,
                         const VisitFn&) override {
    return make_error(ErrorCode::Invalid, "read " + path + " of " + id + ": the LXD backend does not read trees yet");
  }

 private:
  // An id is the instance's name; callers may also use the spec's name.
  std::string instance_name_of(const std::string& id) const { return instance_name(id); }
  std::string network_name_of(const std::string& id_or_name) const {
    return id_or_name.rfind("bf", 0) == 0 && id_or_name.size() == 14 ? id_or_name : network_name(id_or_name);
  }

  // The host directory behind a named volume, filled from `image` at the mount's target
  // when it does not exist yet (as Docker fills a new named volume).
  Result<std::string> volume_source(const VolumeMount& mount, const std::string& image) {
    std::lock_guard lock(volumes_mutex_);
    const fs::path dir = options_.volumes_dir / mount.volume;
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return dir.string();
    fs::create_directories(options_.volumes_dir, ec);
    if (ec) return make_error(ErrorCode::Failed, "cannot make " + options_.volumes_dir.string() + ": " + ec.message());
    auto fingerprint = image_id(image);
    if (!fingerprint) return fingerprint.error();
    if (!fingerprint->has_value()) return make_error(ErrorCode::NotFound, "image " + image + " is not in LXD");
    if (Status filled = lxd::extract_image_subtree(lxd_images_dir(), **fingerprint, mount.target, dir); !filled) {
      return filled.error();
    }
    return dir.string();
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
      auto stream = start_exec(probe);
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
    const std::string status = instance.contains("state") && instance["state"].is_object()
                                   ? string_at(instance["state"], "status")
                                   : string_at(instance, "status");
    info.state = state_of(status, !string_at(config, "volatile.last_state.power").empty());
    return info;
  }



  LxdOptions options_;
  Client client_;
  std::mutex volumes_mutex_;
};

}  // namespace

LxdOptions lxd_options_from_environment() {
  LxdOptions options;
  if (const char* socket = std::getenv("LXD_SOCKET"); socket && *socket) options.socket_path = socket;
  return options;
}

std::unique_ptr<Runtime> make_lxd_runtime(const LxdOptions& options) { return std::make_unique<LxdRuntime>(options); }

}  // namespace breakfix
