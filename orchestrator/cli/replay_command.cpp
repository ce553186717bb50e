// `breakfix session replay` plays a session's terminal recording (cli/replay.h), or shows
// the record of a command, sftp or scp channel, fetched through the API or read from a
// file; `breakfix session watch` hands over to the system's ssh to watch a candidate live
// through the gateway's watch+ID login.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "breakfix/percent_encoding.h"
#include "cli/api_call.h"
#include "cli/exit_codes.h"
#include "cli/replay.h"
#include "cli/runtime_commands.h"
#include "session/recordings.h"

namespace breakfix::cli {
namespace {

using nlohmann::json;

struct ReplayOptions {
  std::string id;
  double speed = 1.0;
  double idle_limit = 2.0;  // seconds; 0: no cap
  std::string name;
  std::string file;
  bool no_wait = false;
  bool list = false;
};

struct WatchOptions {
  std::string id;
  std::string host;
  std::optional<int> port;
  std::string identity;
};

int list_recordings(const Connection& connection, const std::string& id) {
  Call listed = call(connection, "GET", "/v1/sessions/" + id + "/recording?list=1");
  if (!listed.ok()) return listed.exit_code;
  for (const json& name : listed.body["recordings"]) std::cout << name.get<std::string>() << "\n";
  return kExitOk;
}

int replay(const Connection& connection, const ReplayOptions& options) {
  if (options.list) return list_recordings(connection, options.id);
  std::string text;
  std::string source;
  if (!options.file.empty()) {
    std::ifstream in(options.file, std::ios::binary);
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (!in || in.bad()) {
      std::cerr << "breakfix: cannot read " << options.file << ": " << std::strerror(errno) << "\n";
      return kExitFailure;
    }
    text = buffer.str();
    source = options.file;
  } else {
    std::string target = "/v1/sessions/" + options.id + "/recording";
    if (!options.name.empty()) target += "?name=" + percent_encode(options.name);
    Call fetched = call(connection, "GET", target, "", "application/x-asciicast, application/x-ndjson");
    if (!fetched.ok()) return fetched.exit_code;
    text = std::move(fetched.raw);
    source = "session " + options.id + "'s recording" + (options.name.empty() ? "" : " " + options.name);
  }

  // A channel record (a command, sftp, scp) is shown at once; there is no timing to play.
  const std::string name = options.file.empty() ? options.name : std::filesystem::path(options.file).filename().string();
  if (is_channel_record(name)) {
    auto record = parse_channel_record(text, name);
    if (!record) {
      std::cerr << "breakfix: " << record.error().message << "\n";
      return kExitFailure;
    }
    print_channel_record(std::cout, *record);
    return std::cout ? kExitOk : kExitFailure;
  }

  auto player = AsciicastPlayer::parse(text);
  if (!player) {
    std::cerr << "breakfix: " << source << ": " << player.error().message << "\n";
    return kExitFailure;
  }
  if (player->truncated()) {
    std::cerr << "breakfix: " << source << ": the last event is incomplete (still being written?); it is left out\n";
  }

  AsciicastPlayer::Options play_options;
  play_options.speed = options.speed;
  play_options.idle_limit = std::chrono::microseconds(std::llround(options.idle_limit * 1e6));
  // Each pause is added to one deadline, so the time spent writing does not add up to
  // drift over a long recording.
  auto deadline = std::chrono::steady_clock::now();
  AsciicastPlayer::Sleep sleep = [&deadline](std::chrono::microseconds pause) {
    deadline += pause;
    std::this_thread::sleep_until(deadline);
  };
  if (options.no_wait) sleep = [](std::chrono::microseconds) {};
  player->play(std::cout, sleep, play_options);
  if (!std::cout) {
    std::cerr << "breakfix: writing the recording to standard output failed\n";
    return kExitFailure;
  }
  return kExitOk;
}

int watch(const Connection& connection, const WatchOptions& options) {
  std::string host = options.host;
  int port = options.port.value_or(0);
  if (host.empty() || port == 0) {
    Call session = call(connection, "GET", "/v1/sessions/" + options.id);
    if (!session.ok()) return session.exit_code;
    const json& ssh = session.body.is_object() && session.body.contains("ssh") ? session.body["ssh"] : json();
    if (!ssh.is_object() || !ssh.contains("host") || !ssh["host"].is_string() || !ssh.contains("port") ||
        !ssh["port"].is_number_integer()) {
      std::cerr << "breakfix: the daemon did not say where its SSH gateway is; give --host and --port\n";
      return kExitFailure;
    }
    const json& state = session.body.contains("state") ? session.body["state"] : json();
    if (state == "provisioning" || state == "injecting") {
      std::cerr << "breakfix: session " << options.id << " is not ready yet (" << state.get<std::string>()
                << "); the gateway lets watchers in once it is\n";
      return kExitFailure;
    }
    if (host.empty()) host = ssh["host"].get<std::string>();
    if (port == 0) port = ssh["port"].get<int>();
  }
  std::vector<std::string> words{"ssh", "-p", std::to_string(port)};
  if (!options.identity.empty()) {
    words.push_back("-i");
    words.push_back(options.identity);
  }
  words.push_back("watch+" + options.id + "@" + host);
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  std::cout.flush();
  std::cerr.flush();
  ::execvp(argv[0], argv.data());
  std::cerr << "breakfix: cannot run ssh: " << std::strerror(errno)
            << (errno == ENOENT ? " (install the OpenSSH client)" : "") << "\n";
  return kExitFailure;
}

}  // namespace

void add_session_replay_commands(CLI::App* session, int& exit_code) {
  auto connection = std::make_shared<Connection>();

  auto replay_options = std::make_shared<ReplayOptions>();
  CLI::App* replay_command = session->add_subcommand(
      "replay",
      "Play a session's terminal recording (the newest, or --name) in this terminal, or show a command, sftp or scp record");
  replay_command->add_option("id", replay_options->id, "Session id (not with --file)");
  replay_command->add_option("--speed", replay_options->speed, "Play N times as fast (0.5: half as fast)")
      ->capture_default_str();
  replay_command->add_option("--idle-limit", replay_options->idle_limit,
                             "Longest pause in seconds, at recorded speed; 0: no limit")
      ->capture_default_str();
  CLI::Option* name = replay_command->add_option("--name", replay_options->name,
                                                 "Which of the session's recordings (see --list): a .cast or a .jsonl record");
  CLI::Option* list = replay_command->add_flag("--list", replay_options->list,
                                               "Print the names of the session's recordings and records, oldest first");
  CLI::Option* file = replay_command->add_option("--file", replay_options->file, "Play a local .cast file (or show a .jsonl record) instead; no daemon needed")
                          ->check(CLI::ExistingFile);
  file->excludes(name)->excludes(list);
  list->excludes(name);
  replay_command->add_flag("--no-wait", replay_options->no_wait, "Print all the output at once, without pauses");
  connection->add_to(replay_command, false);
  replay_command->callback([connection, replay_options, &exit_code] {
    if (replay_options->file.empty() == replay_options->id.empty()) {
      throw CLI::ValidationError("give a session id, or --file");
    }
    if (!std::isfinite(replay_options->speed) || replay_options->speed <= 0) {
      throw CLI::ValidationError("--speed", "a number greater than 0, such as 2 or 0.5");
    }
    if (!std::isfinite(replay_options->idle_limit) || replay_options->idle_limit < 0 || replay_options->idle_limit > 1e6) {
      throw CLI::ValidationError("--idle-limit", "seconds, 0 or more, such as 1.5 (0: no limit)");
    }
    exit_code = replay(*connection, *replay_options);
  });

  auto watch_options = std::make_shared<WatchOptions>();
  CLI::App* watch_command = session->add_subcommand(
      "watch", "Watch a candidate's terminal live, read-only, over SSH (runs ssh watch+ID@HOST)");
  watch_command->add_option("id", watch_options->id, "Session id")->required();
  watch_command->add_option("--host", watch_options->host, "The SSH gateway's host (default: as the daemon reports it)");
  watch_command->add_option("--port", watch_options->port, "The SSH gateway's port (default: as the daemon reports it)")
      ->check(CLI::Range(1, 65535));
  watch_command->add_option("-i", watch_options->identity, "ssh -i: the private key of an interviewer's ssh_keys entry")
      ->check(CLI::ExistingFile);
  connection->add_to(watch_command, false);
  watch_command->callback([connection, watch_options, &exit_code] { exit_code = watch(*connection, *watch_options); });
}

}  // namespace breakfix::cli
