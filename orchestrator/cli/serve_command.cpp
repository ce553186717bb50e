// `breakfix serve`: reads the config file (every problem reported as FILE:LINE:COL, and
// the daemon does not start with any), then runs the daemon (daemon/daemon.h).

#include <CLI/CLI.hpp>

#include <iostream>

#include "daemon/daemon_config.h"
#include "cli/exit_codes.h"
#include "cli/runtime_commands.h"
#include "daemon/daemon.h"

namespace breakfix::cli {

void add_serve_command(CLI::App& app, int& exit_code) {
  struct Options {
    std::string config;
    bool check = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* serve_command = app.add_subcommand("serve", "Run the breakfix daemon (API, SSH gateway, sessions)");
  serve_command->add_option("-c,--config", options->config,
                            std::string("Config file (default ") + kDefaultConfigPath + "; missing there: all defaults)");
  serve_command->add_flag("--check", options->check, "Only check the config file, then exit (0: valid)");
  serve_command->callback([options, &exit_code] {
    const bool given = !options->config.empty();
    const std::filesystem::path file = given ? options->config : kDefaultConfigPath;
    DaemonConfigResult loaded = load_daemon_config(file, !given);
    for (const Diagnostic& diagnostic : loaded.diagnostics) std::cerr << format_diagnostic(diagnostic) << "\n";
    if (has_errors(loaded.diagnostics)) {
      std::cerr << "breakfix: " << file.string() << ": " << count(loaded.diagnostics, Severity::Error)
                << " error(s); the daemon does not start\n";
      exit_code = kExitFailure;
      return;
    }
    if (options->check) {
      std::cout << file.string() << (loaded.file_found ? ": valid\n" : ": not found; the defaults apply\n");
      exit_code = kExitOk;
      return;
    }
    exit_code = serve(loaded.config, {file, {}});
  });
}

}  // namespace breakfix::cli
