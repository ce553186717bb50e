#include "breakfix/scenario_catalog.h"

#include <algorithm>
#include <map>

#include "breakfix/scenario_loader.h"

namespace breakfix {
namespace {

namespace fs = std::filesystem;

void add_file_error(ScenarioCatalog& catalog, const fs::path& path, std::string message) {
  catalog.diagnostics.push_back({{path.string(), 1, 1}, Severity::Error, std::move(message)});
}

// The scenario files a path stands for, in a stable order.
std::vector<fs::path> scenario_files(const fs::path& path, ScenarioCatalog& catalog) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return {path};
  if (!fs::is_directory(path, ec)) {
    add_file_error(catalog, path, "no such file or directory");
    return {};
  }
  if (fs::is_regular_file(path / kScenarioFileName, ec)) return {path / kScenarioFileName};
  std::vector<fs::path> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(path, ec)) {
    // Its own error code: a subdirectory without a scenario file is no listing error.
    std::error_code entry_ec;
    if (entry.is_directory(entry_ec) && fs::is_regular_file(entry.path() / kScenarioFileName, entry_ec)) {
      files.push_back(entry.path() / kScenarioFileName);
    }
  }
  if (ec) add_file_error(catalog, path, "cannot list the directory: " + ec.message());
  else if (files.empty()) add_file_error(catalog, path, std::string("no ") + kScenarioFileName + " here or in its subdirectories");
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

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
  for (const fs::path& path : paths) {
    for (const fs::path& file : scenario_files(path, catalog)) {
      ++catalog.files_read;
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
  return catalog;
}

}  // namespace breakfix
