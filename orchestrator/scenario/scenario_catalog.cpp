#include "breakfix/scenario_catalog.h"

#include <algorithm>
#include <map>

#include "breakfix/scenario_loader.h"
#include "scenario/yaml_reader.h"

namespace breakfix {
namespace {

namespace fs = std::filesystem;

void add_file_error(ScenarioCatalog& catalog, const fs::path& path, std::string message) {
  catalog.diagnostics.push_back({{path.string(), 1, 1}, Severity::Error, std::move(message)});
}

bool is_plan_file(const fs::path& file) { return file.filename() == kPlanFileName; }

// The scenario and plan files a path stands for, in a stable order.
std::vector<fs::path> library_files(const fs::path& path, ScenarioCatalog& catalog) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return {path};
  if (!fs::is_directory(path, ec)) {
    add_file_error(catalog, path, "no such file or directory");
    return {};
  }
  std::vector<fs::path> files;
  for (const char* name : {kScenarioFileName, kPlanFileName}) {
    if (fs::is_regular_file(path / name, ec)) files.push_back(path / name);
  }
  if (!files.empty()) return files;
  for (const fs::directory_entry& entry : fs::directory_iterator(path, ec)) {
    // Its own error code: a subdirectory without a scenario file is no listing error.
    std::error_code entry_ec;
    if (!entry.is_directory(entry_ec)) continue;
    for (const char* name : {kScenarioFileName, kPlanFileName}) {
      if (fs::is_regular_file(entry.path() / name, entry_ec)) files.push_back(entry.path() / name);
    }
  }
  if (ec) add_file_error(catalog, path, "cannot list the directory: " + ec.message());
  else if (files.empty()) add_file_error(catalog, path, std::string("no ") + kScenarioFileName + " here or in its subdirectories");
  std::sort(files.begin(), files.end());
  return files;
}

std::string position_text(const SourcePosition& at) {
  return at.file + ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
}

// What the plan's parts need of the library; the errors point at the plan's lines.
bool check_plan(const Plan& plan, const std::map<std::string, ScenarioPtr>& scenarios, ScenarioCatalog& catalog) {
  bool ok = true;
  auto error = [&](const SourcePosition& at, std::string message) {
    catalog.diagnostics.push_back({at, Severity::Error, std::move(message)});
    ok = false;
  };
  if (auto clash = scenarios.find(plan.id); clash != scenarios.end()) {
    error(plan.id_position, "id: '" + plan.id + "' is also a scenario's id (" + position_text(clash->second->id_position) +
                                "); session start takes either, so they must differ");
  }
  std::map<std::string, std::string> host_owner;  // side by side: host name -> part
  for (std::size_t i = 0; i < plan.parts.size(); ++i) {
    const PlanPart& part = plan.parts[i];
    const std::string field = "parts[" + std::to_string(i) + "].scenario: ";
    auto found = scenarios.find(part.scenario_id);
    if (found == scenarios.end()) {
      std::vector<std::string_view> known;
      for (const auto& [id, scenario] : scenarios) known.push_back(id);
      const auto near = yaml::nearest_word(part.scenario_id, known);
      error(part.scenario_position, field + "no valid scenario '" + part.scenario_id + "' in the library" +
                                        (near ? " (did you mean '" + *near + "'?)" : ""));
      continue;
    }
    if (plan.mode != PlanMode::Together) continue;
    for (const Host& host : found->second->hosts) {
      auto [owner, inserted] = host_owner.emplace(host.name, part.name);
      if (!inserted) {
        error(part.scenario_position, field + "host '" + host.name + "' is also in part '" + owner->second +
                                          "'; side by side every host is reached as ID+host, so their names must differ");
      }
    }
  }
  return ok;
}

}  // namespace

PlanPtr ScenarioCatalog::find_plan(std::string_view id) const {
  for (const PlanPtr& plan : plans) {
    if (plan->id == id) return plan;
  }
  return nullptr;
}

ScenarioPtr ScenarioCatalog::find(std::string_view id) const {
  for (const ScenarioPtr& scenario : scenarios) {
    if (scenario->id == id) return scenario;
  }
  return nullptr;
}

ScenarioCatalog load_scenario_catalog(const std::vector<fs::path>& paths) {
  ScenarioCatalog catalog;
  std::map<std::string, ScenarioPtr> by_id;
  std::error_code ec;
  std::vector<PlanLoad> plan_loads;  // checked once every scenario is known
  for (const fs::path& path : paths) {
    for (const fs::path& file : library_files(path, catalog)) {
      ++catalog.files_read;
      if (is_plan_file(file)) {
        plan_loads.push_back(load_plan_file(file));
        continue;
      }
      ScenarioLoad load = load_scenario_file(file);
      catalog.diagnostics.insert(catalog.diagnostics.end(), load.diagnostics.begin(), load.diagnostics.end());
      if (!load.scenario) continue;
      const Scenario& scenario = *load.scenario;
      if (auto [existing, inserted] = by_id.emplace(scenario.id, load.scenario); !inserted) {
        const SourcePosition& first = existing->second->id_position;
        catalog.diagnostics.push_back({scenario.id_position, Severity::Error,
                                       "id: duplicate scenario id '" + scenario.id + "' (also defined at " + first.file +
                                           ":" + std::to_string(first.line) + ":" + std::to_string(first.column) + ")"});
        continue;
      }
      // A library reads best when scenarios/<id>/ holds scenario <id>.
      const fs::path dir_name = fs::absolute(file, ec).parent_path().filename();
      if (file.filename() == kScenarioFileName && dir_name != scenario.id) {
        catalog.diagnostics.push_back({scenario.id_position, Severity::Warning,
                                       "id: '" + scenario.id + "' differs from its directory name '" +
                                           dir_name.string() + "'"});
      }
    }
  }
  for (auto& [id, scenario] : by_id) catalog.scenarios.push_back(scenario);
  std::map<std::string, PlanPtr> plans;
  for (PlanLoad& load : plan_loads) {
    catalog.diagnostics.insert(catalog.diagnostics.end(), load.diagnostics.begin(), load.diagnostics.end());
    if (!load.plan || !check_plan(*load.plan, by_id, catalog)) continue;
    if (auto [existing, inserted] = plans.emplace(load.plan->id, load.plan); !inserted) {
      catalog.diagnostics.push_back({load.plan->id_position, Severity::Error,
                                     "id: duplicate plan id '" + load.plan->id + "' (also defined at " +
                                         position_text(existing->second->id_position) + ")"});
    }
  }
  for (auto& [id, plan] : plans) catalog.plans.push_back(plan);
  return catalog;
}

}  // namespace breakfix
