#pragma once

// The daemon's configuration (`breakfix serve --config FILE`, default
// /etc/breakfix/config.yaml). Every key, its default and its meaning are in
// docs/config.md. A missing file is not an error when it is the default path: every
// key has a default. Read by load_daemon_config, which reports every problem of the
// file at once as FILE:LINE:COL: field: message, the way the scenario loader does.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "breakfix/diagnostic.h"
#include "breakfix/runtime_factory.h"

namespace breakfix {

inline constexpr const char* kDefaultConfigPath = "/etc/breakfix/config.yaml";

// Someone allowed to drive sessions: through the API over TCP (a bearer token) and to
// watch candidates live over SSH (public keys).
struct Interviewer {
  std::string name;
  std::string token;                  // from `token:` or read from `token_file:`; may be empty
  std::vector<std::string> ssh_keys;  // OpenSSH public key lines ("ssh-ed25519 AAAA... comment")
};

struct DaemonConfig {
  // listen:
  std::filesystem::path api_socket = "/run/breakfix/api.sock";  // "" disables the unix socket
  std::uint32_t api_socket_mode = 0660;                          // octal string in YAML: "0660"
  std::string api_socket_group;                                  // "" keeps the daemon's group
  std::string api_tcp;             // "host:port" or "" (off). Needs at least one interviewer token.
  int api_max_connections = 64;    // open at once on each listener (the unix socket, TCP)
  std::chrono::seconds api_request_timeout{30};  // a request's first byte to its last
  std::string ssh_listen = "0.0.0.0:2222";
  std::string ssh_public_host;     // host name printed in ssh commands; "" = this machine's hostname
  int ssh_public_port = 0;         // port printed in ssh commands; 0 = the listen port

  std::filesystem::path data_dir = "/var/lib/breakfix";
  std::vector<std::filesystem::path> scenario_dirs = {"/usr/share/breakfix/scenarios"};

  // runtime:
  Backend backend = Backend::Docker;
  std::string docker_socket = "/var/run/docker.sock";
  std::string lxd_socket = "/var/lib/lxd/unix.socket";
  std::string lxd_pool = "breakfix";
  std::chrono::seconds runtime_timeout{300};

  // sessions:
  std::optional<std::chrono::seconds> default_duration;  // unset: each scenario's own
  std::chrono::seconds max_duration{4 * 3600};            // duration or extension beyond: 400
  int max_sessions = 50;                                  // live sessions at once; more: 409
  std::chrono::seconds retention{3600};                   // hosts kept after grading
  std::chrono::seconds progress_interval{120};            // 0s: no progress check runs
  bool allow_outside_network = false;                     // may scenarios use `network: outside`?
  std::map<std::string, int> warm;                        // sessions.warm: labs kept ready, by scenario
  int provision_workers = 8;                              // sessions provisioned/graded at once
  int max_disk_mib = 4096;                                // a host's writable layer; past it the session ends (0: no limit)
  std::chrono::seconds disk_check_interval{30};           // how often the disk watchdog measures

  // gateway: the SSH gateway's limits
  int ssh_max_connections = 256;             // open at once; more are refused
  int ssh_max_connections_per_session = 8;   // a candidate's connections to one session
  int ssh_max_unauthenticated_per_address = 8;     // connections not logged in yet, per source address
  std::chrono::seconds ssh_key_exchange_timeout{10};  // a connection must finish the key exchange within this
  std::chrono::seconds ssh_login_grace{30};  // unauthenticated connections close after this
  int ssh_free_failures = 3;                 // failed logins (per address, per session) without delay
  int ssh_max_failures = 20;                 // beyond, that address is refused until the window passes
  int ssh_max_password_checks = 4;           // passwords hashed at once; more attempts are refused
  int ssh_max_recording_mib = 512;           // a session's recordings; past it nothing more is recorded
  int ssh_max_recording_files = 2000;        // a session's recordings: one per channel
  std::chrono::seconds ssh_failure_window{300};
  std::chrono::seconds ssh_failure_delay{1};  // the first delay; doubles per failure, up to 16x

  // log:
  std::string log_format = "text";  // text | json
  std::string log_level = "info";   // trace | debug | info | warn | error

  std::vector<Interviewer> interviewers;
};

struct DaemonConfigResult {
  DaemonConfig config;
  std::vector<Diagnostic> diagnostics;  // errors make the config unusable
  bool file_found = false;
};

// Reads `file`. A missing file gives the defaults plus an error, unless `missing_ok`.
// Relative paths in the file (data_dir, scenario_dirs, token_file, api_socket) are
// resolved against the file's directory.
DaemonConfigResult load_daemon_config(const std::filesystem::path& file, bool missing_ok);

// The same from text already read (tests); `file` names it in diagnostics.
DaemonConfigResult parse_daemon_config(const std::string& text, const std::filesystem::path& file);

}  // namespace breakfix
