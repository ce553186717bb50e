// The breakfix binary: parses the command line and hands over to a subcommand.
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>

#include "breakfix/version.h"
#include "cli/exit_codes.h"
#include "cli/runtime_commands.h"
#include "cli/scenario_command.h"

int main(int argc, char** argv) {
  using namespace breakfix::cli;
  CLI::App app{"breakfix runs technical-interview break-fix labs.", "breakfix"};
  app.set_version_flag("--version", std::string("breakfix ") + breakfix::kVersion);
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 success, 1 failure (e.g. lint errors), 2 usage error, 3 no daemon answers, 4 no such session "
      "or scenario.");

  int exit_code = kExitOk;
  add_scenario_commands(app, exit_code);
  add_runtime_commands(app, exit_code);
  add_session_commands(app, exit_code);
  add_report_commands(app, exit_code);
  add_serve_command(app, exit_code);
  add_completion_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& success) {  // --help, --version
    return app.exit(success);
  } catch (const CLI::ParseError& error) {
    app.exit(error);
    return kExitUsage;
  } catch (const std::exception& error) {
    std::cerr << "breakfix: error: " << error.what() << "\n";
    return kExitFailure;
  }
  return exit_code;
}
