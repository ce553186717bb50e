#pragma once

// A Runtime that keeps containers, networks and images in memory and records every
// call, so that tests can assert exactly what was asked for; execs answer from a
// handler the test installs. Failures are injected by call number (the Nth
// create_container fails), to prove that a half-built lab is cleaned up.

#include <sys/eventfd.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "breakfix/runtime.h"
#include "breakfix/toolbox.h"
#include "tar_archive.h"

namespace breakfix::testing {

struct FakeExecReply {
  int exit_code = 0;
  std::string out;
  std::string err;
  // A process that runs this long before it ends (its output stays open meanwhile)...
  std::chrono::milliseconds hang{0};
  // ...and ignores the kill (a process that escaped it): the exec never ends by itself.
  bool survives_kill = false;
};

// An entry of a fake file system: what the engine's archive of it would show.
struct FakeFile {
  FileType type = FileType::Regular;
  std::string content;      // regular files
  std::string link_target;  // symlinks
  std::uint32_t mode = 0644;
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  bool operator==(const FakeFile&) const = default;
};
// Absolute path -> entry; directories are entries too ("/etc" before "/etc/hosts").
using FakeFs = std::map<std::string, FakeFile>;

struct RecordedExec {
  ExecSpec spec;
  std::string input;  // a script run's script (before the NUL of script_input()), else all of stdin
  std::string vars;   // a script run's shell assignments (after the NUL)
};

class FakeRuntime : public Runtime {
 public:
  using ExecHandler = std::function<FakeExecReply(const ExecSpec&, const std::string& input)>;

  std::vector<std::string> calls;           // "create_container breakfix-s1-web", ...
  // The grader's toolbox image and its volume are there from the start (toolbox.h), so
  // that a provision makes only the lab's own containers; clear both to see them made.
  std::map<std::string, std::string> images = {{kToolboxImageTag, "sha256:0000toolbox00"}};  // reference -> id
  std::map<std::string, ContainerInfo> containers;  // by id
  std::map<std::string, ContainerSpec> specs;        // by id
  std::map<std::string, NetworkInfo> networks;       // by id
  std::vector<RecordedExec> execs;
  ExecHandler exec_handler = [](const ExecSpec&, const std::string&) { return FakeExecReply{}; };
  // Held by every call: the grader and the engine's workers call from several threads.
  std::unique_ptr<std::recursive_mutex> mutex = std::make_unique<std::recursive_mutex>();  // pointer: the fake stays movable
  int fail_create_container_at = 0;  // 1-based call number that fails; 0: none
  int fail_start_container_at = 0;
  std::optional<Error> build_error;
  std::optional<Error> exec_error;  // every start_exec fails with it (the engine is gone)
  // Asked with each call as `calls` names it ("start_exec c1"): an error fails that call.
  // For failures at any step, by call number or kind.
  std::function<std::optional<Error>(const std::string& call)> fail_call;

  Status ping() override { return record("ping"); }

  Result<std::optional<std::string>> image_id(const std::string& reference) override {
    std::lock_guard lock(*mutex);
    if (auto injected = call_made("image_id " + reference)) return *injected;
    auto found = images.find(reference);
    if (found == images.end()) return std::optional<std::string>();
    return std::optional<std::string>(found->second);
  }
  Status build_image(const std::filesystem::path& dir, const std::string& tag, const ProgressFn& progress) override {
    std::lock_guard lock(*mutex);
    if (auto injected = call_made("build_image " + tag + " " + dir.string())) return *injected;
    if (build_error) return *build_error;
    if (progress) progress("Step 1/1 : FROM breakfix/base:bookworm");
    images[tag] = "sha256:built-" + tag;
    return {};
  }
  Status import_image(const std::filesystem::path&, const std::string& tag, const std::vector<std::string>&,
                      const ProgressFn&) override {
    std::lock_guard lock(*mutex);
    images[tag] = "sha256:imported-" + tag;
    return record("import_image " + tag);
  }
  Status remove_image(const std::string& reference) override {
    std::lock_guard lock(*mutex);
    for (auto it = images.begin(); it != images.end();) {
      // By tag or by id, as the engine takes either.
      if (it->first == reference || it->second == reference) {
        image_labels.erase(it->first);
        image_files.erase(it->first);
        it = images.erase(it);
      } else {
        ++it;
      }
    }
    return record("remove_image " + reference);
  }

  Result<std::string> create_network(const NetworkSpec& spec) override {
    std::lock_guard lock(*mutex);
    if (auto injected = call_made("create_network " + spec.name)) return *injected;
    const std::string id = "net" + std::to_string(++next_id_);
    networks[id] = {id, spec.name, spec.labels};
    network_kinds[spec.name] = spec.kind;
    return id;
  }
  std::map<std::string, NetworkKind> network_kinds;
  Status remove_network(const std::string& id) override {
    std::lock_guard lock(*mutex);
    if (auto injected = call_made("remove_network " + id)) return *injected;
    if (!networks.erase(id)) return make_error(ErrorCode::NotFound, "no network " + id);
    return {};
  }
  Result<std::vector<NetworkInfo>> list_networks(const Labels& match) override {
    std::lock_guard lock(*mutex);
    std::vector<NetworkInfo> out;
    for (const auto& [id, network] : networks) {
      if (matches(network.labels, match)) out.push_back(network);
    }
    return out;
  }

  Result<std::string> create_container(const ContainerSpec& spec) override {
    std::lock_guard lock(*mutex);
    if (auto injected = call_made("create_container " + spec.name)) return *injected;
    if (++create_calls_ == fail_create_container_at) return make_error(ErrorCode::Failed, "injected create failure");
    // By tag or by id, as the engine takes either; an image the fake has no files of is empty.
    std::string image = spec.image;
    for (const auto& [tag, image_id] : images) {
      if (image_id == spec.image) image = tag;
    }
    if (!images.count(image)) return make_error(ErrorCode::NotFound, "no such image: " + spec.image);
    const std::string id = "c" + std::to_string(++next_id_);
    // As Docker does, a container carries its image's labels under its own.
    Labels labels = spec.labels;
    if (auto found = image_labels.find(image); found != image_labels.end()) labels.insert(found->second.begin(), found->second.end());
    containers[id] = {id, spec.name, spec.image, ContainerState::Created, labels, {}, ""};
    specs[id] = spec;
    for (const VolumeMount& mount : spec.volumes) volumes.emplace(mount.volume, mount.labels);
    specs[id].image = image;
    files[id] = image_files[image];
    return id;
  }
  Status start_container(const std::string& id) override {
    std::lock_guard lock(*mutex);
    if (auto injected = call_made("start_container " + id)) return *injected;
    if (++start_calls_ == fail_start_container_at) return make_error(ErrorCode::Failed, "injected start failure");
    return set_state(id, ContainerState::Running);
  }
  Status pause_container(const std::string& id) override { return set_state(id, ContainerState::Paused); }
  Status unpause_container(const std::string& id) override { return set_state(id, ContainerState::Running); }
  Status remove_container(const std::string& id) override {
    std::lock_guard lock(*mutex);
    if (auto injected = call_made("remove_container " + id)) return *injected;
    if (!containers.erase(id)) return make_error(ErrorCode::NotFound, "no container " + id);
    files.erase(id);
    return {};
  }
  Result<ContainerInfo> inspect_container(const std::string& id) override {
    std::lock_guard lock(*mutex);
    auto found = containers.find(id);
    if (found == containers.end()) return make_error(ErrorCode::NotFound, "no container " + id);
    return found->second;
  }
  std::map<std::string, std::uint64_t> layer_bytes;  // by container id; absent: 0
  Result<std::uint64_t> writable_layer_bytes(const std::string& id) override {
    std::lock_guard lock(*mutex);
    if (auto injected = call_made("writable_layer_bytes " + id)) return *injected;
    if (!containers.count(id)) return make_error(ErrorCode::NotFound, "no container " + id);
    auto found = layer_bytes.find(id);
    return found == layer_bytes.end() ? std::uint64_t{0} : found->second;
  }
  // What unreachable_containers says (an LXD cluster member gone): "name (why)".
  std::vector<std::string> unreachable;
  Result<std::vector<std::string>> unreachable_containers() override {
    std::lock_guard lock(*mutex);
    if (auto injected = call_made("unreachable_containers")) return *injected;
    return unreachable;
  }
  Result<std::vector<ContainerInfo>> list_containers(const Labels& match) override {
    std::lock_guard lock(*mutex);
    std::vector<ContainerInfo> out;
    for (const auto& [id, container] : containers) {
      if (matches(container.labels, match)) out.push_back(container);
    }
    return out;
  }

  std::map<std::string, Labels> volumes = {{"breakfix-toolbox-0000toolbox0", {}}};  // by name; a mount creates one
  Result<bool> has_volume(const std::string& name) override {
    std::lock_guard lock(*mutex);
    return volumes.count(name) > 0;
  }
  Status remove_volume(const std::string& name) override {
    std::lock_guard lock(*mutex);
    if (auto injected = call_made("remove_volume " + name)) return *injected;
    if (!volumes.erase(name)) return make_error(ErrorCode::NotFound, "no volume " + name);
    return {};
  }

  Result<std::unique_ptr<ExecStream>> start_exec(const ExecSpec& spec) override;

  // File systems: an image's (by the reference a ContainerSpec names), and each
  // container's as it is now (by id), which starts as a copy of its image's. The engine's
  // views of them (changes, commit, archive) are computed from these as Docker's would be.
  std::map<std::string, FakeFs> image_files;
  std::map<std::string, FakeFs> files;
  std::map<std::string, Labels> image_labels;  // of committed images, by tag
  std::optional<Error> changes_error;          // container_changes fails with it
  std::optional<Error> commit_error;

  Status container_changes(const std::string& id, const std::function<void(const FsChange&)>& visit) override {
    std::vector<FsChange> changes;
    {
      std::lock_guard lock(*mutex);
      if (auto injected = call_made("container_changes " + id)) return *injected;
      if (changes_error) return *changes_error;
      if (!containers.count(id)) return make_error(ErrorCode::NotFound, "no container " + id);
      const FakeFs& now = files[id];
      const FakeFs& image = image_files[specs[id].image];
      std::set<std::string> listed;
      auto add = [&](const std::string& path, FsChangeKind kind) {
        if (listed.insert(path).second) changes.push_back({path, kind});
      };
      auto parents = [&](std::string path) {
        while ((path = path.substr(0, path.rfind('/'))).size() > 0) {
          if (now.count(path) && image.count(path)) add(path, FsChangeKind::Modified);
        }
      };
      for (const auto& [path, file] : now) {
        auto before = image.find(path);
        if (before == image.end()) add(path, FsChangeKind::Added), parents(path);
        else if (!(before->second == file)) add(path, FsChangeKind::Modified), parents(path);
      }
      for (const auto& [path, file] : image) {
        // Docker lists a deleted directory, not what was in it.
        const std::string parent = path.substr(0, path.rfind('/'));
        if (!now.count(path) && (parent.empty() || now.count(parent))) add(path, FsChangeKind::Deleted), parents(path);
      }
    }
    for (const FsChange& change : changes) visit(change);
    return {};
  }

  Result<std::string> commit_container(const std::string& id, const std::string& tag, const Labels& labels) override {
    std::lock_guard lock(*mutex);
    if (auto injected = call_made("commit_container " + id + " " + tag)) return *injected;
    if (commit_error) return *commit_error;
    if (!containers.count(id)) return make_error(ErrorCode::NotFound, "no container " + id);
    images[tag] = "sha256:committed-" + tag;
    image_files[tag] = files[id];
    // As Docker does, the image keeps the container's labels under the ones given.
    image_labels[tag] = labels;
    image_labels[tag].insert(containers[id].labels.begin(), containers[id].labels.end());
    return images[tag];
  }

  Result<std::vector<ImageInfo>> list_images(const Labels& match) override {
    std::lock_guard lock(*mutex);
    std::vector<ImageInfo> out;
    for (const auto& [tag, labels] : image_labels) {
      if (matches(labels, match)) out.push_back({images[tag], {tag}, labels});
    }
    return out;
  }

  Result<bool> read_tree(const std::string& id, const std::string& path, const TreeReadOptions& options,
                         const WantFn& want, const VisitFn& visit) override {
    FakeFs tree;
    {
      std::lock_guard lock(*mutex);
      if (auto injected = call_made("read_tree " + id + " " + path)) return *injected;
      if (!containers.count(id)) return make_error(ErrorCode::NotFound, "no container " + id);
      const FakeFs& fs = files[id];
      if (!fs.count(path)) return make_error(ErrorCode::NotFound, "no " + path + " in " + id);
      for (auto it = fs.find(path); it != fs.end() && (it->first == path || it->first.rfind(path + "/", 0) == 0); ++it) {
        tree.insert(*it);
      }
    }
    std::uint64_t bytes = 0;  // as a tar would count them: a header per entry, then the content
    for (const auto& [entry_path, file] : tree) {
      bytes += 512;
      if (bytes > options.max_bytes) return false;
      FileRecord record{entry_path, file.type, file.mode, file.uid, file.gid, 0, file.link_target, "", "", ""};
      if (file.type == FileType::Regular) record.size = static_cast<std::int64_t>(file.content.size());
      const ReadWant wanted = want(record);
      if (wanted == ReadWant::Header) {
        if (!visit(std::move(record))) return false;
        bytes += file.content.size();
        if (bytes > options.max_bytes) return false;
        continue;
      }
      const bool cut = bytes + file.content.size() > options.max_bytes;
      bytes += file.content.size();
      if (wanted == ReadWant::Skip) {
        if (cut) return false;
        continue;
      }
      if (file.type == FileType::Regular) {
        // Cut inside the content, as read_tar_stream does: visited, without a digest.
        const std::size_t readable = cut ? options.max_bytes - (bytes - file.content.size()) : file.content.size();
        if (!cut) record.sha256 = archive::sha256_hex(file.content);
        if (wanted == ReadWant::Keep) record.head = file.content.substr(0, std::min(options.keep_bytes, readable));
      }
      if (!visit(std::move(record)) || cut) return false;
    }
    return true;
  }

  // The calls whose text starts with `prefix`.
  int count_calls(const std::string& prefix) const {
    int n = 0;
    for (const std::string& call : calls) n += call.rfind(prefix, 0) == 0;
    return n;
  }

 private:
  static bool matches(const Labels& labels, const Labels& match) {
    for (const auto& [key, value] : match) {
      auto found = labels.find(key);
      if (found == labels.end() || found->second != value) return false;
    }
    return true;
  }
  // Records a call (the mutex is held) and says whether fail_call fails it.
  std::optional<Error> call_made(std::string call) {
    calls.push_back(call);
    if (fail_call) return fail_call(call);
    return std::nullopt;
  }
  Status record(std::string call) {
    std::lock_guard lock(*mutex);
    if (auto injected = call_made(std::move(call))) return *injected;
    return {};
  }
  Status set_state(const std::string& id, ContainerState state) {
    std::lock_guard lock(*mutex);
    auto found = containers.find(id);
    if (found == containers.end()) return make_error(ErrorCode::NotFound, "no container " + id);
    found->second.state = state;
    return {};
  }

  int next_id_ = 0;
  int create_calls_ = 0;
  int start_calls_ = 0;
};

// An exec that collects stdin, runs the handler when stdin closes and then hands out
// its reply. Its poll fd is readable whenever there is something to read, so run_exec
// never waits on it for nothing; a hanging reply's fd is quiet until it ends or is killed.
class FakeExecStream : public ExecStream {
 public:
  FakeExecStream(FakeRuntime& runtime, ExecSpec spec) : runtime_(runtime), spec_(std::move(spec)) {}
  ~FakeExecStream() override {
    ::close(fd_);
    ::close(quiet_fd_);
  }
  int poll_fd() const override { return running() ? quiet_fd_ : fd_; }
  Result<bool> read_output(const std::function<void(OutputStream, std::string_view)>& sink) override {
    if (!reply_ || running()) return true;
    if (!delivered_) {
      if (!reply_->out.empty()) sink(OutputStream::Stdout, reply_->out);
      if (!reply_->err.empty()) sink(OutputStream::Stderr, reply_->err);
      delivered_ = true;
    }
    return false;
  }
  Result<std::size_t> write_some_stdin(std::string_view data) override {
    input_.append(data);
    return data.size();
  }
  Status close_stdin() override {
    std::function<FakeExecReply(const ExecSpec&, const std::string&)> handler;
    std::string script, vars;
    {
      std::lock_guard lock(*runtime_.mutex);
      const std::size_t nul = input_.find('\0');
      script = input_.substr(0, nul);
      if (nul != std::string::npos) vars = input_.substr(nul + 1);
      runtime_.execs.push_back({spec_, script, vars});
      handler = runtime_.exec_handler;
    }
    // Outside the lock: handlers may block to make sessions meet (engine concurrency tests).
    reply_ = handler(spec_, script);
    ends_at_ = std::chrono::steady_clock::now() + reply_->hang;
    return {};
  }
  Status resize(TerminalSize) override { return {}; }
  Result<int> exit_code() override { return reply_ ? (killed_ ? 137 : reply_->exit_code) : -1; }
  Status kill() override {
    std::lock_guard lock(*runtime_.mutex);
    runtime_.calls.push_back("kill " + spec_.container);
    if (reply_ && !reply_->survives_kill) killed_ = true;
    return {};
  }

 private:
  bool running() const {
    if (!reply_ || killed_) return false;
    return reply_->survives_kill || std::chrono::steady_clock::now() < ends_at_;
  }

  FakeRuntime& runtime_;
  ExecSpec spec_;
  std::string input_;
  std::optional<FakeExecReply> reply_;
  std::chrono::steady_clock::time_point ends_at_;
  bool killed_ = false;
  bool delivered_ = false;
  int fd_ = ::eventfd(1, EFD_CLOEXEC);
  int quiet_fd_ = ::eventfd(0, EFD_CLOEXEC);
};

inline Result<std::unique_ptr<ExecStream>> FakeRuntime::start_exec(const ExecSpec& spec) {
  std::lock_guard lock(*mutex);
  if (auto injected = call_made("start_exec " + spec.container)) return *injected;
  if (exec_error) return *exec_error;
  if (!containers.count(spec.container)) return make_error(ErrorCode::NotFound, "no container " + spec.container);
  return std::unique_ptr<ExecStream>(std::make_unique<FakeExecStream>(*this, spec));
}

}  // namespace breakfix::testing
