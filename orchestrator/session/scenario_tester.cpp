#include "session/scenario_tester.h"

#include <algorithm>
#include <cstdio>
#include <future>

#include "breakfix/duration.h"
#include "session/grader.h"
#include "session/lab_changes.h"
#include "session/lab_preparation.h"
#include "session/script_runner.h"

namespace breakfix {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string short_id() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::uint64_t value = random_seed();
  std::string id;
  for (int i = 0; i < 8; ++i, value /= 36) id += kAlphabet[value % 36];
  return id;
}

// Records steps as they end and tells the caller at once.
class StepLog {
 public:
  StepLog(ScenarioTestReport& report, const ScenarioTester::StepFn& on_step) : report_(report), on_step_(on_step) {}

  // Times `body`, which returns "" when the step succeeded or what went wrong.
  template <typename Body>
  bool step(const std::string& name, Body&& body) {
    const auto started = SteadyClock::now();
    std::string failure = body();
    TestStep step{report_.scenario, name, failure.empty(), std::move(failure),
                  std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started)};
    report_.steps.push_back(step);
    if (on_step_) on_step_(step);
    return step.ok;
  }

 private:
  ScenarioTestReport& report_;
  const ScenarioTester::StepFn& on_step_;
};

// The precheck's problems, a line each; empty when the faults bite and the guards hold.
std::string precheck_failures(const ScriptRunner& runner, const Scenario& scenario) {
  auto results = run_checks(runner, scenario);
  if (!results) return results.error().message;
  std::string failures;
  for (const PrecheckProblem& problem : precheck_problems(*results)) {
    const CheckResult& result = (*results)[problem.check];
    // A guard that fails says why; a fix check that passes has nothing to show.
    failures += problem.message + (result.passed ? "" : " (" + describe_run(result.run) + ")") + "\n";
  }
  return failures;
}

// Runs every check `runs` times after the solution; a line for each check that never
// passes and each that passes only sometimes (flaky).
std::string repeated_check_failures(const ScriptRunner& runner, const Scenario& scenario, int runs) {
  // verdicts[c] collects check c's results over the runs.
  std::vector<std::vector<bool>> verdicts(scenario.checks.size());
  std::vector<std::string> last_failure(scenario.checks.size());
  for (int run = 0; run < runs; ++run) {
    auto results = run_checks(runner, scenario);
    if (!results) return results.error().message;
    for (std::size_t c = 0; c < results->size(); ++c) {
      verdicts[c].push_back((*results)[c].passed);
      if (!(*results)[c].passed) last_failure[c] = describe_run((*results)[c].run);
    }
  }
  std::string failures;
  for (std::size_t c = 0; c < scenario.checks.size(); ++c) {
    const auto passes = std::count(verdicts[c].begin(), verdicts[c].end(), true);
    const std::string& name = scenario.checks[c].name;
    if (passes == 0) {
      failures += "check '" + name + "' fails after the solution (" + last_failure[c] + ")\n";
    } else if (passes < static_cast<long>(verdicts[c].size())) {
      failures += "check '" + name + "' is flaky: passed " + std::to_string(passes) + " of " +
                  std::to_string(verdicts[c].size()) + " runs (" + last_failure[c] + ")\n";
    }
  }
  return failures;
}

// The solution and the checks must not look like tampering: a false alarm in the lab
// would stain every honest candidate's report. A line for each change that would.
std::string tamper_failures(const LabChanges& changes) {
  std::string failures;
  for (const HostChanges& host : changes.hosts) {
    if (host.error) failures += "host " + host.host + ": " + *host.error + "\n";
    for (const PathChange& change : host.changes) {
      if (change.tampering) {
        failures += "host " + host.host + ": " + change.path + " " + to_string(change.kind) +
                    (change.what.empty() ? "" : " (" + change.what + ")") +
                    " looks like tampering; add it to the host's expected_changes if the candidate may change it\n";
      }
    }
    if (host.protected_unexamined > 0) failures += "host " + host.host + ": too many changes under protected paths\n";
  }
  if (changes.unchecked) failures += *changes.unchecked + "\n";
  return failures;
}

// What an attempt's checks say against what it may score: "" when within its bounds.
std::string attempt_failures(const Scenario& scenario, const Attempt& attempt, bool shortcut,
                             const std::vector<CheckResult>& results) {
  const Grade graded = grade(scenario, results);
  std::string failures;
  if (!shortcut && graded.score < 1.0) {
    failures += "scored " + percent_text(graded.score) + ", not 100%:\n";
    for (const CheckResult& result : results) {
      if (!result.passed) failures += "  check '" + result.name + "' fails (" + describe_run(result.run) + ")\n";
    }
    for (const std::string& line : graded.explanation()) failures += "  " + line + "\n";
    return failures;
  }
  if (!shortcut) return "";
  const double bound = attempt.max_score.value_or(1.0);
  if (attempt.max_score && graded.score > bound + 1e-9) {
    failures += "scored " + percent_text(graded.score) + ", more than its max_score " + percent_text(bound) + ":\n";
    for (const std::string& line : graded.explanation()) failures += "  " + line + "\n";
  }
  for (const std::string& name : attempt.must_fail) {
    for (const CheckResult& result : results) {
      if (result.name == name && result.passed) failures += "check '" + name + "' passes, but the shortcut must fail it\n";
    }
  }
  return failures;
}

}  // namespace

bool ScenarioTestReport::passed() const {
  return std::all_of(steps.begin(), steps.end(), [](const TestStep& step) { return step.ok; });
}

ScenarioTestReport ScenarioTester::test(const Scenario& written, const ScenarioTestOptions& options) const {
  ScenarioTestReport report;
  report.seed = options.seed.value_or(random_seed());
  // The variant asked for, or the one a session with this seed would run.
  const ScenarioPtr resolved = with_variant(std::make_shared<Scenario>(written),
                                            options.variant.value_or(pick_variant(written, report.seed)));
  const Scenario& scenario = *resolved;
  report.variant = scenario.variant;
  report.scenario = scenario.id + (scenario.variant.empty() ? "" : "/" + scenario.variant);
  report.vars = pick_vars(scenario, report.seed);
  report.session_id = "test-" + short_id();
  StepLog log(report, on_step_);
  LabProvisioner provisioner(runtime_, lab_options_);

  std::optional<Lab> lab;
  const bool provisioned = log.step("provision", [&]() -> std::string {
    auto made = provisioner.provision(scenario, report.session_id, nullptr);
    if (!made) return made.error().message;
    lab = *made;
    return "";
  });
  if (!provisioned) return report;

  const ScriptRunner runner(runtime_, *lab, report.vars);
  auto run_script = [&](const std::string& host, const Script& script) -> std::string {
    auto run = runner.run(host, script);
    if (!run) return run.error().message;
    return run->succeeded() ? "" : describe_run(*run);
  };
  // Stops at the first failing step; later steps would only report its consequences.
  bool ok = true;
  LabPreparation preparation(runner, scenario);
  for (PreparationStep& step : preparation.steps()) {
    if (ok) ok = log.step(step.name, [&] { return step.run().detail(); });
  }
  // What the unchanged: guards compare against joins the vars, as in a session.
  VarValues check_vars = report.vars;
  check_vars.insert(preparation.unchanged().begin(), preparation.unchanged().end());
  const ScriptRunner checks_runner(runtime_, *lab, check_vars);
  // The baseline as the engine takes it: the snapshots while the precheck runs.
  std::future<Result<std::vector<HostBaseline>>> snapshots;
  if (ok) snapshots = std::async(std::launch::async, [&] { return snapshot_lab(runtime_, *lab, lab_options_); });
  if (ok) {
    ok = log.step("precheck", [&] { return precheck_failures(checks_runner, scenario); });
  }
  std::vector<HostBaseline> baselines;
  if (snapshots.valid() && !ok) snapshots.wait();  // nothing to record: the scenario failed already
  if (snapshots.valid() && ok) {
    const bool recorded = log.step("baseline", [&]() -> std::string {
      auto taken = snapshots.get();
      if (!taken) return taken.error().message;
      // A session lists the changes in the background; nobody races it here.
      if (Status listed = list_baseline_changes(runtime_, *lab, *taken); !listed) return listed.error().message;
      baselines = std::move(*taken);
      return "";
    });
    ok = ok && recorded;
  }
  for (std::size_t i = 0; ok && i < scenario.solution.size(); ++i) {
    const SolutionStep& step = scenario.solution[i];
    ok = log.step(scenario.solution.size() == 1 ? "solution" : "solution step " + std::to_string(i + 1),
                  [&] { return run_script(step.host, step.run); });
  }
  if (ok) {
    ok = log.step("checks x" + std::to_string(options.check_runs),
                  [&] { return repeated_check_failures(checks_runner, scenario, options.check_runs); });
  }
  if (ok) {
    ok = log.step("tamper check",
             [&] { return tamper_failures(compare_lab(runtime_, *lab, scenario, baselines, lab_options_)); });
  }
  if (!options.keep) {
    log.step("remove", [&]() -> std::string {
      Status removed = provisioner.remove_session(report.session_id);
      return removed ? "" : removed.error().message;
    });
  }
  // Shortcuts and alternatives only once the reference solution is proven: a lab whose
  // faults do not bite says nothing about what a shortcut earns.
  if (ok) {
    for (const Attempt& shortcut : scenario.shortcuts) {
      log.step("shortcut " + shortcut.name, [&] { return try_attempt(scenario, shortcut, true, report); });
    }
    for (const Attempt& alternative : scenario.alternatives) {
      log.step("alternative " + alternative.name, [&] { return try_attempt(scenario, alternative, false, report); });
    }
  }
  return report;
}

std::string ScenarioTester::try_attempt(const Scenario& scenario, const Attempt& attempt, bool shortcut,
                                        const ScenarioTestReport& report) const {
  // A lab of its own, as a candidate would find it: set up, the faults in.
  const std::string session_id = report.session_id + "-" + std::to_string(++attempts_);
  LabProvisioner provisioner(runtime_, lab_options_);
  auto lab = provisioner.provision(scenario, session_id, nullptr);
  if (!lab) return "provision: " + lab.error().message;
  const ScriptRunner runner(runtime_, *lab, report.vars);
  LabPreparation preparation(runner, scenario);
  std::string failure;
  if (auto failed = preparation.run_all()) failure = failed->step + ": " + failed->outcome.detail();
  // The attempt's own exit status does not matter (a shortcut may well fail half way):
  // what the checks then say does.
  if (failure.empty()) {
    auto run = runner.run(attempt.step.host, attempt.step.run);
    if (!run) failure = "run: " + run.error().message;
  }
  VarValues check_vars = report.vars;
  check_vars.insert(preparation.unchanged().begin(), preparation.unchanged().end());
  if (failure.empty()) {
    auto results = run_checks(ScriptRunner(runtime_, *lab, check_vars), scenario);
    if (!results) failure = results.error().message;
    else failure = attempt_failures(scenario, attempt, shortcut, *results);
  }
  if (Status removed = provisioner.remove_session(session_id); !removed && failure.empty()) {
    failure = "remove: " + removed.error().message;
  }
  return failure;
}

}  // namespace breakfix
