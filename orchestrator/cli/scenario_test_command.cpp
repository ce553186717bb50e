// `breakfix scenario test [ID|PATH...] [--keep] [--seed N] [-j N] [--all-variants]`

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>

#include "breakfix/duration.h"
#include "breakfix/scenario_catalog.h"
#include "cli/exit_codes.h"
#include "cli/runtime_commands.h"
#include "cli/scenario_command.h"
#include "cli/table.h"
#include "session/scenario_tester.h"

namespace breakfix::cli {
namespace {

namespace fs = std::filesystem;

struct TestOptions {
  std::vector<std::string> targets;  // scenario ids or paths
  bool keep = false;
  std::optional<std::uint64_t> seed;
  int jobs = 1;
  bool all_variants = false;
  std::string backend;  // "" : $BREAKFIX_BACKEND, else docker
  OutputFormat format = OutputFormat::Text;
};

std::string seconds_text(std::chrono::milliseconds time) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1fs", static_cast<double>(time.count()) / 1000);
  return text;
}

// The scenarios named on the command line: paths are loaded, other words are ids looked
// up in the default scenario directories. Prints what is wrong and returns nothing then.
std::optional<std::vector<ScenarioPtr>> resolve(const std::vector<std::string>& targets) {
  std::vector<fs::path> paths;
  std::vector<std::string> ids;
  std::error_code ec;
  for (const std::string& target : targets) {
    if (fs::exists(target, ec)) paths.emplace_back(target);
    else ids.push_back(target);
  }
  if (targets.empty()) paths = default_scenario_dirs();
  std::vector<ScenarioPtr> scenarios;
  bool ok = true;
  auto load = [&](const std::vector<fs::path>& from) {
    ScenarioCatalog catalog = load_scenario_catalog(from);
    for (const Diagnostic& diagnostic : catalog.diagnostics) {
      if (diagnostic.severity == Severity::Error) std::cerr << format_diagnostic(diagnostic) << "\n";
    }
    ok = ok && !has_errors(catalog.diagnostics);
    return catalog;
  };
  if (!paths.empty()) {
    ScenarioCatalog catalog = load(paths);
    scenarios.insert(scenarios.end(), catalog.scenarios.begin(), catalog.scenarios.end());
  }
  if (!ids.empty()) {
    ScenarioCatalog library = load(default_scenario_dirs());
    for (const std::string& id : ids) {
      if (ScenarioPtr scenario = library.find(id)) {
        scenarios.push_back(scenario);
      } else {
        std::cerr << "breakfix: no scenario with id '" << id << "' (and no such file or directory)\n";
        ok = false;
      }
    }
  }
  if (!ok) return std::nullopt;
  return scenarios;
}

int run_tests(const TestOptions& options) {
  auto scenarios = resolve(options.targets);
  if (!scenarios) return kExitFailure;
  auto runtime = connect_runtime(options.backend);
  if (!runtime) return kExitFailure;
  const char* from_environment = std::getenv("BREAKFIX_BACKEND");
  const std::string backend = !options.backend.empty() ? options.backend : from_environment ? from_environment : "docker";

  // One test a scenario, or with --all-variants one a variant. A scenario whose hosts
  // boot systemd cannot run on Docker: it is named as not tested, never passed.
  std::vector<std::pair<ScenarioPtr, std::optional<std::size_t>>> tests;
  std::vector<std::string> not_tested;
  for (const ScenarioPtr& scenario : *scenarios) {
    if (scenario->needs_systemd() && backend != "lxd") {
      not_tested.push_back(scenario->id);
      continue;
    }
    if (!options.all_variants || scenario->variants.empty()) tests.emplace_back(scenario, std::nullopt);
    else for (std::size_t v = 0; v < scenario->variants.size(); ++v) tests.emplace_back(scenario, v);
  }
  std::mutex output;
  std::vector<ScenarioTestReport> reports(tests.size());
  // Progress goes to stderr as each step ends, so that stdout holds only the result.
  ScenarioTester tester(*runtime, {.allow_outside_network = true}, [&](const TestStep& step) {
    std::lock_guard lock(output);
    std::cerr << "[" << step.scenario << "] " << step.step << ": " << (step.ok ? "ok" : "FAILED") << " ("
              << seconds_text(step.time) << ")" << std::endl;
  });
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next++) < tests.size();) {
      ScenarioTestOptions test_options;
      test_options.seed = options.seed;
      test_options.keep = options.keep;
      test_options.variant = tests[i].second;
      reports[i] = tester.test(*tests[i].first, test_options);
    }
  };
  std::vector<std::thread> workers;
  for (int j = 0; j < std::max(1, options.jobs); ++j) workers.emplace_back(worker);
  for (std::thread& thread : workers) thread.join();

  const bool all_passed = std::all_of(reports.begin(), reports.end(), [](const auto& r) { return r.passed(); });
  if (options.format == OutputFormat::Json) {
    nlohmann::json out = nlohmann::json::array();
    for (const ScenarioTestReport& report : reports) {
      nlohmann::json steps = nlohmann::json::array();
      for (const TestStep& step : report.steps) {
        steps.push_back({{"step", step.step}, {"ok", step.ok}, {"detail", step.detail}, {"ms", step.time.count()}});
      }
      out.push_back({{"scenario", report.scenario}, {"variant", report.variant}, {"passed", report.passed()},
                     {"seed", std::to_string(report.seed)},
                     {"vars", report.vars}, {"session", report.session_id}, {"steps", steps}});
    }
    std::cout << out.dump(2) << "\n";
    return all_passed ? kExitOk : kExitFailure;
  }
  Table table({"SCENARIO", "STEP", "RESULT", "TIME"});
  for (const ScenarioTestReport& report : reports) {
    for (const TestStep& step : report.steps) {
      table.add_row({report.scenario, step.step, step.ok ? "ok" : "FAILED", seconds_text(step.time)});
    }
  }
  std::cout << table.render();
  // What each run picked, so that an author sees which values a seed covered.
  bool any_vars = false;
  for (const ScenarioTestReport& report : reports) {
    if (report.vars.empty()) continue;
    if (!any_vars) std::cout << "\n";
    any_vars = true;
    std::cout << report.scenario << ": seed " << report.seed << ",";
    for (const auto& [name, value] : report.vars) std::cout << " " << name << "=" << value;
    std::cout << "\n";
  }
  for (const ScenarioTestReport& report : reports) {
    std::string vars;
    for (const auto& [name, value] : report.vars) vars += " " + name + "=" + value;
    for (const TestStep& step : report.steps) {
      if (!step.ok) {
        std::cout << "\n" << report.scenario << ": " << step.step << " failed (seed " << report.seed
                  << (vars.empty() ? "" : ";" + vars) << "):\n" << step.detail;
      }
    }
    if (options.keep) std::cout << report.scenario << ": lab kept as session " << report.session_id << "\n";
  }
  const auto passed = std::count_if(reports.begin(), reports.end(), [](const auto& r) { return r.passed(); });
  std::cout << "\nscenarios: " << passed << " passed, " << reports.size() - passed << " failed";
  if (!not_tested.empty()) {
    std::cout << ", " << not_tested.size() << " not tested (their hosts boot systemd: run them with --backend lxd):";
    for (const std::string& id : not_tested) std::cout << " " << id;
  }
  std::cout << "\n";
  return all_passed ? kExitOk : kExitFailure;
}

}  // namespace

void add_scenario_test_command(CLI::App& scenario, int& exit_code) {
  auto options = std::make_shared<TestOptions>();
  CLI::App* test = scenario.add_subcommand(
      "test", "Prove scenarios work: provision, set up, inject, check that the faults bite, apply the solution, "
              "check that every check passes (3 runs, flaky checks flagged), check that nothing looks like tampering, "
              "remove");
  test->add_option("scenarios", options->targets, "Scenario ids, files or directories (default: as lint)");
  test->add_flag("--keep", options->keep, "Leave each lab running for debugging (remove with 'breakfix gc')");
  test->add_option("--seed", options->seed, "Seed for the scenarios' vars (default: random, printed on failure)");
  test->add_option("-j,--jobs", options->jobs, "Scenarios tested at the same time")->check(CLI::Range(1, 16));
  test->add_option("--backend", options->backend, "The runtime: docker or lxd (default: $BREAKFIX_BACKEND, else docker)")
      ->check(CLI::IsMember({"docker", "lxd"}));
  test->add_flag("--all-variants", options->all_variants,
                 "Test every variant of a scenario with variants (default: the one the seed picks, as a session does)");
  test->add_option_function<std::string>(
          "-o,--output", [options](const std::string& format) {
            options->format = format == "json" ? OutputFormat::Json : OutputFormat::Text;
          },
          "Output format: text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));
  test->callback([options, &exit_code] { exit_code = run_tests(*options); });
}

}  // namespace breakfix::cli
