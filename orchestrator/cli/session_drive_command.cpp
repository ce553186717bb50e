// `breakfix session drive`: runs the session engine in the foreground on a data dir, for
// one new session or for every session a killed run left behind (--recover), until none
// is live. The test driver for crash recovery until `breakfix serve` exists.

#include <CLI/CLI.hpp>

#include <iostream>
#include <thread>

#include "breakfix/duration.h"
#include "breakfix/scenario_catalog.h"
#include "cli/exit_codes.h"
#include "cli/runtime_commands.h"
#include "cli/scenario_command.h"
#include "session/session_engine.h"

namespace breakfix::cli {
namespace {

namespace fs = std::filesystem;

struct DriveOptions {
  std::string scenario;
  fs::path data_dir;
  std::vector<fs::path> scenario_dirs;
  std::string candidate = "candidate";
  std::optional<std::uint64_t> seed;
  std::string duration;
  std::string retention = "0s";
  std::string progress_interval = "2m";
  bool recover = false;
};

int fail(const std::string& message) {
  std::cerr << "breakfix: " << message << "\n";
  return kExitFailure;
}

int drive(const DriveOptions& options) {
  auto retention = parse_duration(options.retention);
  auto progress = parse_duration(options.progress_interval);
  std::optional<std::chrono::seconds> duration;
  if (!options.duration.empty() && !(duration = parse_duration(options.duration))) return fail("--duration: not a duration");
  if (!retention || !progress) return fail("--retention and --progress-interval take durations such as 30s or 2m");
  std::error_code ec;
  fs::create_directories(options.data_dir, ec);
  auto store = make_sqlite_store(options.data_dir / "breakfix.db");
  if (!store) return fail(store.error().message);
  ScenarioCatalog catalog =
      load_scenario_catalog(options.scenario_dirs.empty() ? default_scenario_dirs() : options.scenario_dirs);
  for (const Diagnostic& diagnostic : catalog.diagnostics) std::cerr << format_diagnostic(diagnostic) << "\n";
  auto runtime = connect_runtime();
  if (!runtime) return kExitFailure;
  SystemClock clock;
  SessionEngine engine(*runtime, **store, clock, [&](const std::string& id) { return catalog.find(id); },
                       {.retention = *retention, .progress_interval = *progress, .lab = {}, .report_dir = options.data_dir / "reports",
                        .recordings_dir = options.data_dir / "recordings",
                        .post = {}, .max_live_sessions = 0, .log_error = {}, .max_disk_bytes = 0, .disk_check_interval = {}},
                       [](const std::string& id, const std::string& notice) {
                         std::cout << id << ": " << notice << std::endl;
                       });
  if (options.recover) {
    auto recovered = engine.recover();
    if (!recovered) return fail(recovered.error().message);
    std::cout << "recovered " << *recovered << " sessions" << std::endl;
  } else {
    auto session = engine.start({options.scenario, options.candidate, options.seed, duration, {}, "", {}});
    if (!session) return fail(session.error().message);
    std::cout << "session " << session->id << " " << to_string(session->state)
              << (session->failure.empty() ? "" : ": " + session->failure) << std::endl;
  }
  for (;;) {
    auto live = (*store)->list_sessions({SessionState::Removed});
    if (!live) return fail(live.error().message);
    for (const Error& damaged : live->damaged) std::cerr << "breakfix: " << damaged.message << std::endl;
    if (live->sessions.empty()) return kExitOk;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    engine.tick();
  }
}

}  // namespace

void add_session_commands(CLI::App& app, int& exit_code) {
  CLI::App* session = app.add_subcommand("session", "Run interview sessions");
  session->require_subcommand(1);
  add_session_client_commands(session, exit_code);
  add_session_replay_commands(session, exit_code);
  auto options = std::make_shared<DriveOptions>();
  CLI::App* drive_command = session->add_subcommand(
      "drive", "Run one session in the foreground until it is graded and removed (or, with --recover, every "
               "session a killed run left in DATA_DIR); a stand-in for the daemon");
  drive_command->add_option("scenario", options->scenario, "Scenario id (not with --recover)");
  drive_command->add_option("--data-dir", options->data_dir, "Where the session store lives")->required();
  drive_command->add_option("--scenarios", options->scenario_dirs, "Scenario directories (default: as lint)");
  drive_command->add_option("--candidate", options->candidate, "Candidate's name")->capture_default_str();
  drive_command->add_option("--seed", options->seed, "Seed for the vars");
  drive_command->add_option("--duration", options->duration, "Session length (default: the scenario's)");
  drive_command->add_option("--retention", options->retention, "How long graded hosts are kept")->capture_default_str();
  drive_command->add_option("--progress-interval", options->progress_interval, "Quiet check runs; 0s: none")
      ->capture_default_str();
  drive_command->add_flag("--recover", options->recover, "Resume the sessions found in the store");
  drive_command->callback([options, &exit_code] {
    if (options->recover == !options->scenario.empty()) {
      throw CLI::ValidationError("give a scenario id, or --recover");
    }
    exit_code = drive(*options);
  });
}

}  // namespace breakfix::cli
