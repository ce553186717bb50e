#include "gateway/ssh_gateway.h"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <malloc.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "breakfix/owned_threads.h"
#include "gateway/asciicast.h"
#include "gateway/channel_bridge.h"
#include "gateway/channel_recorder.h"
#include "gateway/marker_scanner.h"
#include "gateway/scp_observer.h"
#include "gateway/sftp_observer.h"
#include "session/recordings.h"
#include "session/report.h"

namespace breakfix {
namespace {

using Steady = std::chrono::steady_clock;

// Only algorithms without known weaknesses: no CBC, no SHA-1, no NIST-curve key exchange.
constexpr const char* kKeyExchange = "curve25519-sha256,curve25519-sha256@libssh.org";
constexpr const char* kCiphers =
    "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr";
constexpr const char* kMacs = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com";
constexpr const char* kHostKeyAlgorithms = "ssh-ed25519";
constexpr const char* kUserKeyAlgorithms =
    "ssh-ed25519,ecdsa-sha2-nistp521,ecdsa-sha2-nistp384,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256";

// The largest terminal a candidate's client may ask for (a wide monitor has about 500
// columns); larger sizes are cut to these.
constexpr int kMaxTerminalColumns = 1000;
constexpr int kMaxTerminalRows = 500;

// What the username asks for.
struct Login {
  std::string session_id;
  std::string host;  // empty: the entry host
  bool watch = false;
};

bool all_of_alphabet(std::string_view text, std::string_view alphabet) {
  return std::all_of(text.begin(), text.end(), [&](char c) { return alphabet.find(c) != std::string_view::npos; });
}

// "<id>", "<id>+<host>" or "watch+<id>"; nullopt for any other shape, checked before the
// gateway keeps anything for a login attempt. Session ids are lower-case letters and
// digits (the engine's are 10), host names are a scenario's (a-z first, up to 31 of a-z,
// 0-9, '-').
std::optional<Login> parse_username(std::string_view user) {
  constexpr std::string_view kIdAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  Login login;
  if (user.rfind("watch+", 0) == 0) {
    login.watch = true;
    user.remove_prefix(6);
  }
  const std::size_t plus = user.find('+');
  const std::string_view id = user.substr(0, plus);
  if (id.empty() || id.size() > 32 || !all_of_alphabet(id, kIdAlphabet)) return std::nullopt;
  login.session_id = std::string(id);
  if (plus != std::string_view::npos) {
    const std::string_view host = user.substr(plus + 1);
    if (login.watch || !is_valid_host_name(host)) return std::nullopt;
    login.host = std::string(host);
  }
  return login;
}

std::string key_line(ssh_key key) {
  char* base64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &base64) != SSH_OK || !base64) return "";
  std::string line = std::string(ssh_key_type_to_char(ssh_key_type(key))) + " " + base64;
  ssh_string_free_char(base64);
  return line;
}

std::string minutes_text(std::chrono::seconds left) {
  const auto minutes = (left.count() + 59) / 60;
  return std::to_string(minutes) + (minutes == 1 ? " minute" : " minutes");
}

// Terminal text: \n becomes \r\n (raw-mode terminals do not return the carriage).
std::string crlf(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

}  // namespace

class Connection;

// libssh calls the handlers below from C, where an exception must not go. Guarded<H, R>
// is H with every exception caught and logged; the callback then answers R (a refusal:
// SSH_AUTH_DENIED, no channel, a denied request).
template <auto Handler, auto Refusal>
struct Guarded;
template <typename Result, typename... Args, Result (*Handler)(Args...), auto Refusal>
struct Guarded<Handler, Refusal> {
  static Result call(Args... args) {
    try {
      return Handler(args...);
    } catch (const std::exception& error) {
      spdlog::error("ssh: a callback failed: {}", error.what());
    } catch (...) {
      spdlog::error("ssh: a callback failed");
    }
    if constexpr (!std::is_void_v<Result>) return static_cast<Result>(Refusal);
  }
};

struct SshGateway::Impl {
  GatewayOptions options;
  AccessFn access;
  const Authenticator& authenticator;
  Runtime& runtime;
  GatewayMetrics* metrics;
  ssh_bind bind = nullptr;
  int bound_port = 0;
  std::thread accept_thread;
  std::atomic<bool> stopping{false};
  LoginLimiter logins{options.logins};
  RecordingBudgets recording_budgets{options.recordings, options.recordings_dir};

  std::mutex mutex;
  std::set<Connection*> connections;
  // One per connection; stop() wakes the connections and joins them all.
  OwnedThreads connection_threads{[](const std::string& what) { spdlog::error("ssh: a connection thread failed: {}", what); }};
  std::map<std::string, int> per_session;
  std::atomic<int> recording_counter{0};
  std::atomic<int> connection_counter{0};

  // The last output of each session's terminals, replayed to a watcher when it joins.
  std::map<std::string, std::string> screens;

  Impl(GatewayOptions o, AccessFn a, const Authenticator& auth, Runtime& r, GatewayMetrics* m)
      : options(std::move(o)), access(std::move(a)), authenticator(auth), runtime(r), metrics(m) {}

  void accept_loop();
  void broadcast(const std::string& session_id, const std::string& text, bool end);
  void mirror(const std::string& session_id, std::string_view output);
  void mirror_resize(const std::string& session_id, int columns, int rows);
  // The live views' watchers (watch_terminal), by id, and each session's last terminal size.
  std::map<int, std::pair<std::string, SshGateway::TerminalWatcher>> terminal_watchers;
  int next_terminal_watcher = 1;
  std::map<std::string, std::pair<int, int>> terminal_sizes;
};

// One SSH connection, served by its own thread from one poll loop.
//
// The loop's callbacks (libssh's packet handlers, the exec streams' fds) only record what
// happened: queue input, mark channels closed, create execs. Every write to the client,
// every change to the set of polled fds and every channel teardown happens at the loop's
// top level, in pump_channels() and sync_polls(). Writing from inside a callback
// re-entered the loop and reordered bulk output; see channel_bridge.h.
class Connection {
 public:
  Connection(SshGateway::Impl& gateway, ssh_session session, std::string address)
      : gateway_(gateway),
        session_(session),
        socket_fd_(ssh_get_fd(session)),
        address_(std::move(address)),
        number_(++gateway.connection_counter) {}
  ~Connection() {
    if (event_) {
      for (auto& channel : channels_) unpoll(*channel);
      ssh_event_remove_fd(event_, wake_fd_);
    }
    channels_.clear();
    if (event_) ssh_event_free(event_);
    ::close(wake_fd_);
    ssh_disconnect(session_);
    ssh_free(session_);
  }

  void serve();
  // From any thread: a line for the terminals, or the end of access.
  void post_notice(const std::string& text, bool end) {
    {
      std::lock_guard lock(notice_mutex_);
      notices_.push_back({text, end});
    }
    wake();
  }
  void post_mirror(std::string_view output) {
    {
      std::lock_guard lock(notice_mutex_);
      // A watcher that does not keep up loses output rather than the daemon its memory.
      if (mirrored_.size() < kWatchBacklog) mirrored_.append(output);
    }
    wake();
  }
  // From any thread: the loop looks at its queues and at gateway_.stopping now.
  void wake() {
    const uint64_t one = 1;
    (void)::write(wake_fd_, &one, sizeof one);
  }
  // From stop(): a client still in its key exchange, where libssh blocks this thread
  // and no wake reaches it, is cut off at once instead of at the exchange's deadline.
  void cut_if_exchanging_keys() {
    if (exchanging_keys_.load()) ::shutdown(socket_fd_, SHUT_RDWR);
  }
  // From other threads only with gateway_.mutex held: the connection's thread sets both
  // under it when the login succeeds.
  const Login& login() const { return login_; }
  bool authenticated() const { return authenticated_; }
  const std::string& address() const { return address_; }

 private:
  static constexpr std::size_t kWatchBacklog = 1024 * 1024;

  // What a channel asked for: a login shell, a command (`ssh ID 'cmd'`, legacy scp
  // included) or the sftp subsystem (OpenSSH 9's scp too).
  enum class ChannelKind { Shell, Command, Sftp };

  struct Channel {
    Connection* connection = nullptr;
    ssh_channel channel = nullptr;
    ssh_channel_callbacks_struct callbacks{};
    bool pty = false;
    std::string term = "xterm";
    TerminalSize size;
    std::vector<std::string> env;
    ChannelBridge bridge;
    int polled_fd = -1;  // the exec's fd while it is in the event, with polled_events
    short polled_events = 0;
    bool watching = false;
    bool input_throttled = false;  // libssh holds client input that the bridge had no room for
    bool eof_received = false;
    bool closing = false;  // close once the queued output is sent
    std::optional<int> exit_status;
    bool close_sent = false;
    bool peer_closed = false;
    std::string command;  // for the log of exec channels
    Steady::time_point started;
    std::unique_ptr<AsciicastWriter> recording;  // a terminal's
    std::unique_ptr<ChannelRecorder> record;     // a command's, sftp's or scp's
    std::unique_ptr<MarkerScanner> next_part;    // watches the output for the plan's marker

    bool done() const { return close_sent || peer_closed; }
    ~Channel() {
      if (auto exec = bridge.detach()) (void)exec->kill();
      if (channel) {
        ssh_remove_channel_callbacks(channel, &callbacks);
        ssh_channel_free(channel);
      }
    }
  };

  // The client's side of one channel, for its bridge.
  class Peer : public ChannelPeer {
   public:
    explicit Peer(const Channel& channel) : channel_(channel) {}
    std::size_t window() const override { return ssh_channel_window_size(channel_.channel); }
    Result<std::size_t> send(OutputStream stream, std::string_view bytes) override {
      const auto length = static_cast<uint32_t>(std::min<std::size_t>(bytes.size(), UINT32_MAX));
      // A terminal has one stream; without one, stderr travels as extended data.
      const int written = stream == OutputStream::Stderr && !channel_.pty
                              ? ssh_channel_write_stderr(channel_.channel, bytes.data(), length)
                              : ssh_channel_write(channel_.channel, bytes.data(), length);
      if (written < 0) return make_error(ErrorCode::Unavailable, "ssh channel write failed");
      return static_cast<std::size_t>(written);
    }

   private:
    const Channel& channel_;
  };

  static int on_auth_password(ssh_session, const char* user, const char* password, void* self);
  static int on_auth_pubkey(ssh_session, const char* user, ssh_key key, char signature_state, void* self);
  static ssh_channel on_channel_open(ssh_session, void* self);
  static int on_pty(ssh_session, ssh_channel, const char* term, int columns, int rows, int, int, void* channel);
  static int on_window_change(ssh_session, ssh_channel, int columns, int rows, int, int, void* channel);
  static int on_shell(ssh_session, ssh_channel, void* channel);
  static int on_exec(ssh_session, ssh_channel, const char* command, void* channel);
  static int on_subsystem(ssh_session, ssh_channel, const char* subsystem, void* channel);
  static int on_env(ssh_session, ssh_channel, const char* name, const char* value, void* channel);
  static int on_data(ssh_session, ssh_channel, void* data, uint32_t length, int is_stderr, void* channel);
  static int on_data_guarded(ssh_session session, ssh_channel channel, void* data, uint32_t length, int is_stderr,
                             void* self) {
    try {
      return on_data(session, channel, data, length, is_stderr, self);
    } catch (const std::exception& error) {
      spdlog::error("ssh: a data callback failed: {}", error.what());
      return static_cast<int>(length);
    }
  }
  static void on_eof(ssh_session, ssh_channel, void* channel);
  static void on_close(ssh_session, ssh_channel, void* channel);
  // The loop only needs to wake up: pump_channels() does the reading and writing.
  static int on_exec_ready(socket_t, int, void*) { return 0; }
  static int on_wake(socket_t fd, int, void*) {
    uint64_t count = 0;
    (void)::read(fd, &count, sizeof count);
    return 0;
  }

  // `proof` sees the username as parsed here, once.
  bool allowed(const std::string& user, LoginMethod method,
               const std::function<bool(const Login&, const SessionAccess&)>& proof);
  int start_exec(Channel& channel, ChannelKind kind);
  static ExecSpec exec_spec(const Channel& channel, ChannelKind kind, const LabHost& host, const Host* scenario_host);
  // Starts the channel's asciicast; its file name, or "" when it cannot be written.
  // The session's recording budget, shared with its other connections (made at first use).
  std::shared_ptr<RecordingBudget> recording_budget();
  std::string start_terminal_recording(Channel& channel, const std::string& host);
  // What the exec's output goes to besides the client: the recording, the watchers, the record.
  ChannelBridge::OutputObserver output_observer(Channel& channel);
  void start_record(Channel& channel, ChannelKind kind, const std::string& host, const std::string& user,
                    const std::string& terminal);
  void take_input(Channel& channel, std::string_view input);
  void write(Channel& channel, const std::string& text);
  void deliver_notices();
  std::string banner(const SessionAccess& access) const;

  // The loop's top level.
  bool pump_channels();
  void pull_input(Channel& channel);
  void finish(Channel& channel);
  void release_exec(Channel& channel, bool kill, const char* why);
  void send_close(Channel& channel);
  void sync_polls();
  void unpoll(Channel& channel);
  void collect_channels();
  void drain_and_hang_up();

  SshGateway::Impl& gateway_;
  ssh_session session_;
  const int socket_fd_;                        // the client's socket, for cut_if_exchanging_keys()
  std::atomic<bool> exchanging_keys_{true};
  std::shared_ptr<RecordingBudget> budget_;  // see recording_budget()
  std::string address_;
  const int number_;  // the gateway's count of connections, for the channel records
  const WallTime opened_ = std::chrono::system_clock::now();
  ssh_event event_ = nullptr;
  int wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ssh_server_callbacks_struct server_callbacks_{};
  Login login_;
  bool authenticated_ = false;
  bool counted_ = false;
  bool had_channel_ = false;
  std::optional<SessionAccess> access_;
  std::vector<std::unique_ptr<Channel>> channels_;
  std::mutex notice_mutex_;
  std::deque<std::pair<std::string, bool>> notices_;
  std::string mirrored_;
  bool ended_ = false;
};

bool Connection::allowed(const std::string& user, LoginMethod method,
                         const std::function<bool(const Login&, const SessionAccess&)>& proof) {
  const std::optional<Login> login = parse_username(user);
  auto refuse = [&](const char* why) {
    if (gateway_.metrics) gateway_.metrics->count_auth_failure();
    spdlog::info("ssh: login as {} from {} denied{}", loggable_username(user), address_, why);
    return false;
  };
  if (!login) {
    gateway_.logins.failed(address_, "");  // the address's own failure; no state for the name
    return refuse(" (not a session's username)");
  }
  auto wait = gateway_.logins.admit(address_, login->session_id, method);
  if (!wait) return refuse(" (too many failures from this address)");
  if (wait->count() > 0) std::this_thread::sleep_for(*wait);
  auto access = gateway_.access(login->session_id, login->watch ? "" : login->host);
  // Unknown, not ready yet, wrong host or wrong credentials: all the same answer. An
  // ended session lets valid credentials in only to say that it is over.
  const bool known =
      access.ok() && access->state != SessionState::Provisioning && access->state != SessionState::Injecting;
  // Counted before the proof is checked, so a burst of guesses is bounded before the
  // hashing costs anything; a session's table only has sessions that exist.
  const std::string counted_session = known ? login->session_id : "";
  gateway_.logins.failed(address_, counted_session);
  bool ok = known && proof(*login, *access);
  if (ok && !login->watch && !login->host.empty()) ok = access->lab && access->lab->find(login->host) != nullptr;
  if (!ok) return refuse("");
  gateway_.logins.succeeded(address_, counted_session);
  {
    // broadcast() and mirror() read these from other threads, under the gateway's mutex.
    std::lock_guard lock(gateway_.mutex);
    login_ = *login;
    // A plan's session reaches one of its parts: recordings, notices and watchers are that part's.
    if (!access->session_id.empty()) login_.session_id = access->session_id;
    authenticated_ = true;
  }
  access_ = *access;
  spdlog::info("ssh: {} from {} logged in{}", loggable_username(user), address_, access->open ? "" : " (session over)");
  return true;
}

int Connection::on_auth_password(ssh_session, const char* user, const char* password, void* self) {
  auto* connection = static_cast<Connection*>(self);
  const std::string name = user ? user : "";
  const std::string given = password ? password : "";
  const bool ok = connection->allowed(name, LoginMethod::Password, [&](const Login& login, const SessionAccess& access) {
    if (login.watch || access.password_hash.empty()) return false;
    // yescrypt is costly on purpose: only so many hashes at once, the rest are refused.
    LoginLimiter::PasswordSlot slot = connection->gateway_.logins.password_slot();
    return slot && connection->gateway_.authenticator.password_matches(given, access.password_hash);
  });
  return ok ? SSH_AUTH_SUCCESS : SSH_AUTH_DENIED;
}

int Connection::on_auth_pubkey(ssh_session, const char* user, ssh_key key, char signature_state, void* self) {
  auto* connection = static_cast<Connection*>(self);
  const std::string name = user ? user : "";
  const std::string line = key_line(key);
  auto listed = [&](const Login& login, const SessionAccess& access) {
    const auto& keys = login.watch ? connection->gateway_.options.watcher_keys : access.public_keys;
    return connection->gateway_.authenticator.key_listed(line, keys);
  };
  if (signature_state == SSH_PUBLICKEY_STATE_NONE) {
    // A probe ("may I use this key?"): no delay and no failure counted, the same answer
    // for a wrong key as for an unknown session.
    const std::optional<Login> login = parse_username(name);
    if (!login) return SSH_AUTH_DENIED;
    auto access = connection->gateway_.access(login->session_id, login->watch ? "" : login->host);
    return access.ok() && listed(*login, *access) ? SSH_AUTH_SUCCESS : SSH_AUTH_DENIED;
  }
  if (signature_state != SSH_PUBLICKEY_STATE_VALID) return SSH_AUTH_DENIED;
  return connection->allowed(name, LoginMethod::Key, listed) ? SSH_AUTH_SUCCESS : SSH_AUTH_DENIED;
}

ssh_channel Connection::on_channel_open(ssh_session session, void* self) {
  auto* connection = static_cast<Connection*>(self);
  const auto open = std::count_if(connection->channels_.begin(), connection->channels_.end(),
                                  [](const auto& channel) { return !channel->done(); });
  if (!connection->authenticated_ || open >= 10) return nullptr;
  auto channel = std::make_unique<Channel>();
  channel->connection = connection;
  channel->channel = ssh_channel_new(session);
  if (!channel->channel) return nullptr;
  auto& callbacks = channel->callbacks;
  callbacks.userdata = channel.get();
  // A request handler's non-zero answer denies the request.
  callbacks.channel_pty_request_function = Guarded<on_pty, -1>::call;
  callbacks.channel_pty_window_change_function = Guarded<on_window_change, -1>::call;
  callbacks.channel_shell_request_function = Guarded<on_shell, -1>::call;
  callbacks.channel_exec_request_function = Guarded<on_exec, -1>::call;
  callbacks.channel_subsystem_request_function = Guarded<on_subsystem, -1>::call;
  callbacks.channel_env_request_function = Guarded<on_env, -1>::call;
  // Data a failed handler did not take is dropped (counted as taken) rather than offered
  // again in a loop; the handler itself only appends to a bounded queue.
  callbacks.channel_data_function = on_data_guarded;
  callbacks.channel_eof_function = Guarded<on_eof, 0>::call;
  callbacks.channel_close_function = Guarded<on_close, 0>::call;
  ssh_callbacks_init(&callbacks);
  ssh_set_channel_callbacks(channel->channel, &callbacks);
  ssh_channel result = channel->channel;
  connection->channels_.push_back(std::move(channel));
  return result;
}

int Connection::on_pty(ssh_session, ssh_channel, const char* term, int columns, int rows, int, int, void* data) {
  auto* channel = static_cast<Channel*>(data);
  channel->pty = true;
  if (term && *term) channel->term = term;
  if (columns > 0 && rows > 0) channel->size = {std::min(columns, kMaxTerminalColumns), std::min(rows, kMaxTerminalRows)};
  return SSH_OK;
}

int Connection::on_window_change(ssh_session, ssh_channel, int columns, int rows, int, int, void* data) {
  auto* channel = static_cast<Channel*>(data);
  if (columns <= 0 || rows <= 0) return SSH_ERROR;
  // The candidate's client chooses the size: bounded, or a 65535x65535 terminal would
  // reach the recording and the interviewer's browser.
  columns = std::min(columns, kMaxTerminalColumns);
  rows = std::min(rows, kMaxTerminalRows);
  channel->size = {columns, rows};
  if (channel->bridge.exec()) (void)channel->bridge.exec()->resize(channel->size);
  if (channel->recording) {
    channel->recording->resize(columns, rows);
    channel->connection->gateway_.mirror_resize(channel->connection->login_.session_id, columns, rows);
  }
  return SSH_OK;
}

int Connection::on_env(ssh_session, ssh_channel, const char* name, const char* value, void* data) {
  auto* channel = static_cast<Channel*>(data);
  const std::string key = name ? name : "";
  // Only locale and terminal: a candidate's environment must not reach anything else.
  if (key == "LANG" || key == "TERM" || key.rfind("LC_", 0) == 0) {
    if (key.find_first_of("=\n") == std::string::npos) channel->env.push_back(key + "=" + (value ? value : ""));
    return SSH_OK;
  }
  return SSH_ERROR;
}

std::string Connection::banner(const SessionAccess& access) const {
  std::string text = "\n";
  if (!access.plan_banner.empty()) text += access.plan_banner + "\n";
  if (access.scenario) {
    text += "  breakfix lab: " + access.scenario->title + "\n\n";
    std::istringstream description(access.scenario->description);
    for (std::string line; std::getline(description, line);) text += "  " + line + "\n";
  }
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(access.deadline - std::chrono::system_clock::now());
  text += "\n  Time left: " + minutes_text(std::max(left, std::chrono::seconds(0))) + " (until " + iso_time(access.deadline) +
          "). Everything typed here is recorded.\n\n";
  // A hint given while no terminal was open is not lost.
  if (!access.hints.empty()) {
    text += "  Hints given so far:\n";
    for (const std::string& hint : access.hints) text += "    hint " + hint + "\n";
    text += "\n";
  }
  return crlf(text);
}

int Connection::on_shell(ssh_session, ssh_channel, void* data) {
  auto* channel = static_cast<Channel*>(data);
  Connection& self = *channel->connection;
  if (self.login_.watch) {
    channel->watching = true;
    self.had_channel_ = true;
    std::string screen;
    {
      std::lock_guard lock(self.gateway_.mutex);
      screen = self.gateway_.screens[self.login_.session_id];
    }
    self.write(*channel, crlf("[watching session " + self.login_.session_id + " read-only; Ctrl-C or Ctrl-D leaves]\n"));
    self.write(*channel, screen);
    return SSH_OK;
  }
  return self.start_exec(*channel, ChannelKind::Shell);
}

int Connection::on_exec(ssh_session, ssh_channel, const char* command, void* data) {
  auto* channel = static_cast<Channel*>(data);
  Connection& self = *channel->connection;
  if (self.login_.watch) return SSH_ERROR;
  channel->command = command ? command : "";
  return self.start_exec(*channel, ChannelKind::Command);
}

int Connection::on_subsystem(ssh_session, ssh_channel, const char* subsystem, void* data) {
  auto* channel = static_cast<Channel*>(data);
  Connection& self = *channel->connection;
  if (self.login_.watch || std::string(subsystem ? subsystem : "") != "sftp") return SSH_ERROR;
  channel->command = "sftp";
  return self.start_exec(*channel, ChannelKind::Sftp);
}

// What to run for a channel of `kind` on `host`: a login shell, the client's command, or
// the container's own sftp-server (openssh-sftp-server in the base image), as the
// scenario's user in its workdir.
ExecSpec Connection::exec_spec(const Channel& channel, ChannelKind kind, const LabHost& host, const Host* scenario_host) {
  ExecSpec spec;
  spec.container = host.container_name;
  spec.command = kind == ChannelKind::Shell     ? std::vector<std::string>{"/bin/bash", "-l"}
                 : kind == ChannelKind::Command ? std::vector<std::string>{"/bin/sh", "-c", channel.command}
                                                : std::vector<std::string>{"/usr/lib/openssh/sftp-server"};
  spec.tty = kind != ChannelKind::Sftp && channel.pty;
  spec.size = channel.size;
  spec.user = scenario_host ? scenario_host->user : "root";
  spec.workdir = scenario_host ? scenario_host->workdir : "";
  spec.env = channel.env;
  spec.env.push_back("TERM=" + channel.term);
  return spec;
}

int Connection::start_exec(Channel& channel, ChannelKind kind) {
  if (channel.bridge.exec() || channel.closing || !access_) return SSH_ERROR;
  had_channel_ = true;
  // The session may have ended between login and this request (or, between a plan's
  // parts, there is no lab to reach: the closing message says why).
  auto now = gateway_.access(login_.session_id, login_.host);
  if (!now.ok() || !now->open || !access_->lab) {
    write(channel, crlf(!access_->closed_message.empty()
                            ? access_->plan_banner + "\n  " + access_->closed_message + "\n"
                            : "This session is over: logins ended at " + iso_time(access_->deadline) + ".\n"));
    channel.exit_status = 1;
    channel.closing = true;
    return SSH_OK;
  }
  const LabHost* host = login_.host.empty() ? &access_->lab->entry() : access_->lab->find(login_.host);
  const Host* scenario_host = access_->scenario ? access_->scenario->find_host(host->name) : nullptr;
  const ExecSpec spec = exec_spec(channel, kind, *host, scenario_host);
  auto exec = gateway_.runtime.start_exec(spec);
  if (!exec) {
    spdlog::warn("ssh: session {}: exec failed: {}", login_.session_id, exec.error().message);
    if (gateway_.metrics) gateway_.metrics->count_runtime_error();
    return SSH_ERROR;
  }
  channel.started = Steady::now();
  // A terminal is recorded as asciicast; a command without one, sftp and scp as a channel record.
  const bool interactive = kind == ChannelKind::Shell || (kind == ChannelKind::Command && channel.pty);
  std::string file;
  if (interactive) {
    file = start_terminal_recording(channel, host->name);
    if (channel.command.empty()) write(channel, banner(*access_));
  }
  // An exec with a TTY has both: the terminal for its screen, the record for its command
  // and exit status.
  if (kind != ChannelKind::Shell) start_record(channel, kind, host->name, spec.user, file);
  channel.bridge.attach(std::move(*exec), output_observer(channel));
  return SSH_OK;
}

std::shared_ptr<RecordingBudget> Connection::recording_budget() {
  if (!budget_) {
    budget_ = gateway_.recording_budgets.for_session(
        login_.session_id, [gateway = &gateway_, id = login_.session_id, limits = gateway_.options.recordings] {
          spdlog::warn("ssh: session {}: recordings reached their limit ({} bytes, {} files); no more is recorded", id,
                       limits.max_bytes, limits.max_files);
          gateway->broadcast(id, kRecordingLimitNotice, false);
        });
  }
  return budget_;
}

std::string Connection::start_terminal_recording(Channel& channel, const std::string& host) {
  if (!recording_budget()->take_file()) return "";
  const std::string file = recording_name(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count(),
      gateway_.recording_counter++);
  auto recording = AsciicastWriter::create(gateway_.options.recordings_dir / login_.session_id / file, channel.size.columns,
                                           channel.size.rows, login_.session_id + " " + host, channel.term);
  if (!recording) {
    spdlog::warn("ssh: {}", recording.error().message);
    return "";
  }
  channel.recording = std::move(*recording);
  channel.recording->set_budget(recording_budget());
  gateway_.mirror_resize(login_.session_id, channel.size.columns, channel.size.rows);
  return file;
}

ChannelBridge::OutputObserver Connection::output_observer(Channel& channel) {
  // Only a part that has a next one listens, and a channel asks once: a candidate who
  // prints the marker in a loop makes one request, not thousands.
  if (gateway_.options.on_next_part && !gateway_.options.next_part_marker.empty() && access_ && access_->next_part) {
    channel.next_part = std::make_unique<MarkerScanner>(gateway_.options.next_part_marker);
  }
  if (!channel.recording && !channel.record && !channel.next_part) return {};
  // The bridge drops this observer when the exec is released, before these are reset.
  return [this, recording = channel.recording.get(), record = channel.record.get(),
          next_part = channel.next_part.get()](OutputStream stream, std::string_view piece) {
    if (recording) {
      recording->output(piece);
      gateway_.mirror(login_.session_id, piece);
    }
    if (record) record->output(stream, piece);
    if (next_part && !next_part->done() && next_part->feed(piece) > 0) {
      next_part->finish();
      spdlog::info("ssh: session {}: the candidate asked for the next part", login_.session_id);
      gateway_.options.on_next_part(login_.session_id);
    }
  };
}

void Connection::start_record(Channel& channel, ChannelKind kind, const std::string& host, const std::string& user,
                              const std::string& terminal) {
  if (gateway_.options.recordings_dir.empty()) return;  // recording is off (tests without a data dir)
  if (!recording_budget()->take_file()) return;
  ChannelRecord start;
  std::unique_ptr<TransferObserver> observer;
  start.type = "exec";
  if (kind == ChannelKind::Sftp) {
    start.type = "sftp";
    observer = std::make_unique<SftpObserver>();
  } else if (auto scp = parse_scp_command(channel.command); scp && !channel.pty) {
    start.type = "scp";
    observer = std::make_unique<ScpObserver>(std::move(*scp));
  }
  if (kind == ChannelKind::Command) start.command = channel.command;
  start.host = host;
  start.user = user;
  start.terminal = terminal;
  start.connection = number_;
  start.from = address_;
  start.connection_opened = opened_;
  start.started = std::chrono::system_clock::now();
  const std::string name = recording_name(std::chrono::duration_cast<std::chrono::seconds>(start.started.time_since_epoch()).count(),
                                          gateway_.recording_counter++, start.type);
  auto record = ChannelRecorder::create(gateway_.options.recordings_dir / login_.session_id / name, std::move(start),
                                        std::move(observer));
  if (!record) {
    spdlog::warn("ssh: {}", record.error().message);
    return;
  }
  channel.record = std::move(*record);
  channel.record->set_budget(recording_budget());
}

void Connection::take_input(Channel& channel, std::string_view input) {
  if (channel.recording) channel.recording->input(input);
  if (channel.record) channel.record->input(input);
  channel.bridge.queue_input(input);
}

int Connection::on_data(ssh_session, ssh_channel, void* data, uint32_t length, int, void* self_channel) {
  auto* channel = static_cast<Channel*>(self_channel);
  const std::string_view input(static_cast<const char*>(data), length);
  if (channel->watching) {
    // Read-only: Ctrl-C or Ctrl-D leaves, anything else is dropped.
    if (input.find('\x03') != std::string_view::npos || input.find('\x04') != std::string_view::npos) {
      channel->closing = true;
    }
    return static_cast<int>(length);
  }
  if (!channel->bridge.exec() || channel->bridge.process_ended()) return static_cast<int>(length);
  if (channel->bridge.input_full()) {
    // Leave it with libssh (which then stops growing the client's window); pull_input()
    // takes it once the process has caught up.
    channel->input_throttled = true;
    return 0;
  }
  // libssh hands over everything it holds, oldest first, so taking it all keeps the order.
  channel->connection->take_input(*channel, input);
  channel->input_throttled = false;
  return static_cast<int>(length);
}

void Connection::on_eof(ssh_session, ssh_channel, void* data) { static_cast<Channel*>(data)->eof_received = true; }

void Connection::on_close(ssh_session, ssh_channel, void* data) { static_cast<Channel*>(data)->peer_closed = true; }

void Connection::write(Channel& channel, const std::string& text) {
  if (channel.done() || text.empty()) return;
  channel.bridge.queue_output(OutputStream::Stdout, text);
  if (channel.recording) channel.recording->output(text);
}

void Connection::deliver_notices() {
  std::deque<std::pair<std::string, bool>> notices;
  std::string mirrored;
  {
    std::lock_guard lock(notice_mutex_);
    notices.swap(notices_);
    mirrored.swap(mirrored_);
  }
  if (!mirrored.empty()) {
    for (auto& channel : channels_) {
      if (channel->watching && channel->bridge.output_backlog() < kWatchBacklog) write(*channel, mirrored);
    }
  }
  for (const auto& [text, end] : notices) {
    for (auto& channel : channels_) {
      const bool terminal = channel->pty || channel->watching;
      if (terminal) write(*channel, crlf("\n\a*** breakfix: " + text + " ***\n"));
      if (end) {
        release_exec(*channel, true, "the session ended");
        channel->closing = true;
      }
    }
    if (end) ended_ = true;
  }
}

void Connection::pull_input(Channel& channel) {
  while (channel.input_throttled && !channel.bridge.input_full() && !channel.done()) {
    char buffer[32 * 1024];
    const int n = ssh_channel_read_nonblocking(channel.channel, buffer, sizeof buffer, 0);
    if (n <= 0) {
      channel.input_throttled = false;
      break;
    }
    take_input(channel, std::string_view(buffer, static_cast<std::size_t>(n)));
  }
  // EOF comes after the data: not before libssh has handed all of it over. A terminal
  // never sees it, as with OpenSSH's sshd, which cannot half-close a pty either: Docker
  // ends a TTY exec's output when its stdin closes, so `printf 'cmd\nexit\n' | ssh -tt`
  // ran the commands but lost everything they printed. The shell ends at its `exit`.
  if (channel.eof_received && !channel.input_throttled && !channel.pty) channel.bridge.input_eof();
}

bool Connection::pump_channels() {
  bool busy = false;
  // By index: a nested poll inside a write may open a channel (push_back).
  for (std::size_t i = 0; i < channels_.size(); ++i) {
    Channel& channel = *channels_[i];
    if (channel.peer_closed) {
      // The client hung up on this channel: whatever runs for it dies.
      release_exec(channel, true, "the client closed the channel");
      channel.bridge.drop_output();
      continue;
    }
    if (channel.close_sent) continue;
    pull_input(channel);
    Peer peer(channel);
    auto moved = channel.bridge.pump(peer);
    if (!moved) {
      spdlog::debug("ssh: {}: {}", address_, moved.error().message);
      release_exec(channel, true, "the connection broke");
      channel.bridge.drop_output();
      channel.close_sent = true;
      continue;
    }
    busy = busy || *moved;
    if (channel.bridge.exec() && channel.bridge.process_ended() && channel.bridge.output_backlog() == 0) finish(channel);
    if (channel.closing && channel.bridge.output_backlog() == 0) send_close(channel);
  }
  return busy;
}

void Connection::finish(Channel& channel) {
  auto code = channel.bridge.exec()->exit_code();
  const int status = code.ok() ? *code : 255;
  if (!channel.command.empty()) {
    spdlog::info("ssh: session {}: exec '{}' exited {} after {} ms", login_.session_id, channel.command, status,
                 std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - channel.started).count());
  }
  if (channel.record) channel.record->finish(status, "exited");
  release_exec(channel, false, "exited");
  channel.exit_status = status;
  channel.closing = true;
}

void Connection::release_exec(Channel& channel, bool kill, const char* why) {
  unpoll(channel);
  auto exec = channel.bridge.detach();
  if (exec && kill) (void)exec->kill();
  channel.recording.reset();
  if (channel.record) channel.record->finish(std::nullopt, why);
  channel.record.reset();
}

void Connection::send_close(Channel& channel) {
  if (channel.done()) return;
  channel.close_sent = true;
  if (channel.exit_status) ssh_channel_request_send_exit_status(channel.channel, *channel.exit_status);
  ssh_channel_send_eof(channel.channel);
  ssh_channel_close(channel.channel);
}

void Connection::sync_polls() {
  for (auto& channel : channels_) {
    ExecStream* exec = channel->bridge.exec();
    const short events = exec ? channel->bridge.poll_events() : 0;
    const int fd = events ? exec->poll_fd() : -1;
    if (events == channel->polled_events && fd == channel->polled_fd) continue;
    unpoll(*channel);
    if (events && ssh_event_add_fd(event_, fd, events, on_exec_ready, nullptr) == SSH_OK) {
      channel->polled_fd = fd;
      channel->polled_events = events;
    }
  }
}

void Connection::unpoll(Channel& channel) {
  if (channel.polled_fd >= 0) ssh_event_remove_fd(event_, channel.polled_fd);
  channel.polled_fd = -1;
  channel.polled_events = 0;
}

void Connection::collect_channels() {
  // Channels the client closed are gone for good; their exec was released in pump_channels().
  std::erase_if(channels_, [](const auto& channel) { return channel->peer_closed && channel->polled_fd < 0; });
}

void Connection::drain_and_hang_up() {
  // The last packets (output, exit status, close) leave before the disconnect.
  const auto give_up = Steady::now() + std::chrono::seconds(5);
  while ((ssh_get_poll_flags(session_) & SSH_WRITE_PENDING) && Steady::now() < give_up &&
         ssh_is_connected(session_) != 0) {
    if (ssh_event_dopoll(event_, 50) == SSH_ERROR) break;
  }
}

void Connection::serve() {
  server_callbacks_.userdata = this;
  server_callbacks_.auth_password_function = Guarded<on_auth_password, SSH_AUTH_DENIED>::call;
  server_callbacks_.auth_pubkey_function = Guarded<on_auth_pubkey, SSH_AUTH_DENIED>::call;
  server_callbacks_.channel_open_request_session_function = Guarded<on_channel_open, nullptr>::call;
  ssh_callbacks_init(&server_callbacks_);
  ssh_set_server_callbacks(session_, &server_callbacks_);
  const auto login_deadline = Steady::now() + gateway_.options.login_grace;
  // The key exchange blocks this thread; a client that stalls in it is dropped sooner
  // than one that is slow to log in.
  long timeout = static_cast<long>(std::min(gateway_.options.key_exchange_timeout, gateway_.options.login_grace).count());
  ssh_options_set(session_, SSH_OPTIONS_TIMEOUT, &timeout);
  const bool exchanged = ssh_handle_key_exchange(session_) == SSH_OK;
  exchanging_keys_ = false;
  if (!exchanged) {
    spdlog::debug("ssh: key exchange with {} failed: {}", address_, ssh_get_error(session_));
    return;
  }
  // From here on nothing waits on the client: writes go out as its window allows and the
  // rest waits in the channel's bridge.
  ssh_set_blocking(session_, 0);
  ssh_set_auth_methods(session_, SSH_AUTH_METHOD_PUBLICKEY | SSH_AUTH_METHOD_PASSWORD);
  event_ = ssh_event_new();
  ssh_event_add_session(event_, session_);
  ssh_event_add_fd(event_, wake_fd_, POLLIN, on_wake, nullptr);
  bool busy = false;
  std::optional<Steady::time_point> hang_up_by;
  while (!gateway_.stopping.load()) {
    sync_polls();
    // Everything that needs the loop wakes it (the client, the execs, notices, stop()), so an
    // idle connection sleeps; the timeout only bounds the login deadline's lateness.
    const int timeout_ms = busy ? 0 : (!authenticated_ || hang_up_by) ? 200 : 5000;
    if (ssh_event_dopoll(event_, timeout_ms) == SSH_ERROR) break;
    if (!authenticated_ && Steady::now() > login_deadline) {
      spdlog::info("ssh: {} did not log in within {}s", address_, gateway_.options.login_grace.count());
      break;
    }
    if (authenticated_ && !counted_) {
      std::lock_guard lock(gateway_.mutex);
      if (!login_.watch && gateway_.per_session[login_.session_id] >= gateway_.options.max_connections_per_session) break;
      gateway_.per_session[login_.session_id]++;
      counted_ = true;
    }
    deliver_notices();
    busy = pump_channels();
    collect_channels();
    if (ssh_is_connected(session_) == 0) break;
    const bool all_done =
        std::all_of(channels_.begin(), channels_.end(), [](const auto& channel) { return channel->done(); });
    if (had_channel_ && all_done) {
      // Every channel is closed on our side. The client answers each close with its own
      // (collect_channels() then drops the channel) and hangs up by itself; a disconnect
      // before that would cost it the exit status.
      if (channels_.empty()) break;
      if (!hang_up_by) hang_up_by = Steady::now() + std::chrono::seconds(3);
    }
    // At the end of access, a client that does not read its closing message is not waited for.
    if (ended_ && !hang_up_by) hang_up_by = Steady::now() + std::chrono::seconds(5);
    if (hang_up_by && Steady::now() > *hang_up_by) break;
  }
  drain_and_hang_up();
  if (counted_) {
    std::lock_guard lock(gateway_.mutex);
    gateway_.per_session[login_.session_id]--;
  }
}

void SshGateway::Impl::accept_loop() {
  while (!stopping.load()) {
    pollfd entry{ssh_bind_get_fd(bind), POLLIN, 0};
    if (::poll(&entry, 1, 200) <= 0) continue;
    ssh_session session = ssh_new();
    if (ssh_bind_accept(bind, session) != SSH_OK) {
      ssh_free(session);
      continue;
    }
    std::string address = "unknown";
    // The peer's address, for rate limits and logs.
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    if (::getpeername(ssh_get_fd(session), reinterpret_cast<sockaddr*>(&peer), &length) == 0) {
      char text[INET6_ADDRSTRLEN] = {};
      if (peer.ss_family == AF_INET) ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, text, sizeof text);
      else ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, text, sizeof text);
      address = text;
    }
    std::unique_lock lock(mutex);
    const auto pending = std::count_if(connections.begin(), connections.end(), [&](const Connection* other) {
      return !other->authenticated() && other->address() == address;
    });
    const bool full = static_cast<int>(connections.size()) >= options.max_connections;
    if (full || pending >= options.max_unauthenticated_per_address) {
      lock.unlock();
      if (full) spdlog::warn("ssh: connection from {} refused: {} connections open", address, options.max_connections);
      else spdlog::info("ssh: connection from {} refused: {} from it not logged in yet", address, pending);
      ssh_disconnect(session);
      ssh_free(session);
      continue;
    }
    auto* connection = new Connection(*this, session, address);
    connections.insert(connection);
    lock.unlock();
    if (metrics) {
      metrics->count_ssh_connection();
      metrics->ssh_connection_opened();
    }
    connection_threads.spawn([this, connection] {
      try {
        connection->serve();
      } catch (const std::exception& error) {
        // The connection ends, never the daemon; what follows still cleans up.
        spdlog::error("ssh: connection from {}: {}", connection->address(), error.what());
      }
      {
        std::lock_guard done(mutex);
        connections.erase(connection);
      }
      delete connection;
      // A bulk transfer leaves megabytes in this thread's malloc arena; give them back
      // rather than keep the peak for the daemon's lifetime.
      ::malloc_trim(0);
      if (metrics) metrics->ssh_connection_closed();
    });
  }
}

void SshGateway::Impl::broadcast(const std::string& session_id, const std::string& text, bool end) {
  std::lock_guard lock(mutex);
  for (Connection* connection : connections) {
    if (connection->authenticated() && connection->login().session_id == session_id) connection->post_notice(text, end);
  }
}

void SshGateway::Impl::mirror(const std::string& session_id, std::string_view output) {
  std::lock_guard lock(mutex);
  std::string& screen = screens[session_id];
  screen.append(output);
  // Enough to redraw a full screen of a busy terminal; older output is gone.
  constexpr std::size_t kScreenBytes = 64 * 1024;
  if (screen.size() > kScreenBytes) screen.erase(0, screen.size() - kScreenBytes);
  for (Connection* connection : connections) {
    if (connection->authenticated() && connection->login().watch && connection->login().session_id == session_id) {
      connection->post_mirror(output);
    }
  }
  for (const auto& [id, watcher] : terminal_watchers) {
    if (watcher.first == session_id) watcher.second({std::string(output), 0, 0});
  }
}

void SshGateway::Impl::mirror_resize(const std::string& session_id, int columns, int rows) {
  std::lock_guard lock(mutex);
  terminal_sizes[session_id] = {columns, rows};
  for (const auto& [id, watcher] : terminal_watchers) {
    if (watcher.first == session_id) watcher.second({"", columns, rows});
  }
}

int SshGateway::watch_terminal(const std::string& session_id, TerminalWatcher watcher) {
  std::lock_guard lock(impl_->mutex);
  if (auto size = impl_->terminal_sizes.find(session_id); size != impl_->terminal_sizes.end()) {
    watcher({"", size->second.first, size->second.second});
  }
  if (auto screen = impl_->screens.find(session_id); screen != impl_->screens.end() && !screen->second.empty()) {
    watcher({screen->second, 0, 0});
  }
  const int id = impl_->next_terminal_watcher++;
  impl_->terminal_watchers[id] = {session_id, std::move(watcher)};
  return id;
}

void SshGateway::unwatch_terminal(int id) {
  std::lock_guard lock(impl_->mutex);
  impl_->terminal_watchers.erase(id);
}

SshGateway::SshGateway(GatewayOptions options, AccessFn access, const Authenticator& authenticator, Runtime& runtime,
                       GatewayMetrics* metrics)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(access), authenticator, runtime, metrics)) {}

SshGateway::~SshGateway() {
  stop();
  if (impl_->bind) ssh_bind_free(impl_->bind);
}

Status SshGateway::listen() {
  std::string host = impl_->options.listen;
  std::string port = "2222";
  const std::size_t colon = host.rfind(':');
  if (colon != std::string::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  impl_->bind = ssh_bind_new();
  ssh_bind b = impl_->bind;
  const std::string key = impl_->options.host_key.string();
  int verbosity = SSH_LOG_NOLOG;
  if (ssh_bind_options_set(b, SSH_BIND_OPTIONS_BINDADDR, host.c_str()) != SSH_OK ||
      ssh_bind_options_set(b, SSH_BIND_OPTIONS_BINDPORT_STR, port.c_str()) != SSH_OK ||
      ssh_bind_options_set(b, SSH_BIND_OPTIONS_HOSTKEY, key.c_str()) != SSH_OK ||
      ssh_bind_options_set(b, SSH_BIND_OPTIONS_LOG_VERBOSITY, &verbosity) != SSH_OK ||
      // "SSH-2.0-breakfix": the library's version is nobody's business, and ssh-audit
      // 2.5 compares "0.10.6" below "0.7.3" and reports libssh's 2016 CVEs for it.
      ssh_bind_options_set(b, SSH_BIND_OPTIONS_BANNER, "breakfix") != SSH_OK ||
      ssh_bind_options_set(b, SSH_BIND_OPTIONS_KEY_EXCHANGE, kKeyExchange) != SSH_OK ||
      ssh_bind_options_set(b, SSH_BIND_OPTIONS_CIPHERS_C_S, kCiphers) != SSH_OK ||
      ssh_bind_options_set(b, SSH_BIND_OPTIONS_CIPHERS_S_C, kCiphers) != SSH_OK ||
      ssh_bind_options_set(b, SSH_BIND_OPTIONS_HMAC_C_S, kMacs) != SSH_OK ||
      ssh_bind_options_set(b, SSH_BIND_OPTIONS_HMAC_S_C, kMacs) != SSH_OK ||
      ssh_bind_options_set(b, SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, kHostKeyAlgorithms) != SSH_OK ||
      ssh_bind_options_set(b, SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, kUserKeyAlgorithms) != SSH_OK) {
    return make_error(ErrorCode::Invalid, std::string("ssh gateway options: ") + ssh_get_error(b));
  }
  if (ssh_bind_listen(b) != SSH_OK) {
    return make_error(ErrorCode::Unavailable, "cannot listen for ssh on " + impl_->options.listen + ": " + ssh_get_error(b));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  if (::getsockname(ssh_bind_get_fd(b), reinterpret_cast<sockaddr*>(&bound), &length) == 0) {
    impl_->bound_port = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                                         : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  }
  return {};
}

int SshGateway::port() const { return impl_->bound_port; }

void SshGateway::start() {
  impl_->accept_thread = std::thread([this] {
    // A throw from one accept (out of memory) is logged; the gateway keeps accepting.
    while (!impl_->stopping.load()) {
      try {
        impl_->accept_loop();
      } catch (const std::exception& error) {
        spdlog::error("ssh: accept loop: {}", error.what());
      }
    }
  });
}

void SshGateway::stop() {
  if (impl_->stopping.exchange(true)) return;
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  {
    std::lock_guard lock(impl_->mutex);
    for (Connection* connection : impl_->connections) {
      connection->wake();
      connection->cut_if_exchanging_keys();
    }
  }
  // Each loop sees `stopping` when woken; one in its key exchange fails it now.
  impl_->connection_threads.join_all();
}

void SshGateway::notice(const std::string& session_id, const std::string& text) {
  const bool end = text.rfind("time is up", 0) == 0;
  impl_->broadcast(session_id, text == "time is up" ? "time is up: this session has ended. Thank you!" : text, end);
}

}  // namespace breakfix
