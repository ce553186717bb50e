#include "cli/scenario_command.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>

#include "breakfix/duration.h"
#include "breakfix/scenario_catalog.h"
#include "cli/exit_codes.h"
#include "cli/table.h"

namespace breakfix::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

ScenarioCatalog load_catalog(const ScenarioPathsOptions& options) {
  return load_scenario_catalog(options.paths.empty() ? default_scenario_dirs() : options.paths);
}

json diagnostic_json(const Diagnostic& diagnostic) {
  return {{"file", diagnostic.where.file},
          {"line", diagnostic.where.line},
          {"column", diagnostic.where.column},
          {"severity", diagnostic.severity == Severity::Error ? "error" : "warning"},
          {"message", diagnostic.message}};
}

json scenario_json(const Scenario& scenario) {
  json hosts = json::array();
  for (const Host& host : scenario.hosts) {
    hosts.push_back({{"name", host.name},
                     {"image", host.image},
                     {"build", host.build_context.string()},
                     {"entry", host.entry},
                     {"init", to_string(host.init)}});
  }
  return {{"id", scenario.id},
          {"title", scenario.title},
          {"kind", to_string(scenario.kind)},
          {"difficulty", to_string(scenario.difficulty)},
          {"duration", format_duration(scenario.duration)},
          {"duration_seconds", scenario.duration.count()},
          {"tags", scenario.tags},
          {"network", to_string(scenario.network)},
          {"hosts", hosts},
          {"faults", scenario.faults.size()},
          {"checks", scenario.checks.size()},
          {"file", scenario.source_file.string()}};
}

std::string plural(int n, const char* word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); }

// Adds the PATH arguments and -o/--output shared by the scenario subcommands.
void add_paths_and_format(CLI::App& command, ScenarioPathsOptions& options) {
  command.add_option("paths", options.paths,
                     "Scenario files, scenario directories or libraries of them "
                     "(default: $BREAKFIX_SCENARIO_DIRS, else ./scenarios)");
  command.add_option_function<std::string>(
             "-o,--output",
             [&options](const std::string& format) {
               options.format = format == "json" ? OutputFormat::Json : OutputFormat::Text;
             },
             "Output format: text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));
}

}  // namespace

std::vector<fs::path> default_scenario_dirs() {
  if (const char* configured = std::getenv("BREAKFIX_SCENARIO_DIRS"); configured && *configured) {
    std::vector<fs::path> dirs;
    std::string list(configured);
    for (std::size_t start = 0; start <= list.size();) {
      std::size_t colon = list.find(':', start);
      if (colon == std::string::npos) colon = list.size();
      if (colon > start) dirs.emplace_back(list.substr(start, colon - start));
      start = colon + 1;
    }
    return dirs;
  }
  std::error_code ec;
  if (fs::is_directory("scenarios", ec)) return {"scenarios"};
  return {"/usr/share/breakfix/scenarios"};
}

int lint_scenarios(const ScenarioPathsOptions& options, std::ostream& out, std::ostream&) {
  const ScenarioCatalog catalog = load_catalog(options);
  const int errors = count(catalog.diagnostics, Severity::Error);
  const int warnings = count(catalog.diagnostics, Severity::Warning);
  if (options.format == OutputFormat::Json) {
    json report = {{"valid", errors == 0},
                   {"files", catalog.files_read},
                   {"errors", errors},
                   {"warnings", warnings},
                   {"scenarios", json::array()},
                   {"plans", json::array()},
                   {"diagnostics", json::array()}};
    for (const ScenarioPtr& scenario : catalog.scenarios) report["scenarios"].push_back(scenario->id);
    for (const PlanPtr& plan : catalog.plans) report["plans"].push_back(plan->id);
    for (const Diagnostic& diagnostic : catalog.diagnostics) report["diagnostics"].push_back(diagnostic_json(diagnostic));
    out << report.dump(2) << "\n";
  } else {
    for (const Diagnostic& diagnostic : catalog.diagnostics) out << format_diagnostic(diagnostic) << "\n";
    out << plural(catalog.files_read, "file") << " checked: " << catalog.scenarios.size() + catalog.plans.size() << " valid, "
        << plural(errors, "error") << ", " << plural(warnings, "warning") << "\n";
  }
  return errors == 0 ? kExitOk : kExitFailure;
}

int list_scenarios(const ScenarioPathsOptions& options, std::ostream& out, std::ostream& err) {
  const ScenarioCatalog catalog = load_catalog(options);
  const int errors = count(catalog.diagnostics, Severity::Error);
  if (options.format == OutputFormat::Json) {
    json list = json::array();
    for (const ScenarioPtr& scenario : catalog.scenarios) list.push_back(scenario_json(*scenario));
    out << list.dump(2) << "\n";
  } else {
    Table table({"ID", "KIND", "DIFFICULTY", "DURATION", "HOSTS", "TITLE"});
    for (const ScenarioPtr& scenario : catalog.scenarios) {
      table.add_row({scenario->id, to_string(scenario->kind), to_string(scenario->difficulty),
                     format_duration(scenario->duration), std::to_string(scenario->hosts.size()), scenario->title});
    }
    // A plan's "hosts" are its parts' scenarios, in order.
    for (const PlanPtr& plan : catalog.plans) {
      std::string parts;
      for (const PlanPart& part : plan->parts) parts += (parts.empty() ? "" : "+") + part.scenario_id;
      table.add_row({plan->id, std::string("plan (") + to_string(plan->mode) + ")", "-", format_duration(plan->duration()),
                     std::to_string(plan->parts.size()) + " parts", plan->title + " [" + parts + "]"});
    }
    out << table.render();
  }
  if (errors > 0) {
    for (const Diagnostic& diagnostic : catalog.diagnostics) {
      if (diagnostic.severity == Severity::Error) err << format_diagnostic(diagnostic) << "\n";
    }
    err << "breakfix: " << plural(errors, "error") << "; invalid scenarios are not listed "
        << "(see 'breakfix scenario lint')\n";
    return kExitFailure;
  }
  return kExitOk;
}

void add_scenario_commands(CLI::App& app, int& exit_code) {
  CLI::App* scenario = app.add_subcommand("scenario", "Check, list and test scenarios");
  scenario->require_subcommand(1);

  auto lint_options = std::make_shared<ScenarioPathsOptions>();
  CLI::App* lint = scenario->add_subcommand(
      "lint", "Validate scenarios; print every error as FILE:LINE:COL: message (exit 0 valid, 1 errors, 2 usage)");
  add_paths_and_format(*lint, *lint_options);
  lint->callback([lint_options, &exit_code] { exit_code = lint_scenarios(*lint_options, std::cout, std::cerr); });

  auto list_options = std::make_shared<ScenarioPathsOptions>();
  CLI::App* list = scenario->add_subcommand("list", "List scenarios: id, kind, difficulty, duration, hosts, title");
  add_paths_and_format(*list, *list_options);
  list->callback([list_options, &exit_code] { exit_code = list_scenarios(*list_options, std::cout, std::cerr); });

  add_scenario_test_command(*scenario, exit_code);
}

}  // namespace breakfix::cli
