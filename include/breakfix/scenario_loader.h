#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

#include "breakfix/diagnostic.h"
#include "breakfix/scenario.h"

namespace breakfix {

// What loading one scenario file gave: the scenario when it is valid (no errors;
// warnings allowed), and every problem found, errors and warnings alike.
struct ScenarioLoad {
  ScenarioPtr scenario;  // null when any error was found
  std::vector<Diagnostic> diagnostics;
};

// Scenario files larger than this are refused before parsing.
inline constexpr std::size_t kMaxScenarioFileBytes = 1024 * 1024;

// Parses and validates the text of a scenario.yaml. `file_name` is used in
// diagnostics only; relative `build:` directories are resolved against
// `scenario_dir`, the only time the file system is touched. Reports every error of
// the file, never throws, never crashes: any input gives a result.
ScenarioLoad parse_scenario(std::string_view text, const std::string& file_name,
                            const std::filesystem::path& scenario_dir);

// Reads `file` and parses it as above (file names in diagnostics are as given).
ScenarioLoad load_scenario_file(const std::filesystem::path& file);

}  // namespace breakfix
