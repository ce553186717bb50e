#include "session/grader.h"

#include <algorithm>
#include <cstdio>
#include <future>
#include <map>

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
    if (!run && run.error().code == ErrorCode::Tampered) {
      // The candidate's doing, not the engine's: trying again proves nothing more, and
      // the check cannot have passed.
      ScriptRun refused;
      refused.exit_code = -1;
      refused.output = "[breakfix: not trusted: " + run.error().message + "]\n";
      results[i] = {check.name, check.expect, check.weight, false, refused};
      return;
    }
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

Result<VarValues> record_unchanged(const ScriptRunner& runner, const Scenario& scenario) {
  // What a script's kept output holds, less room to tell a cut listing from a whole one.
  constexpr std::size_t kMaxListing = kScriptOutputKept * 3 / 4;
  VarValues listings;
  for (const Host& host : scenario.hosts) {
    if (host.unchanged.empty()) continue;
    ScriptOptions options;
    options.tools = ScriptTools::Grader;
    auto run = runner.run(host.name, Script{unchanged_listing_command(host), {}, std::chrono::seconds(60), nullptr}, options);
    if (!run) return run.error();
    const std::string where = "hashing the unchanged paths of host " + host.name;
    if (!run->succeeded()) return make_error(ErrorCode::Failed, where + " failed: exit " + std::to_string(run->exit_code));
    if (run->output.size() > kMaxListing) {
      return make_error(ErrorCode::Failed, where + ": more than " + std::to_string(kMaxListing / 1024) +
                                               " KiB of hashes; name fewer files under unchanged:");
    }
    std::string listing = run->output;
    while (!listing.empty() && listing.back() == '\n') listing.pop_back();  // as $(...) has it
    listings[unchanged_var(host)] = listing;
  }
  return listings;
}

std::string percent_text(double fraction) {
  char text[16];
  std::snprintf(text, sizeof text, "%.0f%%", fraction * 100);
  return text;
}

Grade grade(const Scenario& scenario, const std::vector<CheckResult>& results, double hint_cost) {
  std::map<std::string, bool> passed;
  for (const CheckResult& result : results) passed[result.name] = result.passed;
  auto passes = [&](const std::string& name) {
    const auto found = passed.find(name);
    return found != passed.end() && found->second;
  };
  bool any_fix = false;
  for (const Check& check : scenario.checks) any_fix = any_fix || (check.expect == CheckExpectation::Fix && passes(check.name));

  Grade grade;
  double earned = 0, total = 0;
  for (const Check& check : scenario.checks) {
    total += check.weight;
    if (!passes(check.name)) {
      if (check.critical && (!grade.cap || check.cap < *grade.cap)) grade.cap = check.cap;
      if (check.critical) grade.capped_by.push_back(check.name);
      continue;
    }
    if (check.expect == CheckExpectation::Fix) {
      earned += check.weight;
      continue;
    }
    // Guards hold in a lab nobody touched: they earn only beside the repair they protect.
    std::vector<std::string> missing;
    for (const std::string& fix : check.required_fixes) {
      if (!passes(fix)) missing.push_back(fix);
    }
    if (check.required_fixes.empty() && !any_fix) {
      grade.uncounted.push_back(check.name + ": no fix check passes");
    } else if (!missing.empty()) {
      std::string names;
      for (const std::string& fix : missing) names += (names.empty() ? "'" : ", '") + fix + "'";
      grade.uncounted.push_back(check.name + ": it protects " + names + ", which failed");
    } else {
      earned += check.weight;
    }
  }
  grade.earned = total > 0 ? earned / total : 0;
  grade.hint_cost = hint_cost;
  grade.score = std::max(0.0, std::min(grade.earned, grade.cap.value_or(1.0)) - hint_cost);
  return grade;
}

std::vector<std::string> Grade::explanation() const {
  std::vector<std::string> lines;
  lines.push_back("the checks earned " + percent_text(earned) + " of their weight");
  for (const std::string& why : uncounted) lines.push_back("guard " + why + ", so it earned nothing");
  if (cap && *cap < earned) {
    std::string names;
    for (const std::string& name : capped_by) names += (names.empty() ? "'" : ", '") + name + "'";
    lines.push_back("capped at " + percent_text(*cap) + ": critical guard " + names + " failed");
  }
  if (hint_cost > 0) lines.push_back("hints taken cost " + percent_text(hint_cost));
  return lines;
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
