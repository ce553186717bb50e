#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "breakfix/scenario.h"
#include "session/script_runner.h"

namespace breakfix {

struct CheckResult {
  std::string name;
  CheckExpectation expect = CheckExpectation::Fix;
  double weight = 1;
  bool passed = false;  // the script exited 0 within its timeout
  ScriptRun run;
};

// Which checks a run takes: all of them, or those with `progress: true` (the periodic
// runs while the candidate works).
enum class CheckSelection { All, Progress };

// How long one grading may take in all, whatever the lab does: the longest check
// timeout plus kGradingSlack. Checks that would start after it get only what is left of
// it, and those that find nothing left fail without running. Each exec ends within a
// few seconds of its own timeout (run_exec's bounds), so a grading is over within the
// longest check timeout plus 30 s.
inline constexpr std::chrono::seconds kGradingSlack{15};
std::chrono::seconds grading_budget(const Scenario& scenario);

// Runs the selected checks of the scenario with the grader's tools (ScriptTools::Grader):
// those without `serial: true` at the same time, then the serial ones one by one, all
// within grading_budget(). Results are in the scenario's order. An Error means a check
// could not be run at all (the engine failed, or the run was cancelled), not that it failed.
// `budget` other than 0 replaces grading_budget() (tests).
Result<std::vector<CheckResult>> run_checks(const ScriptRunner& runner, const Scenario& scenario,
                                            CheckSelection selection = CheckSelection::All,
                                            std::chrono::milliseconds budget = std::chrono::milliseconds(0));

// The score and why it is what it is. The rule (docs/scenario-format.md, "Score"):
//   1. a fix check that passes earns its weight;
//   2. a guard that passes earns its weight only beside a repair: beside every check it
//      `requires`, or, without `requires`, beside any passing fix check;
//   3. a critical guard that fails caps the score at its `cap` (the lowest such cap);
//   4. the costs of the hints given are taken off last, never below 0.
// earned = (sum of 1 and 2) / (sum of all weights). A check without a result counts as failed.
struct Grade {
  double score = 0;                     // in [0, 1]
  double earned = 0;                    // before the cap and the hint costs
  std::optional<double> cap;            // from the failing critical guards, if any
  std::vector<std::string> capped_by;   // those guards
  std::vector<std::string> uncounted;   // passing guards that earned nothing: "name: why"
  double hint_cost = 0;
  // One line a fact, for the report: "capped at 0% by critical guard 'x', which failed".
  std::vector<std::string> explanation() const;
};
Grade grade(const Scenario& scenario, const std::vector<CheckResult>& results, double hint_cost = 0);

// After the faults: what each host's `unchanged:` paths hold, as the vars their guards
// compare against (unchanged_var), listed by the grader's tools. An Error when a listing
// cannot run, or is too long to keep (more than about a hundred files).
Result<VarValues> record_unchanged(const ScriptRunner& runner, const Scenario& scenario);

// A score or fraction as people read it: 0.756 -> "76%".
std::string percent_text(double fraction);

// The precheck's rule, in `scenario test` and before a session is ready: with the faults
// in, every fix check fails and every guard passes. One problem per check that breaks
// it, by its index in `results`; none means the faults bite.
struct PrecheckProblem {
  std::size_t check;
  std::string message;  // "fault did not take effect: check 'X' passes before the fix"
};
std::vector<PrecheckProblem> precheck_problems(const std::vector<CheckResult>& results);

}  // namespace breakfix
