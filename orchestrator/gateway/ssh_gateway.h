#pragma once

// The SSH gateway (libssh server): one port for every session. The username picks the
// session ("<id>", "<id>+<host>") or asks to watch one ("watch+<id>"); the candidate
// proves who they are with a key or the session's one-time password; each channel is
// bridged to an exec in the session's container through the runtime, so lab images need
// no sshd. Interactive channels are recorded as asciicast v2 and mirrored to watchers;
// commands, sftp and legacy scp as channel records (gateway/channel_recorder.h) that name
// the files moved, parsed from the protocols as they pass.
//
// Threads: one accept thread and a thread per connection (libssh sessions are used by
// one thread each). notice() may be called from any thread.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "breakfix/error.h"
#include "breakfix/runtime.h"
#include "gateway/authenticator.h"
#include "gateway/gateway_metrics.h"
#include "gateway/login_limiter.h"
#include "gateway/recording_budget.h"
#include "session/session_engine.h"

namespace breakfix {

struct GatewayOptions {
  std::string listen = "0.0.0.0:2222";  // "host:port"; port 0 picks a free one
  std::filesystem::path host_key;        // the ed25519 private key file
  std::filesystem::path recordings_dir;  // <dir>/<session>/<second>-<n>.cast and .<type>.jsonl
  std::vector<std::string> watcher_keys;  // interviewers' public keys, "<type> <base64>" (watch+<id>)
  int max_connections = 256;
  int max_connections_per_session = 8;
  // Connections from one address that have not logged in yet; more are refused at once,
  // so one address cannot take the slots every candidate needs.
  int max_unauthenticated_per_address = 8;
  std::chrono::seconds key_exchange_timeout{10};  // a client silent in the key exchange is dropped
  std::chrono::seconds login_grace{30};           // unauthenticated connections close after this
  LoginLimits logins;                             // failed logins and password hashing (login_limiter.h)
  RecordingLimits recordings;                     // bytes and files per session (recording_budget.h)
  // Called (on the connection's thread; keep it short) when a candidate's terminal or
  // command prints next_part_marker: a plan's part asks to move on (session/plan_sessions.h).
  std::string next_part_marker;
  std::function<void(const std::string& session_id)> on_next_part;
};

// How the gateway learns of a session (the engine's access(), or a fake in tests): the
// login's id and host ("" for the entry host). The access names the session it reaches
// (a plan's session reaches one of its parts), which the connection then goes by.
using AccessFn = std::function<Result<SessionAccess>(const std::string& login_id, const std::string& host)>;

class SshGateway {
 public:
  // `authenticator` and `metrics` (which may be null) must outlive the gateway.
  SshGateway(GatewayOptions options, AccessFn access, const Authenticator& authenticator, Runtime& runtime,
             GatewayMetrics* metrics);
  ~SshGateway();  // stop()s

  Status listen();
  int port() const;
  void start();
  // Stops accepting and closes every connection.
  void stop();

  // A session's terminals for a live view (the web console): output as the candidate
  // sees it, and resizes (columns > 0).
  struct TerminalEvent {
    std::string output;
    int columns = 0;
    int rows = 0;
  };
  // Called with the gateway's lock held: a watcher queues and returns, never blocks.
  using TerminalWatcher = std::function<void(const TerminalEvent&)>;
  // The watcher hears at once the last size and up to 64 KiB of what the session's
  // terminals showed, then every change. Returns an id for unwatch_terminal().
  int watch_terminal(const std::string& session_id, TerminalWatcher watcher);
  void unwatch_terminal(int id);

  // A line for every open terminal of the session ("5 minutes left"); a text that
  // starts with "time is up" also closes its channels, with that text as the closing
  // message ("time is up" alone: the usual one).
  void notice(const std::string& session_id, const std::string& text);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace breakfix
