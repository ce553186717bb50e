#pragma once

#include <filesystem>
#include <vector>

#include "breakfix/diagnostic.h"
#include "breakfix/plan.h"
#include "breakfix/scenario.h"

namespace breakfix {

// The name of the file that defines a scenario inside its directory.
inline constexpr const char* kScenarioFileName = "scenario.yaml";

// The scenarios found under a set of paths, and every problem met on the way.
struct ScenarioCatalog {
  std::vector<ScenarioPtr> scenarios;  // valid ones, sorted by id, ids unique
  std::vector<PlanPtr> plans;          // valid ones (their parts are scenarios here), sorted by id
  std::vector<Diagnostic> diagnostics;
  int files_read = 0;

  ScenarioPtr find(std::string_view id) const;
  PlanPtr find_plan(std::string_view id) const;
};

// Loads scenarios from each path, which may be:
//  - a scenario file (any name),
//  - a directory holding scenario.yaml (one scenario) or plan.yaml (one plan), or
//  - a directory of such directories (a library; nested one level, as scenarios/).
// A path that is none of these is an error. Two valid scenarios with the same id are
// both reported and the later one (in path order) is left out. A plan is valid when
// each part names a scenario loaded here, its id is no scenario's, and, side by side,
// no two parts have a host of the same name.
ScenarioCatalog load_scenario_catalog(const std::vector<std::filesystem::path>& paths);

}  // namespace breakfix
