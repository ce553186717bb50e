#include "lxd_hosts.h"

#include <poll.h>

#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>

#include "breakfix/percent_encoding.h"
#include "hostview_protocol.h"
#include "lxd_exec.h"
#include "lxd_requests.h"
#include "mount_table.h"
#include "scratch_dir.h"
#include "tar_archive.h"

namespace breakfix::lxd {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path rootfs_below(const fs::path& pool_dir, const std::string& instance, const std::string& snapshot) {
  if (snapshot.empty()) return pool_dir / "containers" / instance / "rootfs";
  return pool_dir / "containers-snapshots" / instance / snapshot / "rootfs";
}

// Member names are host names ("node1.example.com"); instance_name makes a valid
// instance name of one, the same each time.
std::string helper_name(const std::string& member) { return instance_name(kHelperPrefix + member); }

namespace {

// --- this machine ---------------------------------------------------------------------

class LocalMounts : public LabMounts {
 public:
  explicit LocalMounts(std::unique_ptr<MountTable> table) : table_(std::move(table)) {}
  Result<std::string> read() override { return table_->read(); }
  Result<bool> changed() override { return table_->changed(); }

 private:
  std::unique_ptr<MountTable> table_;
};

class LocalHost : public HostAccess {
 public:
  LocalHost(fs::path pool_dir, fs::path volumes_dir) : pool_dir_(std::move(pool_dir)), volumes_dir_(std::move(volumes_dir)) {}

  Result<bool> read_tree(const InstanceFiles& files, const std::string& path, const IdShift& ids,
                         const TreeReadOptions& options, const WantFn& want, const VisitFn& visit) override {
    return read_host_tree(root_of(files), path, ids, options, want, visit);
  }
  Status changes(const InstanceFiles& files, const std::vector<std::string>& image_paths, std::int64_t since,
                 const std::function<void(const FsChange&)>& visit) override {
    return host_changes(root_of(files), image_paths, since, visit);
  }
  Result<std::uint64_t> written_bytes(const InstanceFiles& files, std::int64_t since) override {
    return host_written_bytes(root_of(files), since);
  }

  Result<std::unique_ptr<LabMounts>> open_mounts(const std::string&, long pid) override {
    auto table = MountTable::open("/proc/" + std::to_string(pid) + "/mountinfo");
    if (!table) {
      return make_error(table.error().code, table.error().message + " (the daemon must run on the LXD host, or "
                                                                    "LXD be a cluster)");
    }
    return std::unique_ptr<LabMounts>(std::make_unique<LocalMounts>(std::move(*table)));
  }

  Result<bool> has_volume(const std::string& name) override {
    std::error_code ec;
    return fs::is_directory(volumes_dir_ / name, ec);
  }
  Result<std::string> ensure_volume(const std::string& name, const std::function<Status(const fs::path&)>& fill) override {
    const fs::path dir = volumes_dir_ / name;
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return dir.string();
    fs::create_directories(volumes_dir_, ec);
    if (ec) return make_error(ErrorCode::Failed, "cannot make " + volumes_dir_.string() + ": " + ec.message());
    if (Status filled = fill(dir); !filled) return filled.error();
    return dir.string();
  }
  Status remove_volume(const std::string& name) override {
    std::error_code ec;
    const fs::path dir = volumes_dir_ / name;
    if (!fs::exists(dir, ec)) return make_error(ErrorCode::NotFound, "volume " + name + " not found");
    fs::remove_all(dir, ec);
    if (ec) return make_error(ErrorCode::Failed, "cannot remove volume " + dir.string() + ": " + ec.message());
    return {};
  }

  Status ensure_firewall() override { return lxd::ensure_firewall(); }

 private:
  fs::path root_of(const InstanceFiles& files) const { return rootfs_below(pool_dir_, files.instance, files.snapshot); }
  fs::path pool_dir_;
  fs::path volumes_dir_;
};

// --- a cluster's members --------------------------------------------------------------

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxLine = 64u << 20;

// A process in a helper, read a line at a time, within a deadline.
class HelperProcess {
 public:
  HelperProcess(std::unique_ptr<ExecStream> stream, std::string what, Clock::time_point deadline)
      : stream_(std::move(stream)), what_(std::move(what)), deadline_(deadline) {}

  // Sends `data` within the deadline, taking in output meanwhile: a process that writes
  // while it reads (tar's errors) is never left blocked with the daemon waiting on it.
  Status send(std::string_view data) {
    while (!data.empty()) {
      auto sent = stream_->write_some_stdin(data);
      if (!sent) return sent.error();
      data.remove_prefix(*sent);
      if (*sent > 0) continue;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
      if (left.count() <= 0) return make_error(ErrorCode::Timeout, what_ + ": the host helper did not take its input in time");
      pollfd pfd{stream_->poll_fd(), POLLIN | POLLOUT, 0};
      ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
      if (pfd.revents & POLLIN) {
        if (Status took = take_output(); !took) return took;
      }
    }
    return {};
  }
  // A new bound for what is asked next (a table held open through a grader's tool).
  void extend(std::chrono::seconds bound) { deadline_ = Clock::now() + bound; }
  Status end_input() { return stream_->close_stdin(); }

  // The next line of its stdout; nullopt once its output has ended.
  Result<std::optional<std::string>> next_line() {
    for (;;) {
      if (const auto newline = out_.find('\n'); newline != std::string::npos) {
        std::string line = out_.substr(0, newline);
        out_.erase(0, newline + 1);
        return std::optional<std::string>(std::move(line));
      }
      // Lines are records: a file's first keep_bytes, a name, its extended attributes.
      // One larger than this is no answer of breakfix-hostview's.
      if (out_.size() > kMaxLine) return make_error(ErrorCode::Internal, what_ + ": the host helper's answer is too long");
      if (ended_) {
        if (out_.empty()) return std::optional<std::string>();
        return std::optional<std::string>(std::exchange(out_, std::string()));
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
      if (left.count() <= 0) return make_error(ErrorCode::Timeout, what_ + ": the host helper did not answer in time");
      pollfd pfd{stream_->poll_fd(), POLLIN, 0};
      ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
      if (Status took = take_output(); !took) return took.error();
    }
  }

  // After the output ended: its exit code.
  Result<int> exit_code() { return stream_->exit_code(); }
  const std::string& stderr_text() const { return err_; }

 private:
  Status take_output() {
    if (ended_) return {};
    auto more = stream_->read_output([&](OutputStream stream, std::string_view data) {
      if (stream == OutputStream::Stderr) {
        if (err_.size() < 4096) err_.append(data.substr(0, 4096 - err_.size()));
      } else {
        out_.append(data);
      }
    });
    if (!more) return make_error(more.error().code, what_ + ": " + more.error().message);
    if (!*more) ended_ = true;
    return {};
  }

  std::unique_ptr<ExecStream> stream_;
  std::string what_;
  Clock::time_point deadline_;
  std::string out_, err_;
  bool ended_ = false;
};

class ClusterMounts : public LabMounts {
 public:
  ClusterMounts(std::unique_ptr<HelperProcess> process, std::string text, std::string what)
      : process_(std::move(process)), text_(std::move(text)), what_(std::move(what)) {}
  Result<std::string> read() override { return text_; }
  Result<bool> changed() override {
    process_->extend(std::chrono::seconds(30));
    if (Status asked = process_->send("?\n"); !asked) return asked.error();
    auto line = process_->next_line();
    if (!line) return line.error();
    if (!line->has_value()) return make_error(ErrorCode::Unavailable, what_ + ": the host helper ended");
    auto answer = hostview::parse_line(**line, what_);
    if (!answer) return answer.error();
    if (!answer->contains("changed") || !(*answer)["changed"].is_boolean()) return hostview::error_of(*answer, what_);
    return (*answer)["changed"].get<bool>();
  }

 private:
  std::unique_ptr<HelperProcess> process_;
  std::string text_;
  std::string what_;
};

class ClusterMembers : public HostAccess {
 public:
  ClusterMembers(Client& client, ClusterOptions options) : client_(client), options_(std::move(options)) {}

  Result<bool> read_tree(const InstanceFiles& files, const std::string& path, const IdShift& ids,
                         const TreeReadOptions& options, const WantFn& want, const VisitFn& visit) override {
    const std::string what = "read " + path + " of " + files.instance;
    auto root = root_of(files);
    if (!root) return root.error();
    json idmap = json::array();
    for (const auto& [range, uid] : {std::pair{ids.uids, true}, std::pair{ids.gids, false}}) {
      idmap.push_back({{"Isuid", uid}, {"Isgid", !uid}, {"Hostid", range.host_base}, {"Nsid", 0}, {"Maprange", range.count}});
    }
    // The helper reads every entry as if kept; the record each want asks for is made here
    // from it. (One difference, on the safe side: a read cut inside a file whose content
    // was not wanted says it was cut, where the local reader might have ended complete.)
    std::optional<bool> complete;
    bool stopped = false;
    Status ran = run(files.member,
                     {"tree", root->string(), path, std::to_string(options.max_bytes), std::to_string(options.keep_bytes),
                      idmap.dump()},
                     "", what, [&](const json& line) -> Result<bool> {
                       if (line.contains("end")) {
                         complete = line["end"].value("complete", false);
                         return false;
                       }
                       if (!line.contains("record")) return hostview::error_of(line, what);
                       auto record = hostview::record_of(line["record"]);
                       if (!record) return make_error(record.error().code, what + ": " + record.error().message);
                       FileRecord header = *record;
                       header.sha256.clear();
                       header.head.clear();
                       if (header.type == FileType::HardLink) header.size = 0;
                       const ReadWant wanted = want(header);
                       if (wanted == ReadWant::Skip) return true;
                       if (wanted == ReadWant::Header) {
                         *record = std::move(header);
                       } else if (wanted == ReadWant::Hash) {
                         record->head.clear();
                       }
                       if (!visit(std::move(*record))) {
                         stopped = true;
                         return false;
                       }
                       return true;
                     });
    if (!ran) return ran.error();
    if (stopped) return false;
    if (!complete) return make_error(ErrorCode::Internal, what + ": the host helper ended without its last line");
    return *complete;
  }

  Status changes(const InstanceFiles& files, const std::vector<std::string>& image_paths, std::int64_t since,
                 const std::function<void(const FsChange&)>& visit) override {
    const std::string what = "changes of " + files.instance;
    auto root = root_of(files);
    if (!root) return root.error();
    std::string input;
    for (const std::string& path : image_paths) input += hostview::hex(path) + "\n";  // a name may hold a newline
    bool ended = false;
    Status ran = run(files.member, {"changes", root->string(), std::to_string(since)}, input, what,
                     [&](const json& line) -> Result<bool> {
                       if (line.contains("end")) {
                         ended = true;
                         return false;
                       }
                       if (!line.contains("change")) return hostview::error_of(line, what);
                       auto change = hostview::change_of(line["change"]);
                       if (!change) return make_error(change.error().code, what + ": " + change.error().message);
                       visit(*change);
                       return true;
                     });
    if (!ran) return ran;
    if (!ended) return make_error(ErrorCode::Internal, what + ": the host helper ended without its last line");
    return {};
  }

  Result<std::uint64_t> written_bytes(const InstanceFiles& files, std::int64_t since) override {
    const std::string what = "disk of " + files.instance;
    auto root = root_of(files);
    if (!root) return root.error();
    std::optional<std::uint64_t> bytes;
    Status ran = run(files.member, {"written", root->string(), std::to_string(since)}, "", what,
                     [&](const json& line) -> Result<bool> {
                       if (!line.contains("end") || !line["end"].contains("bytes") ||
                           !line["end"]["bytes"].is_number_unsigned()) {
                         return hostview::error_of(line, what);
                       }
                       bytes = line["end"]["bytes"].get<std::uint64_t>();
                       return false;
                     });
    if (!ran) return ran.error();
    if (!bytes) return make_error(ErrorCode::Internal, what + ": the host helper ended without its answer");
    return *bytes;
  }

  Result<std::unique_ptr<LabMounts>> open_mounts(const std::string& member, long pid) override {
    const std::string what = "the mount table of process " + std::to_string(pid) + " on " + member;
    auto process = start(member, {"/usr/local/bin/breakfix-hostview", "mounts", kHostProc + std::to_string(pid) + "/mountinfo"},
                         what);
    if (!process) return process.error();
    auto line = (*process)->next_line();
    if (!line) return line.error();
    if (!line->has_value()) return make_error(ErrorCode::Unavailable, what + ": the host helper printed nothing: " +
                                                                          (*process)->stderr_text());
    auto answer = hostview::parse_line(**line, what);
    if (!answer) return answer.error();
    if (!answer->contains("mounts") || !(*answer)["mounts"].is_string()) return hostview::error_of(*answer, what);
    return std::unique_ptr<LabMounts>(
        std::make_unique<ClusterMounts>(std::move(*process), (*answer)["mounts"].get<std::string>(), what));
  }

  Result<bool> has_volume(const std::string& name) override {
    auto members = online_members();
    if (!members) return members.error();
    for (const std::string& member : *members) {
      auto there = volume_on(member, name);
      if (!there) return there.error();
      if (!*there) return false;
    }
    return true;
  }

  Result<std::string> ensure_volume(const std::string& name, const std::function<Status(const fs::path&)>& fill) override {
    std::lock_guard lock(volumes_mutex_);
    auto members = online_members();
    if (!members) return members.error();
    std::optional<std::string> tar;  // made once, for every member that lacks the volume
    for (const std::string& member : *members) {
      auto there = volume_on(member, name);
      if (!there) return there.error();
      if (*there) continue;
      if (!tar) {
        auto scratch = ScratchDir::make(options_.work_dir, "breakfix-lxd-volume");
        if (!scratch) return scratch.error();
        const fs::path dest = scratch->path() / name;
        if (Status filled = fill(dest); !filled) return filled.error();
        auto packed = archive::tar_directory(dest, 256u << 20);
        if (!packed) return packed.error();
        tar = std::move(*packed);
      }
      auto prefix = member_root(member);
      if (!prefix) return prefix.error();
      const std::string dir = *prefix + (options_.volumes_dir / name).string();
      // Made whole beside its place and renamed into it: a lab never mounts half of it.
      auto made = run_command(member,
                              {"/bin/sh", "-c",
                               "set -e; d=$1; mkdir -p \"${d%/*}\"; rm -rf \"$d.part\"; mkdir \"$d.part\"; "
                               "tar -x --numeric-owner -C \"$d.part\"; "
                               "[ -d \"$d\" ] && rm -rf \"$d.part\" || mv -T \"$d.part\" \"$d\"",
                               "sh", dir},
                              *tar, "fill volume " + name + " on " + member);
      if (!made) return made.error();
    }
    return (options_.volumes_dir / name).string();
  }

  Status remove_volume(const std::string& name) override {
    auto members = online_members();
    if (!members) return members.error();
    bool found = false;
    for (const std::string& member : *members) {
      auto there = volume_on(member, name);
      if (!there) return there.error();
      if (!*there) continue;
      found = true;
      {
        std::lock_guard lock(seen_mutex_);
        volumes_seen_.erase({member, name});
      }
      auto prefix = member_root(member);
      if (!prefix) return prefix.error();
      auto removed = run_command(member, {"rm", "-rf", "--", *prefix + (options_.volumes_dir / name).string()}, "",
                                 "remove volume " + name + " on " + member);
      if (!removed) return removed.error();
    }
    if (!found) return make_error(ErrorCode::NotFound, "volume " + name + " not found");
    return {};
  }

  // Each member's own iptables, in its network namespace, from its own file system
  // (nsenter into LXD's namespaces from the privileged helper).
  Status ensure_firewall() override {
    auto members = online_members();
    if (!members) return members.error();
    for (const std::string& member : *members) {
      auto pid = server_pid(member);
      if (!pid) return pid.error();
      Status loaded = lxd::ensure_firewall([&](const std::vector<std::string>& argv, const std::string& input) {
        const std::string ns = kHostProc + std::to_string(*pid) + "/ns/";
        std::vector<std::string> command = {"nsenter", "--net=" + ns + "net", "--mount=" + ns + "mnt", "--"};
        command.insert(command.end(), argv.begin(), argv.end());
        Ran ran;
        auto done = run_raw(member, command, input, "firewall on " + member);
        if (!done) {
          ran.output = done.error().message;
          return ran;
        }
        ran.code = done->first;
        ran.output = done->second;
        return ran;
      });
      if (!loaded) return make_error(loaded.error().code, "on member " + member + ": " + loaded.error().message);
    }
    return {};
  }

 private:
  static constexpr const char* kHostProc = "/host/proc/";

  // The member's own root, as the helper reaches it: LXD's process's root directory.
  Result<std::string> member_root(const std::string& member) {
    auto pid = server_pid(member);
    if (!pid) return pid.error();
    return kHostProc + std::to_string(*pid) + "/root";
  }

  Result<long> server_pid(const std::string& member) {
    auto server = client_.call(Method::Get, "/1.0?target=" + percent_encode(member), "member " + member);
    if (!server) return server.error();
    const json environment = server->value("environment", json::object());
    const long pid = environment.value("server_pid", 0L);
    if (pid <= 0) return make_error(ErrorCode::Internal, "member " + member + ": LXD named no process of its own");
    return pid;
  }

  Result<fs::path> root_of(const InstanceFiles& files) {
    auto prefix = member_root(files.member);
    if (!prefix) return prefix.error();
    const fs::path pool_dir = fs::path(*prefix + options_.lxd_dir.string()) / "storage-pools" / options_.pool;
    return rootfs_below(pool_dir, files.instance, files.snapshot);
  }

  Result<std::vector<std::string>> online_members() {
    auto members = client_.call(Method::Get, "/1.0/cluster/members?recursion=1", "cluster members");
    if (!members) return members.error();
    std::vector<std::string> online;
    for (const json& member : *members) {
      if (member.is_object() && string_at(member, "status") == "Online") online.push_back(string_at(member, "server_name"));
    }
    if (online.empty()) return make_error(ErrorCode::Unavailable, "no member of the LXD cluster is online");
    return online;
  }

  Result<bool> volume_on(const std::string& member, const std::string& name) {
    {
      // A volume is named after its content and never changed: once seen, it is there
      // (until remove_volume), and a lab's start costs no exec per member for it.
      std::lock_guard lock(seen_mutex_);
      if (volumes_seen_.count({member, name})) return true;
    }
    auto prefix = member_root(member);
    if (!prefix) return prefix.error();
    auto tested = run_raw(member, {"test", "-d", *prefix + (options_.volumes_dir / name).string()}, "",
                          "volume " + name + " on " + member);
    if (!tested) return tested.error();
    if (tested->first != 0) return false;
    std::lock_guard lock(seen_mutex_);
    volumes_seen_.insert({member, name});
    return true;
  }

  // --- the helper ---

  // The helper on `member`, made, filled and started when it is not there, or not with
  // this breakfix-hostview.
  Status ensure_helper(const std::string& member) {
    std::shared_ptr<std::mutex> member_mutex;
    {
      std::lock_guard lock(helpers_mutex_);
      if (ready_.count(member)) return {};
      auto& slot = helper_mutexes_[member];
      if (!slot) slot = std::make_shared<std::mutex>();
      member_mutex = slot;
    }
    // One member's helper is made at a time; the others' meanwhile are not held up.
    std::lock_guard member_lock(*member_mutex);
    {
      std::lock_guard lock(helpers_mutex_);
      if (ready_.count(member)) return {};
    }
    const std::string name = helper_name(member);
    const std::string what = "the host helper on " + member;
    std::ifstream in(options_.helper_binary, std::ios::binary);
    std::ostringstream binary;
    binary << in.rdbuf();
    if (!in || binary.str().empty()) {
      return make_error(ErrorCode::NotFound, what + ": cannot read " + options_.helper_binary.string() +
                                                 " (breakfix-hostview is built beside breakfix)");
    }
    const std::string digest = archive::sha256_hex(binary.str());
    auto instance = client_.call(Method::Get, "/1.0/instances/" + percent_encode(name), what);
    if (instance && (string_at(instance->value("config", json::object()), kKeyHelperDigest) != digest ||
                     string_at(*instance, "location") != member)) {
      (void)client_.call(Method::Put, "/1.0/instances/" + percent_encode(name) + "/state", what,
                         json{{"action", "stop"}, {"force", true}, {"timeout", 30}});
      auto removed = client_.call(Method::Delete, "/1.0/instances/" + percent_encode(name), what);
      if (!removed) return removed.error();
      instance = make_error(ErrorCode::NotFound, what);
    }
    if (!instance && instance.error().code != ErrorCode::NotFound) return instance.error();
    if (!instance) {
      // Privileged, with the member's /proc: it reads every lab's files on its member. It
      // has no network, and no one but the backend runs anything in it.
      const json body = {
          {"name", name},
          {"type", "container"},
          {"source", {{"type", "image"}, {"alias", options_.helper_image}}},
          {"config", {{"security.privileged", "true"}, {"boot.autostart", "true"}, {kKeyHelper, member}}},
          {"profiles", json::array()},  // nothing of the default profile: no network
          {"devices",
           {{"root", {{"type", "disk"}, {"path", "/"}, {"pool", options_.pool}}},
            {"hostproc", {{"type", "disk"}, {"source", "/proc"}, {"path", "/host/proc"}, {"readonly", "true"}}}}}};
      auto created = client_.call(Method::Post, "/1.0/instances?target=" + percent_encode(member), "make " + what, body);
      if (!created) return created.error();
      // The digest is kept only once the program is in: a helper left half made (a push
      // that failed, a daemon that stopped) has none, and is made again.
      Status pushed = client_.write_file(name, "/usr/local/bin/breakfix-hostview", binary.str(), 0755);
      if (pushed) {
        auto noted = client_.call(Method::Patch, "/1.0/instances/" + percent_encode(name), what,
                                  json{{"config", {{kKeyHelperDigest, digest}}}});
        if (!noted) pushed = noted.error();
      }
      if (!pushed) {
        (void)client_.call(Method::Delete, "/1.0/instances/" + percent_encode(name), what);
        return pushed;
      }
    }
    auto state = client_.call(Method::Get, "/1.0/instances/" + percent_encode(name) + "/state", what);
    if (!state) return state.error();
    if (string_at(*state, "status") != "Running") {
      auto started = client_.call(Method::Put, "/1.0/instances/" + percent_encode(name) + "/state", "start " + what,
                                  json{{"action", "start"}, {"timeout", 30}});
      if (!started) return started.error();
    }
    std::lock_guard lock(helpers_mutex_);
    ready_.insert(member);
    return {};
  }

  Result<std::unique_ptr<HelperProcess>> start(const std::string& member, const std::vector<std::string>& command,
                                               const std::string& what) {
    const json body = {{"command", command},
                       {"environment", {{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}, {"LANG", "C.UTF-8"}}},
                       {"wait-for-websocket", true},
                       {"interactive", false},
                       {"record-output", false}};
    // A helper seen running may have been removed or stopped since: looked at again, and
    // made again, once.
    Result<std::unique_ptr<ExecStream>> stream = make_error(ErrorCode::Internal, what);
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (Status helper = ensure_helper(member); !helper) return helper.error();
      // Its process ends when its streams close (EOF on stdin, a broken pipe on output):
      // nothing of the lab's runs in the helper that could keep it alive.
      stream = start_exec_stream(client_, "/1.0/instances/" + percent_encode(helper_name(member)) + "/exec", body, what,
                                 false, [] { return Status(); });
      if (stream) break;
      forget_helper(member);
    }
    if (!stream) return stream.error();
    return std::make_unique<HelperProcess>(std::move(*stream), what, Clock::now() + options_.bound);
  }

  // Runs breakfix-hostview with `args` on `member`; `on_line` gets each line of its
  // answer (an error line is turned into the error) and returns false when it has what
  // it needs.
  Status run(const std::string& member, const std::vector<std::string>& args, const std::string& input,
             const std::string& what, const std::function<Result<bool>(const json&)>& on_line) {
    std::vector<std::string> command = {"/usr/local/bin/breakfix-hostview"};
    command.insert(command.end(), args.begin(), args.end());
    auto process = start(member, command, what);
    if (!process) return process.error();
    if (!input.empty()) {
      if (Status sent = (*process)->send(input); !sent) return sent;
    }
    if (Status closed = (*process)->end_input(); !closed) return closed;
    for (;;) {
      auto line = (*process)->next_line();
      if (!line) return line.error();
      if (!line->has_value()) {
        return make_error(ErrorCode::Internal, what + ": the host helper ended without an answer: " +
                                                   (*process)->stderr_text());
      }
      auto answer = hostview::parse_line(**line, what);
      if (!answer) return answer.error();
      if (answer->contains("error")) return hostview::error_of(*answer, what);
      auto more = on_line(*answer);
      if (!more) return more.error();
      if (!*more) return {};
    }
  }

  // Runs a command of the helper's own image; its exit code and output (stdout, then
  // stderr). Errors only when it could not run.
  Result<std::pair<int, std::string>> run_raw(const std::string& member, const std::vector<std::string>& command,
                                              const std::string& input, const std::string& what) {
    auto process = start(member, command, what);
    if (!process) return process.error();
    if (!input.empty()) {
      if (Status sent = (*process)->send(input); !sent) return sent.error();
    }
    if (Status closed = (*process)->end_input(); !closed) return closed.error();
    std::string output;
    for (;;) {
      auto line = (*process)->next_line();
      if (!line) return line.error();
      if (!line->has_value()) break;
      if (output.size() < (4u << 20)) output += **line + "\n";  // a member's whole iptables -S
    }
    auto code = (*process)->exit_code();
    if (!code) return code.error();
    return std::make_pair(*code, output + (*process)->stderr_text());
  }

  // As run_raw, but a non-zero exit is Failed with the command's output.
  Status run_command(const std::string& member, const std::vector<std::string>& command, const std::string& input,
                     const std::string& what) {
    auto ran = run_raw(member, command, input, what);
    if (!ran) return ran.error();
    if (ran->first != 0) return make_error(ErrorCode::Failed, what + ": " + ran->second);
    return {};
  }

  void forget_helper(const std::string& member) {
    std::lock_guard lock(helpers_mutex_);
    ready_.erase(member);
  }

  Client& client_;
  ClusterOptions options_;
  std::mutex helpers_mutex_;
  std::set<std::string> ready_;  // members whose helper was seen running
  std::map<std::string, std::shared_ptr<std::mutex>> helper_mutexes_;  // by member
  std::mutex volumes_mutex_;
  std::mutex seen_mutex_;
  std::set<std::pair<std::string, std::string>> volumes_seen_;  // (member, volume)
};

}  // namespace

std::unique_ptr<HostAccess> local_host(fs::path pool_dir, fs::path volumes_dir) {
  return std::make_unique<LocalHost>(std::move(pool_dir), std::move(volumes_dir));
}

std::unique_ptr<HostAccess> cluster_members(Client& client, ClusterOptions options) {
  return std::make_unique<ClusterMembers>(client, std::move(options));
}

}  // namespace breakfix::lxd
