#include "session/grader.h"

#include <future>

namespace breakfix {

Result<std::vector<CheckResult>> run_checks(const ScriptRunner& runner, const Scenario& scenario) {
  std::vector<CheckResult> results(scenario.checks.size());
  std::vector<std::optional<Error>> errors(scenario.checks.size());
  auto run_one = [&](std::size_t i) {
    const Check& check = scenario.checks[i];
    auto run = runner.run(check.host, check.run);
    if (!run) {
      errors[i] = run.error();
      return;
    }
    results[i] = {check.name, check.expect, check.weight, run->succeeded(), *run};
  };
  std::vector<std::future<void>> parallel;
  for (std::size_t i = 0; i < scenario.checks.size(); ++i) {
    if (!scenario.checks[i].serial) parallel.push_back(std::async(std::launch::async, run_one, i));
  }
  for (auto& future : parallel) future.get();
  for (std::size_t i = 0; i < scenario.checks.size(); ++i) {
    if (scenario.checks[i].serial) run_one(i);
  }
  for (const auto& error : errors) {
    if (error) return *error;
  }
  return results;
}

double score(const std::vector<CheckResult>& results) {
  double passed = 0, total = 0;
  bool any_fix = false;
  for (const CheckResult& result : results) {
    total += result.weight;
    if (result.passed) passed += result.weight;
    any_fix = any_fix || (result.passed && result.expect == CheckExpectation::Fix);
  }
  // Guards hold in a lab nobody touched: they earn their weight only beside a repair,
  // so that doing nothing scores 0, not the guards' share.
  if (!any_fix) return 0;
  return total > 0 ? passed / total : 0;
}

}  // namespace breakfix
