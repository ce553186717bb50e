// The Runtime over the Docker Engine API (docs/runtime.md). Every call opens its own
// connection to the engine's unix socket; nothing here is shared between threads.

#include "breakfix/docker_runtime.h"
#include "breakfix/toolbox.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <random>
#include <thread>

#include "breakfix/percent_encoding.h"
#include "random_hex.h"
#include "tar_archive.h"
#include "docker_connection.h"
#include "docker_requests.h"
#include "fs_changes.h"
#include "stream_demux.h"

namespace breakfix {
namespace {

using docker::Connection;
using docker::Method;
using docker::Response;
using nlohmann::json;

constexpr std::size_t kMaxBuildContextBytes = 512 * 1024 * 1024;
constexpr std::size_t kBuildLogLinesKept = 25;
// How long the killer of a timed-out exec may take (see ExecStream::kill).
constexpr std::chrono::seconds kKillBound{5};

// Splits a stream of newline-separated JSON messages arriving in arbitrary pieces.
class JsonLines {
 public:
  template <typename Fn>
  void feed(std::string_view piece, Fn&& on_message) {
    pending_.append(piece);
    std::size_t newline;
    while ((newline = pending_.find('\n')) != std::string::npos) {
      const std::string line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      json message = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!message.is_discarded()) on_message(message);
    }
  }

 private:
  std::string pending_;
};

// The last lines of a build's output, kept for the error message when it fails.
class LogTail {
 public:
  void add(std::string line) {
    lines_.push_back(std::move(line));
    if (lines_.size() > kBuildLogLinesKept) lines_.pop_front();
  }
  std::string text() const {
    std::string out;
    for (const std::string& line : lines_) out += "  " + line + "\n";
    return out;
  }

 private:
  std::deque<std::string> lines_;
};

// Engine answers parsed without exceptions: a malformed one is an Internal error.
Result<json> parse_answer(const Response& response, const std::string& what) {
  json parsed = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return make_error(ErrorCode::Internal, what + ": the engine's answer is not JSON: " + response.body.substr(0, 200));
  }
  return parsed;
}

// "repo=...&tag=..." for an image reference such as "breakfix/snapshot:s1.web" (tag "latest" if none).
std::string repo_and_tag_query(const std::string& reference) {
  const std::size_t colon = reference.rfind(':');
  const bool has_tag = colon != std::string::npos && reference.find('/', colon) == std::string::npos;
  return "repo=" + percent_encode(has_tag ? reference.substr(0, colon) : reference) +
         "&tag=" + percent_encode(has_tag ? reference.substr(colon + 1) : "latest");
}

// The "Id" of a create answer.
Result<std::string> answer_id(const Response& response, const std::string& what) {
  auto parsed = parse_answer(response, what);
  if (!parsed) return parsed.error();
  if (!parsed->is_object() || !(*parsed)["Id"].is_string()) {
    return make_error(ErrorCode::Internal, what + ": no Id in the engine's answer");
  }
  return (*parsed)["Id"].get<std::string>();
}

class DockerRuntime;

class DockerExecStream : public ExecStream {
 public:
  DockerExecStream(DockerRuntime& runtime, std::string exec_id, std::string container, std::string marker,
                   docker::HijackedStream stream, bool tty)
      : runtime_(runtime),
        exec_id_(std::move(exec_id)),
        container_(std::move(container)),
        marker_(std::move(marker)),
        fd_(stream.fd),
        early_bytes_(std::move(stream.early_bytes)),
        tty_(tty) {
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~DockerExecStream() override { ::close(fd_); }

  int poll_fd() const override { return fd_; }

  Result<bool> read_output(const std::function<void(OutputStream, std::string_view)>& sink) override {
    if (ended_) return false;
    if (!early_bytes_.empty()) {
      std::string bytes = std::move(early_bytes_);
      early_bytes_.clear();
      if (Status status = deliver(bytes, sink); !status) return status.error();
    }
    char buffer[64 * 1024];
    // Bounded per call so that a chatty process cannot starve the caller's other work.
    for (int reads = 0; reads < 16; ++reads) {
      const ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n > 0) {
        if (Status status = deliver(std::string_view(buffer, static_cast<std::size_t>(n)), sink); !status) {
          return status.error();
        }
        continue;
      }
      if (n == 0) {
        ended_ = true;
        return false;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == ECONNRESET) {
        ended_ = true;
        return false;
      }
      return make_error(ErrorCode::Unavailable, "exec stream: " + std::string(std::strerror(errno)));
    }
    return true;
  }

  Result<std::size_t> write_some_stdin(std::string_view data) override {
    for (;;) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return std::size_t{0};
      return make_error(ErrorCode::Unavailable, "exec stdin: " + std::string(std::strerror(errno)));
    }
  }

  Status close_stdin() override {
    if (::shutdown(fd_, SHUT_WR) != 0 && errno != ENOTCONN) {
      return make_error(ErrorCode::Unavailable, "exec stdin close: " + std::string(std::strerror(errno)));
    }
    return {};
  }

  Status resize(TerminalSize size) override;
  Result<int> exit_code() override;
  Status kill() override;

 private:
  Status deliver(std::string_view bytes, const std::function<void(OutputStream, std::string_view)>& sink) {
    if (tty_) {
      sink(OutputStream::Stdout, bytes);
      return {};
    }
    return demux_.feed(bytes, sink);
  }

  DockerRuntime& runtime_;
  std::string exec_id_;
  std::string container_;
  std::string marker_;
  int fd_;
  std::string early_bytes_;
  bool tty_;
  bool ended_ = false;
  docker::StreamDemux demux_;
};

// The sockets of the builds and imports under way, which can take minutes of silence
// (a RUN step): cancel_all() shuts them down so that a stopping daemon need not wait
// for io_timeout.
class LongCalls {
 public:
  // Counts `connection` as a long call until the guard goes; nullopt once cancelled.
  class Guard {
   public:
    Guard(LongCalls& calls, int fd) : calls_(&calls), fd_(fd) {}
    Guard(Guard&& other) noexcept : calls_(std::exchange(other.calls_, nullptr)), fd_(other.fd_) {}
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    Guard& operator=(Guard&&) = delete;
    ~Guard() {
      if (calls_) calls_->end(fd_);
    }

   private:
    LongCalls* calls_;
    int fd_;
  };

  std::optional<Guard> begin(const Connection& connection) {
    std::lock_guard lock(mutex_);
    if (cancelled_) return std::nullopt;
    fds_.insert(connection.native_handle());
    return std::optional<Guard>(std::in_place, *this, connection.native_handle());
  }
  bool cancelled() {
    std::lock_guard lock(mutex_);
    return cancelled_;
  }
  void cancel_all() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }

 private:
  void end(int fd) {
    std::lock_guard lock(mutex_);
    fds_.erase(fd);
  }

  std::mutex mutex_;
  std::set<int> fds_;
  bool cancelled_ = false;
};

Error stopping_error(const std::string& what) {
  return make_error(ErrorCode::Unavailable, what + ": cancelled, the daemon is stopping");
}

class DockerRuntime : public Runtime {
 public:
  explicit DockerRuntime(DockerOptions options) : options_(std::move(options)) {}

  void cancel_long_calls() override { long_calls_.cancel_all(); }

  Result<std::unique_ptr<Connection>> connect() { return Connection::open(options_.socket_path, options_.io_timeout); }
  std::string api(const std::string& path) const { return "/" + options_.api_version + path; }

  // One request with a small body; statuses of 400 and above become Errors.
  Result<Response> call(Method method, const std::string& path, const std::string& what, const json& body = nullptr) {
    auto connection = connect();
    if (!connection) return connection.error();
    auto response = (*connection)->send(method, api(path), body.is_null() ? "" : body.dump());
    if (!response) return response.error();
    if (response->status >= 400) return docker::engine_error(*response, what);
    return response;
  }

  // A GET answered with an array of objects (containers, networks, images), each parsed.
  template <typename T>
  Result<std::vector<T>> list(const std::string& path, const std::string& what, T (*parse)(const json&)) {
    auto response = call(Method::Get, path, what);
    if (!response) return response.error();
    auto answer = parse_answer(*response, what);
    if (!answer) return answer.error();
    std::vector<T> items;
    if (answer->is_array()) {
      for (const json& item : *answer) {
        if (item.is_object()) items.push_back(parse(item));
      }
    }
    return items;
  }

  Status ping() override {
    auto response = call(Method::Get, "/_ping", "ping the Docker engine");
    if (!response) return response.error();
    return {};
  }

  Result<std::optional<std::string>> image_id(const std::string& reference) override {
    auto response = call(Method::Get, "/images/" + reference + "/json", "inspect image " + reference);
    if (!response) {
      if (response.error().code == ErrorCode::NotFound) return std::optional<std::string>();
      return response.error();
    }
    auto id = answer_id(*response, "inspect image " + reference);
    if (!id) return id.error();
    return std::optional<std::string>(*id);
  }

  Status build_image(const std::filesystem::path& context_dir, const std::string& tag,
                     const ProgressFn& progress) override {
    auto context = archive::tar_directory(context_dir, kMaxBuildContextBytes);
    if (!context) return context.error();
    auto connection = connect();
    if (!connection) return connection.error();
    auto long_call = long_calls_.begin(**connection);
    if (!long_call) return stopping_error("build " + tag);
    const json labels = {{kLabelManaged, "true"}};
    const std::string target = api("/build?t=" + percent_encode(tag) + "&rm=1&forcerm=1&labels=" +
                                   percent_encode(labels.dump()));
    LogTail tail;
    std::string error;
    JsonLines lines;
    std::string partial_line;  // "stream" text arrives in pieces that need not end lines
    auto on_message = [&](const json& message) {
      if (message.contains("error")) {
        error = message["error"].is_string() ? message["error"].get<std::string>() : message["error"].dump();
        tail.add(error);
        return;
      }
      if (!message.contains("stream") || !message["stream"].is_string()) return;
      partial_line += message["stream"].get<std::string>();
      std::size_t newline;
      while ((newline = partial_line.find('\n')) != std::string::npos) {
        std::string line = partial_line.substr(0, newline);
        partial_line.erase(0, newline + 1);
        if (line.empty()) continue;
        tail.add(line);
        if (progress) progress(line);
      }
    };
    auto response = (*connection)->send_streaming(Method::Post, target, std::move(context.value()), "application/x-tar",
                                                  [&](std::string_view piece) { lines.feed(piece, on_message); });
    if (!response && long_calls_.cancelled()) return stopping_error("build " + tag);
    if (!response) return response.error();
    if (response->status >= 400) return docker::engine_error(*response, "build " + tag);
    if (!error.empty()) {
      return make_error(ErrorCode::Failed, "building " + tag + " from " + context_dir.string() + " failed: " + error +
                                               "\nlast lines of the build:\n" + tail.text());
    }
    return {};
  }

  Status import_image(const std::filesystem::path& rootfs_tar, const std::string& tag,
                      const std::vector<std::string>& changes, const ProgressFn& progress) override {
    std::string target = "/images/create?fromSrc=-&" + repo_and_tag_query(tag);
    for (const std::string& change : changes) target += "&changes=" + percent_encode(change);
    auto connection = connect();
    if (!connection) return connection.error();
    auto long_call = long_calls_.begin(**connection);
    if (!long_call) return stopping_error("import " + tag);
    std::string error;
    std::string imported_id;  // the last status naming an image id
    JsonLines lines;
    auto response = (*connection)->send_streaming(
        Method::Post, api(target), rootfs_tar, "application/x-tar", [&](std::string_view piece) {
          lines.feed(piece, [&](const json& message) {
            if (message.contains("error")) error = message["error"].dump();
            if (!message.contains("status") || !message["status"].is_string()) return;
            const std::string status = message["status"].get<std::string>();
            if (status.rfind("sha256:", 0) == 0) imported_id = status;
            if (progress) progress(status);
          });
        });
    if (!response) return response.error();
    if (response->status >= 400) return docker::engine_error(*response, "import " + tag);
    if (!error.empty()) return make_error(ErrorCode::Failed, "importing " + tag + " failed: " + error);
    if (imported_id.empty()) return make_error(ErrorCode::Internal, "import " + tag + ": the engine named no image id");
    // Tag explicitly: Podman's compat import ignores the tag parameter (4.3 tags "latest").
    auto tagged = call(Method::Post, "/images/" + imported_id + "/tag?" + repo_and_tag_query(tag),
                       "tag " + imported_id + " as " + tag);
    if (!tagged) return tagged.error();
    return {};
  }

  Status remove_image(const std::string& reference) override {
    auto response = call(Method::Delete, "/images/" + reference + "?force=1", "remove image " + reference);
    if (!response) return response.error();
    return {};
  }

  Result<std::string> create_network(const NetworkSpec& spec) override {
    auto response = call(Method::Post, "/networks/create", "create network " + spec.name,
                         docker::network_create_body(spec));
    if (!response) return response.error();
    return answer_id(*response, "create network " + spec.name);
  }

  Status remove_network(const std::string& id_or_name) override {
    auto response = call(Method::Delete, "/networks/" + id_or_name, "remove network " + id_or_name);
    if (!response) return response.error();
    return {};
  }

  Result<std::vector<NetworkInfo>> list_networks(const Labels& match) override {
    return list<NetworkInfo>("/networks?" + docker::label_filter_query(match), "list networks", docker::parse_network);
  }

  Result<std::string> create_container(const ContainerSpec& spec) override {
    if (spec.systemd) {
      return make_error(ErrorCode::Invalid, "host " + spec.hostname + " boots systemd (init: systemd), which the Docker "
                                            "backend cannot run: use the LXD backend (runtime.backend: lxd)");
    }
    auto response = call(Method::Post, "/containers/create?name=" + percent_encode(spec.name),
                         "create container " + spec.name, docker::container_create_body(spec));
    if (!response) {
      Error error = response.error();
      if (error.code == ErrorCode::NotFound && error.message.find("image") != std::string::npos) {
        error.message = "image '" + spec.image + "' is not on the Docker engine" +
                        (spec.image == "breakfix/base:bookworm" ? ": build it with 'breakfix image base'"
                                                                : ": build or load it first (breakfix pulls nothing)") +
                        " (" + error.message + ")";
      }
      return error;
    }
    return answer_id(*response, "create container " + spec.name);
  }

  Status start_container(const std::string& id) override { return simple_post("/containers/" + id + "/start", "start " + id); }
  Status pause_container(const std::string& id) override { return simple_post("/containers/" + id + "/pause", "pause " + id); }
  Status unpause_container(const std::string& id) override {
    return simple_post("/containers/" + id + "/unpause", "unpause " + id);
  }

  Status remove_container(const std::string& id) override {
    auto response = call(Method::Delete, "/containers/" + id + "?force=1&v=1", "remove container " + id);
    if (!response) return response.error();
    return {};
  }

  Result<ContainerInfo> inspect_container(const std::string& id) override {
    auto response = call(Method::Get, "/containers/" + id + "/json", "inspect container " + id);
    if (!response) return response.error();
    auto answer = parse_answer(*response, "inspect container " + id);
    if (!answer) return answer.error();
    if (!answer->is_object()) return make_error(ErrorCode::Internal, "inspect container " + id + ": unexpected answer");
    return docker::parse_container_inspect(*answer);
  }

  Result<std::uint64_t> writable_layer_bytes(const std::string& id) override {
    auto response = call(Method::Get, "/containers/" + id + "/json?size=1", "measure container " + id);
    if (!response) return response.error();
    auto answer = parse_answer(*response, "measure container " + id);
    if (!answer) return answer.error();
    if (!answer->is_object() || !(*answer)["SizeRw"].is_number()) {
      return make_error(ErrorCode::Internal, "measure container " + id + ": the engine gave no SizeRw");
    }
    const double bytes = (*answer)["SizeRw"].get<double>();
    return static_cast<std::uint64_t>(bytes < 0 ? 0 : bytes);
  }

  Result<std::vector<ContainerInfo>> list_containers(const Labels& match) override {
    return list<ContainerInfo>("/containers/json?all=1&" + docker::label_filter_query(match), "list containers",
                               docker::parse_container_summary);
  }

  Result<bool> has_volume(const std::string& name) override {
    auto response = call(Method::Get, "/volumes/" + percent_encode(name), "inspect volume " + name);
    if (!response) {
      if (response.error().code == ErrorCode::NotFound) return false;
      return response.error();
    }
    return true;
  }

  Status remove_volume(const std::string& name) override {
    auto response = call(Method::Delete, "/volumes/" + percent_encode(name), "remove volume " + name);
    if (!response) return response.error();
    return {};
  }

  Result<std::unique_ptr<ExecStream>> start_exec(const ExecSpec& spec) override {
    const std::string marker = random_hex(16);
    auto created = call(Method::Post, "/containers/" + spec.container + "/exec", "exec in " + spec.container,
                        docker::exec_create_body(spec, marker));
    if (!created) return created.error();
    auto exec_id_answer = answer_id(*created, "exec in " + spec.container);
    if (!exec_id_answer) return exec_id_answer.error();
    const std::string exec_id = *exec_id_answer;
    auto connection = connect();
    if (!connection) return connection.error();
    auto hijacked = (*connection)->hijack(api("/exec/" + exec_id + "/start"), json{{"Detach", false}, {"Tty", spec.tty}}.dump());
    if (!hijacked) return hijacked.error();
    auto stream = std::make_unique<DockerExecStream>(*this, exec_id, spec.container, marker, std::move(hijacked.value()),
                                                     spec.tty);
    if (spec.tty) {
      if (Status resized = stream->resize(spec.size); !resized) return resized.error();
    }
    return std::unique_ptr<ExecStream>(std::move(stream));
  }

  Status container_changes(const std::string& id, const std::function<void(const FsChange&)>& visit) override {
    const std::string what = "list the file system changes of container " + id;
    auto connection = connect();
    if (!connection) return connection.error();
    auto body = (*connection)->open_body(Method::Get, api("/containers/" + id + "/changes"), what);
    if (!body) return body.error();
    docker::ChangesParser parser(visit);
    for (;;) {
      auto piece = (*body)->next();
      if (!piece) return piece.error();
      if (piece->empty()) return parser.finish();
      if (Status parsed = parser.feed(*piece); !parsed) return parsed;
    }
  }

  Result<std::string> commit_container(const std::string& id, const std::string& tag, const Labels& labels) override {
    auto response = call(Method::Post, "/commit?container=" + percent_encode(id) + "&pause=false&" + repo_and_tag_query(tag),
                         "commit container " + id + " as " + tag, json{{"Labels", labels}});
    if (!response) return response.error();
    return answer_id(*response, "commit container " + id);
  }

  Result<std::vector<ImageInfo>> list_images(const Labels& match) override {
    return list<ImageInfo>("/images/json?" + docker::label_filter_query(match), "list images", docker::parse_image_summary);
  }

  Result<bool> read_tree(const std::string& id, const std::string& path, const TreeReadOptions& options,
                         const WantFn& want, const VisitFn& visit) override {
    auto connection = connect();
    if (!connection) return connection.error();
    auto body = (*connection)->open_body(Method::Get, api("/containers/" + id + "/archive?path=" + percent_encode(path)),
                                         "read " + path + " in container " + id);
    if (!body) return body.error();
    // The engine names the entries from the path's last component on.
    const std::string base_dir = std::filesystem::path(path).parent_path().string();
    return archive::read_tar_stream([&] { return (*body)->next(); }, base_dir.empty() ? "/" : base_dir, options, want,
                                    visit);
  }

  Status resize_exec(const std::string& exec_id, TerminalSize size) {
    auto response = call(Method::Post,
                         "/exec/" + exec_id + "/resize?h=" + std::to_string(size.rows) + "&w=" + std::to_string(size.columns),
                         "resize exec");
    if (!response) return response.error();
    return {};
  }

  // Running (nullopt) or the exit code of an exec.
  Result<std::optional<int>> exec_exit_code(const std::string& exec_id) {
    auto response = call(Method::Get, "/exec/" + exec_id + "/json", "inspect exec");
    if (!response) return response.error();
    auto state = parse_answer(*response, "inspect exec");
    if (!state) return state.error();
    if (!state->is_object()) return make_error(ErrorCode::Internal, "inspect exec: unexpected answer");
    if ((*state)["Running"].is_boolean() && (*state)["Running"].get<bool>()) return std::optional<int>();
    if (!(*state)["ExitCode"].is_number_integer()) return make_error(ErrorCode::Internal, "inspect exec: no ExitCode");
    return std::optional<int>((*state)["ExitCode"].get<int>());
  }

 private:
  Status simple_post(const std::string& path, const std::string& what) {
    auto response = call(Method::Post, path, what);
    if (!response) return response.error();
    return {};  // 204 done, 304 already so: both are fine
  }

  DockerOptions options_;
  LongCalls long_calls_;
};

Status DockerExecStream::resize(TerminalSize size) { return runtime_.resize_exec(exec_id_, size); }

Result<int> DockerExecStream::exit_code() {
  // The engine records the exit code a moment after the stream ends.
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto code = runtime_.exec_exit_code(exec_id_);
    if (!code) return code.error();
    if (code->has_value()) return **code;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return make_error(ErrorCode::Timeout, "exec " + exec_id_ + " still running after its output ended");
}

Status DockerExecStream::kill() { return kill_marked_processes(runtime_, container_, marker_, kKillBound); }

}  // namespace

Result<DockerOptions> docker_options_from_environment() {
  DockerOptions options;
  const char* host = std::getenv("DOCKER_HOST");
  if (!host || !*host) return options;
  const std::string value(host);
  if (value.rfind("unix://", 0) != 0) {
    return make_error(ErrorCode::Invalid, "DOCKER_HOST=" + value +
                                              ": breakfix talks to the engine over a unix socket only (unix:///path)");
  }
  options.socket_path = value.substr(7);
  return options;
}

std::unique_ptr<Runtime> make_docker_runtime(const DockerOptions& options) {
  return std::make_unique<DockerRuntime>(options);
}

}  // namespace breakfix
