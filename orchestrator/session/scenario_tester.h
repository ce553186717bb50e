#pragma once

// `breakfix scenario test`: the scenario author's proof that a scenario works. For each
// scenario: provision, set up, inject the faults, check that every fix check fails and
// every guard passes, record the baseline as a session does, apply the reference
// solution, check that every check passes (three times, so that a check whose verdict
// changes is caught as flaky), check that neither the solution nor the checks look like
// tampering (lab_changes.h), remove.

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "breakfix/lab.h"
#include "session/vars.h"

namespace breakfix {

struct TestStep {
  std::string scenario;
  std::string step;    // "provision", "setup web", "fault '<name>'", "precheck", "baseline", "solution", "checks x3",
                       // "tamper check", "remove"
  bool ok = true;
  std::string detail;  // what failed and why, with the script's output
  std::chrono::milliseconds time{0};
};

struct ScenarioTestOptions {
  std::optional<std::uint64_t> seed;  // else random, and reported
  bool keep = false;                  // leave the lab up (for debugging) instead of removing it
  int check_runs = 3;                 // runs of the checks after the solution
  std::optional<std::size_t> variant = std::nullopt;  // else the one the seed picks, as for a session
};

struct ScenarioTestReport {
  std::string scenario;  // "id", or "id/variant" for a scenario with variants
  std::string variant;
  std::string session_id;
  std::uint64_t seed = 0;
  VarValues vars;
  std::vector<TestStep> steps;
  bool passed() const;
};

class ScenarioTester {
 public:
  using StepFn = std::function<void(const TestStep&)>;  // called as each step ends (progress)

  ScenarioTester(Runtime& runtime, LabOptions lab_options, StepFn on_step)
      : runtime_(runtime), lab_options_(lab_options), on_step_(std::move(on_step)) {}

  ScenarioTestReport test(const Scenario& scenario, const ScenarioTestOptions& options) const;

 private:
  // Applies a shortcut or an alternative to a fresh lab: "" when it scored within its
  // bounds (a shortcut) or 100% (an alternative), else why not.
  std::string try_attempt(const Scenario& scenario, const Attempt& attempt, bool shortcut,
                          const ScenarioTestReport& report) const;

  Runtime& runtime_;
  LabOptions lab_options_;
  StepFn on_step_;
  mutable std::atomic<int> attempts_{0};  // numbers the attempts' labs
};

}  // namespace breakfix
