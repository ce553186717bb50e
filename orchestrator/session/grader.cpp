#include "session/grader.h"

#include <algorithm>
#include <future>

namespace breakfix {

std::chrono::seconds grading_budget(const Scenario& scenario) {
  std::chrono::seconds longest{0};
  for (const Check& check : scenario.checks) longest = std::max(longest, check.run.timeout);
  return longest + kGradingSlack;
}

Result<std::vector<CheckResult>> run_checks(const ScriptRunner& runner, const Scenario& scenario,
                                            CheckSelection selection, std::chrono::milliseconds budget) {
  using SteadyClock = std::chrono::steady_clock;
  if (budget.count() <= 0) budget = grading_budget(scenario);
  const auto deadline = SteadyClock::now() + budget;
  std::vector<std::size_t> selected;
  for (std::size_t i = 0; i < scenario.checks.size(); ++i) {
    if (selection == CheckSelection::All || scenario.checks[i].progress) selected.push_back(i);
  }
  std::vector<CheckResult> results(scenario.checks.size());
  std::vector<std::optional<Error>> errors(scenario.checks.size());
  auto run_one = [&](std::size_t i) {
    const Check& check = scenario.checks[i];
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) {
      ScriptRun skipped;
      skipped.timed_out = true;
      skipped.output = "[breakfix: not run: the grading's time (" + std::to_string(budget.count() / 1000) +
                       " s: the longest check timeout plus " + std::to_string(kGradingSlack.count()) +
                       " s) ran out before this check's turn]\n";
      results[i] = {check.name, check.expect, check.weight, false, skipped};
      return;
    }
    ScriptOptions options;
    options.tools = ScriptTools::Grader;
    options.timeout = std::min<std::chrono::milliseconds>(left, check.run.timeout);
    auto run = runner.run(check.host, check.run, options);
    if (!run) {
      errors[i] = run.error();
      return;
    }
    results[i] = {check.name, check.expect, check.weight, run->succeeded(), *run};
  };
  std::vector<std::future<void>> parallel;
  for (std::size_t i : selected) {
    if (!scenario.checks[i].serial) parallel.push_back(std::async(std::launch::async, run_one, i));
  }
  for (auto& future : parallel) future.get();
  for (std::size_t i : selected) {
    if (scenario.checks[i].serial) run_one(i);
  }
  for (const auto& error : errors) {
    if (error) return *error;
  }
  std::vector<CheckResult> chosen;
  for (std::size_t i : selected) chosen.push_back(std::move(results[i]));
  return chosen;
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

std::vector<PrecheckProblem> precheck_problems(const std::vector<CheckResult>& results) {
  std::vector<PrecheckProblem> problems;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const CheckResult& result = results[i];
    if (result.expect == CheckExpectation::Fix && result.passed) {
      problems.push_back({i, "fault did not take effect: check '" + result.name + "' passes before the fix"});
    } else if (result.expect == CheckExpectation::Guard && !result.passed) {
      problems.push_back({i, "guard '" + result.name + "' fails before the fix"});
    }
  }
  return problems;
}

}  // namespace breakfix
