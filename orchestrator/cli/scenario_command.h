#pragma once

#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace breakfix::cli {

enum class OutputFormat { Text, Json };

struct ScenarioPathsOptions {
  std::vector<std::filesystem::path> paths;  // empty: default_scenario_dirs()
  OutputFormat format = OutputFormat::Text;
};

// Where scenarios are looked for when no path is given: $BREAKFIX_SCENARIO_DIRS
// (colon-separated), else ./scenarios when it exists, else /usr/share/breakfix/scenarios.
std::vector<std::filesystem::path> default_scenario_dirs();

// `breakfix scenario lint`: every diagnostic, then a summary. Returns the exit code.
int lint_scenarios(const ScenarioPathsOptions& options, std::ostream& out, std::ostream& err);
// `breakfix scenario list`: a table of the valid scenarios; errors go to `err`.
int list_scenarios(const ScenarioPathsOptions& options, std::ostream& out, std::ostream& err);

// Adds `scenario test` to the `scenario` command (scenario_test_command.cpp).
void add_scenario_test_command(CLI::App& scenario, int& exit_code);

// Adds `scenario lint`, `scenario list` and `scenario test` to `app`; the chosen one stores its exit
// code in `exit_code` when it runs.
void add_scenario_commands(CLI::App& app, int& exit_code);

}  // namespace breakfix::cli
