#pragma once

// Brings a provisioned lab to the state the candidate finds: each host's setup in the
// order of the hosts, then the faults in their order, then the hashing of the hosts'
// `unchanged:` paths (by the grader's tools, after the faults, so the faults may touch
// them). A session, `scenario test` and each of its shortcuts and alternatives prepare
// their labs through this and nothing else, so what is proven is what candidates get.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "breakfix/scenario.h"
#include "session/script_runner.h"
#include "session/vars.h"

namespace breakfix {

// How one step ended: a script's run, or why it could not run (`error`).
struct PreparationOutcome {
  std::string error;
  std::optional<ScriptRun> run;
  bool ok() const { return error.empty() && (!run || run->succeeded()); }
  std::string failure() const { return !error.empty() ? error : run ? run_failure(*run) : ""; }
  // failure() and what the script printed, for people reading a test report; "" when ok.
  std::string detail() const { return ok() ? "" : !error.empty() ? error : describe_run(*run); }
};

struct PreparationStep {
  std::string name;  // "setup web", "fault 'stop the app'", "hash unchanged paths"
  std::function<PreparationOutcome()> run;
};

class LabPreparation {
 public:
  // `runner` and `scenario` must outlive the preparation.
  LabPreparation(const ScriptRunner& runner, const Scenario& scenario) : runner_(runner), scenario_(scenario) {}

  // The steps, to be run in order; a step after a failed one must not run (it would
  // only show the failure's consequences). The caller times, logs or reports them.
  std::vector<PreparationStep> steps();

  // Runs every step, telling `starting` each name first; stops at the first failure and
  // returns it, or nothing when the lab is ready for the candidate.
  struct Failure {
    std::string step;
    PreparationOutcome outcome;
    std::string summary() const { return step + " failed (" + outcome.failure() + ")"; }
  };
  std::optional<Failure> run_all(const std::function<void(const std::string&)>& starting = {});

  // Once the steps have run: the vars the `unchanged:` guards compare against.
  const VarValues& unchanged() const { return unchanged_; }

 private:
  PreparationStep script_step(std::string name, const std::string& host, const Script& script);

  const ScriptRunner& runner_;
  const Scenario& scenario_;
  VarValues unchanged_;
};

}  // namespace breakfix
