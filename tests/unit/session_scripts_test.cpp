// Vars, the script runner, the grader and `scenario test`, over the fake runtime.

#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <thread>

#include "breakfix/scenario_loader.h"
#include "breakfix/toolbox.h"
#include "fake_runtime.h"
#include "session/grader.h"
#include "session/lab_preparation.h"
#include "session/scenario_tester.h"
#include "session/script_runner.h"
#include "session/vars.h"

using namespace breakfix;
using breakfix::testing::FakeExecReply;
using breakfix::testing::FakeRuntime;
using breakfix::testing::RecordedExec;

namespace {

// A lab whose state is one flag: the fault clears it, the solution sets it, the fix
// check tests it. The fake's exec handler plays the container.
constexpr const char* kScriptsScenario = R"(apiVersion: breakfix/v1
id: flag
title: Flag
kind: break-fix
description: d
vars:
  PORT: {choice: ["8081", "8082", "8083"]}
  COLOR: {range: [1, 100]}
image: breakfix/base:bookworm
setup: echo setup
faults: [{name: clear flag, run: "echo fault $PORT $COLOR"}]
checks:
  - {name: flag is set, weight: 3, run: "echo check-fix"}
  - {name: data intact, expect: guard, run: "echo check-guard"}
  - {name: alone, expect: guard, serial: true, run: "echo check-serial"}
solution: [{run: "echo solution"}]
)";

std::string replace_first(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

ScenarioPtr load_scenario_text(const std::string& text = kScriptsScenario) {
  ScenarioLoad load = parse_scenario(text, "scenario.yaml", "/nonexistent");
  REQUIRE(load.scenario);
  return load.scenario;
}

// The flag lab: `fault_bites` and `solution_fixes` let tests break the scenario itself.
struct FlagLab {
  std::atomic<bool> flag{true};
  bool fault_bites = true;
  bool solution_fixes = true;
  bool guard_holds = true;
  std::atomic<int> fix_checks{0};
  int flaky_every = 0;  // > 0: every Nth fix check fails regardless
  std::atomic<bool> harmed{false};  // the shortcut destroyed the data

  FakeRuntime::ExecHandler handler() {
    return [this](const ExecSpec&, const std::string& script) -> FakeExecReply {
      if (script.find("echo fault") == 0 && fault_bites) flag = false;
      if (script.find("echo fault") == 0) harmed = false;  // a fresh lab
      if (script == "echo solution" && solution_fixes) flag = true;
      if (script == "echo other-fix") flag = true;
      if (script == "echo shortcut") flag = harmed = true;  // fixes, by destroying the data
      if (script == "echo check-fix") {
        const int n = ++fix_checks;
        if (flaky_every > 0 && n % flaky_every == 0) return {1, "", "flaked\n"};
        return {flag ? 0 : 1, "", flag ? "" : "flag is not set\n"};
      }
      if (script == "echo check-guard") {
        const bool holds = guard_holds && !harmed;
        return {holds ? 0 : 1, "", holds ? "" : "data lost\n"};
      }
      return {0, "ok\n", ""};
    };
  }
};

FakeRuntime fake_with_base() {
  FakeRuntime runtime;
  runtime.images["breakfix/base:bookworm"] = "sha256:base";
  return runtime;
}

std::string step_names(const ScenarioTestReport& report) {
  std::string names;
  for (const TestStep& step : report.steps) names += step.step + (step.ok ? "" : "(FAILED)") + ";";
  return names;
}

}  // namespace

TEST_CASE("Vars are picked from the seed alone, reproducibly, among the declared values") {
  const ScenarioPtr scenario = load_scenario_text();
  const VarValues first = pick_vars(*scenario, 42);
  CHECK(first == pick_vars(*scenario, 42));
  std::set<std::string> ports;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const VarValues values = pick_vars(*scenario, seed);
    ports.insert(values.at("PORT"));
    const int color = std::stoi(values.at("COLOR"));
    CHECK(color >= 1);
    CHECK(color <= 100);
  }
  CHECK(ports == std::set<std::string>{"8081", "8082", "8083"});  // every choice is reachable
}

TEST_CASE("A script reaches its host on stdin with vars, session and host as shell variables") {
  FakeRuntime runtime = fake_with_base();
  auto lab = LabProvisioner(runtime, {}).provision(*load_scenario_text(), "s1", nullptr);
  REQUIRE(lab.ok());
  ScriptRunner runner(runtime, *lab, {{"PORT", "8082"}});
  runtime.exec_handler = [](const ExecSpec&, const std::string&) { return FakeExecReply{3, "out\n", "err\n"}; };
  Script script{"echo $PORT", {}, std::chrono::seconds(5)};
  auto run = runner.run("main", script);
  REQUIRE(run.ok());
  CHECK(run->exit_code == 3);
  CHECK_FALSE(run->succeeded());
  CHECK(run->output == "out\nerr\n");
  REQUIRE(runtime.execs.size() == 1);
  const RecordedExec& exec = runtime.execs[0];
  CHECK(exec.input == "echo $PORT");  // the script travels on stdin...
  CHECK(exec.spec.command == script_command(ScriptTools::Lab));
  for (const std::string& word : exec.spec.command) CHECK(word.find("echo $PORT") == std::string::npos);  // ...never in argv
  CHECK(exec.spec.user == "root");
  // ...and so do the vars, after a NUL: none in the environment, where the processes the
  // script starts would inherit them.
  CHECK(exec.vars == "BREAKFIX_HOST='main'\nBREAKFIX_SESSION='s1'\nPORT='8082'\n");
  // The toolbox's bash runs it, with the lab's own PATH (setup, faults, solutions).
  CHECK(exec.spec.command.front() == kToolboxBash);
  CHECK(exec.spec.env == std::vector<std::string>{"HOME=/root", "BASH_ENV="});
  CHECK(runner.run("nope", script).error().code == ErrorCode::NotFound);
}

// A check the backend refuses because the lab covered the grader's tools (LXD's toolbox
// guard) fails with the reason; an engine error still fails the whole run, to be tried again.
TEST_CASE("A check refused as tampered fails with the reason, an engine error fails the run") {
  FakeRuntime runtime = fake_with_base();
  const ScenarioPtr scenario = load_scenario_text();
  auto lab = LabProvisioner(runtime, {}).provision(*scenario, "s-tampered", nullptr);
  REQUIRE(lab.ok());
  ScriptRunner runner(runtime, *lab, {});
  runtime.exec_error = make_error(ErrorCode::Tampered, "the toolbox in main is covered");
  auto results = run_checks(runner, *scenario);
  REQUIRE(results.ok());
  for (const CheckResult& result : *results) {
    CHECK_FALSE(result.passed);
    CHECK(result.run.output.find("not trusted: the toolbox in main is covered") != std::string::npos);
  }
  CHECK(grade(*scenario, *results).score == 0);
  runtime.exec_error = make_error(ErrorCode::Unavailable, "engine lost");
  auto lost = run_checks(runner, *scenario);
  REQUIRE_FALSE(lost.ok());
  CHECK(lost.error().code == ErrorCode::Unavailable);
}

TEST_CASE("Checks are graded by weight, serial ones alone, results in scenario order") {
  FakeRuntime runtime = fake_with_base();
  FlagLab flag_lab;
  runtime.exec_handler = flag_lab.handler();
  const ScenarioPtr scenario = load_scenario_text();
  auto lab = LabProvisioner(runtime, {}).provision(*scenario, "s2", nullptr);
  REQUIRE(lab.ok());
  ScriptRunner runner(runtime, *lab, {});
  flag_lab.flag = false;
  auto results = run_checks(runner, *scenario);
  REQUIRE(results.ok());
  REQUIRE(results->size() == 3);
  CHECK((*results)[0].name == "flag is set");
  CHECK_FALSE((*results)[0].passed);
  CHECK((*results)[0].run.output == "flag is not set\n");
  CHECK((*results)[1].passed);
  CHECK((*results)[2].passed);
  CHECK(grade(*scenario, *results).score == 0);  // the guards hold, but nothing is repaired yet
  // Weights 3, 1, 1: with the fix passing and one guard broken, 4 of 5.
  std::vector<CheckResult> repaired_but_broke_a_guard = *results;
  repaired_but_broke_a_guard[0].passed = true;
  repaired_but_broke_a_guard[1].passed = false;
  CHECK(grade(*scenario, repaired_but_broke_a_guard).score == doctest::Approx(4.0 / 5.0));
  flag_lab.flag = true;
  CHECK(grade(*scenario, *run_checks(runner, *scenario)).score == doctest::Approx(1.0));
  CHECK(runtime.execs.back().input == "echo check-serial");  // the serial check ran after the others
}

TEST_CASE("scenario test passes a scenario whose fault bites and whose solution fixes it") {
  FakeRuntime runtime = fake_with_base();
  FlagLab flag_lab;
  runtime.exec_handler = flag_lab.handler();
  std::vector<std::string> progress;
  ScenarioTester tester(runtime, {}, [&](const TestStep& step) { progress.push_back(step.step); });
  const ScenarioTestReport report = tester.test(*load_scenario_text(), {.seed = 7});
  CAPTURE(step_names(report));
  CHECK(report.passed());
  CHECK(step_names(report) ==
        "provision;setup main;fault 'clear flag';precheck;baseline;solution;checks x3;tamper check;remove;");
  CHECK(progress.size() == report.steps.size());
  CHECK(report.vars == pick_vars(*load_scenario_text(), 7));
  CHECK(flag_lab.fix_checks == 4);  // once in the precheck, three times after the solution
  CHECK(runtime.containers.empty());  // removed
  CHECK(runtime.image_labels.empty());  // the snapshot too
  // The fault saw the session's vars.
  bool fault_seen = false;
  for (const auto& exec : runtime.execs) {
    if (exec.input.rfind("echo fault", 0) == 0) {
      fault_seen = true;
      CHECK(exec.vars.find("PORT='" + report.vars.at("PORT") + "'\n") != std::string::npos);
    }
  }
  CHECK(fault_seen);
}

TEST_CASE("scenario test reports a fault that does not bite, by check name") {
  FakeRuntime runtime = fake_with_base();
  FlagLab flag_lab;
  flag_lab.fault_bites = false;
  runtime.exec_handler = flag_lab.handler();
  const ScenarioTestReport report = ScenarioTester(runtime, {}, nullptr).test(*load_scenario_text(), {});
  CHECK_FALSE(report.passed());
  CHECK(step_names(report) == "provision;setup main;fault 'clear flag';precheck(FAILED);remove;");
  CHECK(report.steps[3].detail == "fault did not take effect: check 'flag is set' passes before the fix\n");
  CHECK(runtime.containers.empty());
}

TEST_CASE("scenario test reports a solution that does not fix, with the check's output") {
  FakeRuntime runtime = fake_with_base();
  FlagLab flag_lab;
  flag_lab.solution_fixes = false;
  runtime.exec_handler = flag_lab.handler();
  const ScenarioTestReport report = ScenarioTester(runtime, {}, nullptr).test(*load_scenario_text(), {});
  CHECK_FALSE(report.passed());
  const TestStep& checks = report.steps[6];
  CHECK(checks.step == "checks x3");
  CHECK_FALSE(checks.ok);
  CHECK(checks.detail.find("check 'flag is set' fails after the solution (exit 1; output:\nflag is not set") !=
        std::string::npos);
}

TEST_CASE("scenario test flags a check whose verdict changes between runs as flaky") {
  FakeRuntime runtime = fake_with_base();
  FlagLab flag_lab;
  flag_lab.flaky_every = 3;  // the 3rd fix check (second run after the solution) fails
  runtime.exec_handler = flag_lab.handler();
  const ScenarioTestReport report = ScenarioTester(runtime, {}, nullptr).test(*load_scenario_text(), {});
  CHECK_FALSE(report.passed());
  CHECK(report.steps[6].detail.find("check 'flag is set' is flaky: passed 2 of 3 runs") != std::string::npos);
}

TEST_CASE("scenario test fails a solution that changes what checks rely on, unless the scenario expects it") {
  FakeRuntime runtime = fake_with_base();
  runtime.image_files["breakfix/base:bookworm"] = {{"/usr", {FileType::Directory, "", "", 0755, 0, 0}},
                                                   {"/usr/bin", {FileType::Directory, "", "", 0755, 0, 0}}};
  FlagLab flag_lab;
  auto handler = flag_lab.handler();
  runtime.exec_handler = [&](const ExecSpec& spec, const std::string& script) {
    // The solution also installs a tool, as a bug-fix lab's make install would.
    if (script == "echo solution") {
      std::lock_guard lock(*runtime.mutex);
      runtime.files[spec.container]["/usr/bin/tool"] = {};
    }
    return handler(spec, script);
  };
  const ScenarioTestReport report = ScenarioTester(runtime, {}, nullptr).test(*load_scenario_text(), {});
  CHECK_FALSE(report.passed());
  const TestStep& tamper = report.steps[7];
  CHECK(tamper.step == "tamper check");
  CHECK(tamper.detail.find("host main: /usr/bin/tool created looks like tampering; add it to the host's "
                           "expected_changes") != std::string::npos);

  const ScenarioPtr expected = load_scenario_text(std::string(kScriptsScenario) + "expected_changes: [/usr/bin/tool]\n");
  CHECK(ScenarioTester(runtime, {}, nullptr).test(*expected, {}).passed());
}

TEST_CASE("scenario test stops at a failing setup and still removes the lab, unless asked to keep it") {
  FakeRuntime runtime = fake_with_base();
  runtime.exec_handler = [](const ExecSpec&, const std::string& script) {
    return script == "echo setup" ? FakeExecReply{1, "", "apt-get: not found\n"} : FakeExecReply{};
  };
  ScenarioTestReport report = ScenarioTester(runtime, {}, nullptr).test(*load_scenario_text(), {});
  CHECK(step_names(report) == "provision;setup main(FAILED);remove;");
  CHECK(report.steps[1].detail == "exit 1; output:\napt-get: not found\n");
  CHECK(runtime.containers.empty());

  report = ScenarioTester(runtime, {}, nullptr).test(*load_scenario_text(), {.seed = std::nullopt, .keep = true});
  CHECK(step_names(report) == "provision;setup main(FAILED);");
  CHECK(runtime.containers.size() == 1);
}

TEST_CASE("script_input: the script, a NUL, then each var as a single-quoted assignment") {
  CHECK(script_input("echo $A", {}) == std::string("echo $A\0", 8));
  CHECK(script_input("x", {{"A", "it's"}, {"B", "$(rm -rf /)"}}) ==
        std::string("x\0A='it'\\''s'\nB='$(rm -rf /)'\n", 30));
}

TEST_CASE("script_input: a scenario's helpers follow the vars, so the script's line numbers stay its own") {
  CHECK(script_input("x", {{"A", "1"}}, "f() { :; }\n") == std::string("x\0A='1'\nf() { :; }\n", 19));
}

TEST_CASE("Checks' own commands are the toolbox's, setup and faults use the lab's tools") {
  FakeRuntime runtime = fake_with_base();
  FlagLab flag_lab;
  runtime.exec_handler = flag_lab.handler();
  const ScenarioPtr scenario = load_scenario_text();
  auto lab = LabProvisioner(runtime, {}).provision(*scenario, "s9", nullptr);
  REQUIRE(lab.ok());
  ScriptRunner runner(runtime, *lab, {});
  REQUIRE(runner.run("main", *scenario->hosts[0].setup).ok());
  REQUIRE(run_checks(runner, *scenario).ok());
  for (const RecordedExec& exec : runtime.execs) {
    CAPTURE(exec.input);
    CHECK(exec.spec.command.front() == kToolboxBash);
    const bool check = exec.input.rfind("echo check-", 0) == 0;
    CHECK(exec.spec.command == script_command(check ? ScriptTools::Grader : ScriptTools::Lab));
    CHECK(exec.spec.env == std::vector<std::string>{"HOME=/root", "BASH_ENV="});  // the lab's PATH either way
  }
  const std::string& grader = script_command(ScriptTools::Grader)[2];
  CHECK(grader.find("grep() { /.breakfix/bin/busybox grep \"$@\"; }; ") != std::string::npos);
  CHECK(grader.find("echo()") == std::string::npos);  // bash's builtins stay
  // The functions come after the vars and before the script, which may not redefine them first.
  CHECK(grader.find("grep()") > grader.find("eval \"$BREAKFIX_VARS\""));
  CHECK(grader.find("grep()") < grader.find("eval \"$BREAKFIX_SCRIPT\""));
}

TEST_CASE("An exec that hangs is killed at its timeout, one that survives the kill is abandoned, both in bounded time") {
  FakeRuntime runtime = fake_with_base();
  auto lab = LabProvisioner(runtime, {}).provision(*load_scenario_text(), "s10", nullptr);
  REQUIRE(lab.ok());
  ExecSpec spec;
  spec.container = lab->entry().container_id;
  spec.command = {"true"};
  auto discard = [](OutputStream, std::string_view) {};
  using Clock = std::chrono::steady_clock;

  runtime.exec_handler = [](const ExecSpec&, const std::string&) { return FakeExecReply{0, "", "", std::chrono::hours(1)}; };
  auto started = Clock::now();
  ExecBounds bounds;
  bounds.timeout = std::chrono::milliseconds(300);
  auto killed = run_exec(runtime, spec, "", discard, bounds);
  REQUIRE(killed.ok());
  CHECK(killed->timed_out);
  CHECK_FALSE(killed->abandoned);
  CHECK(Clock::now() - started < std::chrono::seconds(3));
  CHECK(runtime.count_calls("kill ") == 1);

  runtime.exec_handler = [](const ExecSpec&, const std::string&) {
    return FakeExecReply{0, "", "", std::chrono::hours(1), /*survives_kill=*/true};
  };
  started = Clock::now();
  bounds.drain_grace = std::chrono::milliseconds(300);
  auto abandoned = run_exec(runtime, spec, "", discard, bounds);
  REQUIRE(abandoned.ok());
  CHECK(abandoned->timed_out);
  CHECK(abandoned->abandoned);
  CHECK(abandoned->exit_code == -1);
  CHECK(Clock::now() - started < std::chrono::seconds(3));

  std::atomic<bool> cancel{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel = true;
  });
  started = Clock::now();
  ExecBounds no_timeout;
  no_timeout.cancelled = [&] { return cancel.load(); };
  auto cancelled = run_exec(runtime, spec, "", discard, no_timeout);
  stopper.join();
  CHECK_FALSE(cancelled.ok());
  CHECK(Clock::now() - started < std::chrono::seconds(3));
}

TEST_CASE("A grading ends within its budget whatever the checks do, progress runs skip progress: false") {
  const ScenarioPtr scenario = load_scenario_text(R"(apiVersion: breakfix/v1
id: hang
title: Hang
kind: break-fix
description: d
image: breakfix/base:bookworm
faults: [{name: f, run: "echo fault"}]
checks:
  - {name: first, serial: true, timeout: 1s, run: "echo hang"}
  - {name: second, serial: true, timeout: 1s, run: "echo hang"}
  - {name: third, serial: true, timeout: 1s, run: "echo hang"}
  - {name: quiet, progress: false, run: "echo check-fix"}
solution: [{run: "echo solution"}]
)");
  CHECK(grading_budget(*scenario) == std::chrono::seconds(30) + kGradingSlack);  // the default check timeout is 30 s
  CHECK(scenario->checks[3].progress == false);
  FakeRuntime runtime = fake_with_base();
  runtime.exec_handler = [](const ExecSpec&, const std::string& script) {
    if (script == "echo hang") return FakeExecReply{0, "", "", std::chrono::hours(1)};
    return FakeExecReply{0, "", ""};
  };
  auto lab = LabProvisioner(runtime, {}).provision(*scenario, "s11", nullptr);
  REQUIRE(lab.ok());
  ScriptRunner runner(runtime, *lab, {});
  // Three serial checks that each hang to their 1 s timeout would take 3 s one after
  // another; a budget of 1.5 s gives the second what is left and the third nothing.
  const auto started = std::chrono::steady_clock::now();
  auto all = run_checks(runner, *scenario, CheckSelection::All, std::chrono::milliseconds(1500));
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE(all.ok());
  CHECK(took < std::chrono::milliseconds(2500));
  REQUIRE(all->size() == 4);
  for (int i : {0, 1, 2}) {
    CHECK((*all)[i].run.timed_out);
    CHECK_FALSE((*all)[i].passed);
  }
  CHECK((*all)[2].run.output.find("not run") != std::string::npos);
  CHECK(runtime.count_calls("start_exec") == 3);  // quiet (parallel) and first two serial ones; not the third
  CHECK((*all)[3].passed);
  auto progress = run_checks(runner, *scenario, CheckSelection::Progress, std::chrono::milliseconds(100));
  REQUIRE(progress.ok());
  CHECK(progress->size() == 3);  // quiet is left out
  for (const CheckResult& result : *progress) CHECK(result.name != "quiet");
}

TEST_CASE("The toolbox volume is made once from the toolbox image, by a container that never runs") {
  FakeRuntime runtime = fake_with_base();
  runtime.volumes.clear();
  auto volume = ensure_toolbox_volume(runtime, nullptr);
  REQUIRE(volume.ok());
  CHECK(*volume == "breakfix-toolbox-0000toolbox0");
  CHECK(runtime.volumes.count(*volume) == 1);
  CHECK(runtime.count_calls("create_container breakfix-toolbox-0000toolbox0-fill-") == 1);
  CHECK(runtime.count_calls("start_container") == 0);
  CHECK(runtime.containers.empty());  // the filler is removed again
  REQUIRE(ensure_toolbox_volume(runtime, nullptr).ok());
  CHECK(runtime.count_calls("create_container") == 1);  // already there: nothing made

  auto lab = LabProvisioner(runtime, {}).provision(*load_scenario_text(), "s12", nullptr);
  REQUIRE(lab.ok());
  const ContainerSpec& spec = runtime.specs.at(lab->entry().container_id);
  REQUIRE(spec.volumes.size() == 1);
  CHECK(spec.volumes[0].volume == *volume);
  CHECK(spec.volumes[0].target == kToolboxDir);
  CHECK(spec.volumes[0].read_only);
  CHECK(spec.command.front() == kToolboxBusybox);  // PID 1 is the toolbox's too
}

TEST_CASE("A script's output is kept from its end, cut on a character boundary") {
  FakeRuntime runtime = fake_with_base();
  auto lab = LabProvisioner(runtime, {}).provision(*load_scenario_text(), "s1", nullptr);
  REQUIRE(lab.ok());
  ScriptRunner runner(runtime, *lab, {});
  // "é" is two bytes: with one ASCII byte before them and one after, the cut at
  // kScriptOutputKept (even) from the end falls in the middle of one.
  std::string printed = "x";
  while (printed.size() < kScriptOutputKept + 100) printed += "\xc3\xa9";
  printed += "\n";
  runtime.exec_handler = [&](const ExecSpec&, const std::string&) { return FakeExecReply{0, printed, ""}; };
  auto run = runner.run("main", Script{"cat", {}, std::chrono::seconds(5)});
  REQUIRE(run.ok());
  REQUIRE_FALSE(run->output.empty());
  CHECK(run->output.size() == kScriptOutputKept - 1);
  CHECK(static_cast<unsigned char>(run->output.front()) == 0xc3);  // starts on a whole "é"
  CHECK(printed.compare(printed.size() - run->output.size(), std::string::npos, run->output) == 0);
}

namespace {

// The flag lab with its data guard critical, a shortcut and an alternative.
std::string with_attempts(const std::string& shortcut_bound, const std::string& alternative_run = "echo other-fix") {
  std::string text = kScriptsScenario;
  const std::string plain_guard = "{name: data intact, expect: guard, run: \"echo check-guard\"}";
  text.replace(text.find(plain_guard), plain_guard.size(),
               "{name: data intact, expect: guard, critical: true, run: \"echo check-guard\"}");
  return text + "shortcuts:\n  - {name: wipe the data, run: echo shortcut, " + shortcut_bound + "}\n" +
         "alternatives:\n  - {name: the other fix, run: " + alternative_run + "}\n";
}

}  // namespace

TEST_CASE("scenario test applies each shortcut and alternative to a fresh lab and holds them to their bounds") {
  FakeRuntime runtime = fake_with_base();
  FlagLab flag_lab;
  runtime.exec_handler = flag_lab.handler();
  ScenarioTestReport report =
      ScenarioTester(runtime, {}, nullptr).test(*load_scenario_text(with_attempts("max_score: 0.3")), {.seed = 7});
  CAPTURE(step_names(report));
  CHECK(report.passed());
  CHECK(step_names(report) == "provision;setup main;fault 'clear flag';precheck;baseline;solution;checks x3;tamper check;"
                              "remove;shortcut wipe the data;alternative the other fix;");
  CHECK(runtime.containers.empty());  // every attempt's lab removed

  // Without the critical guard the shortcut earns 3 of 5 (the fix and the serial guard):
  // over its bound, and the step says by how much and why.
  std::string uncapped = with_attempts("max_score: 0.3");
  uncapped.replace(uncapped.find(", critical: true"), std::string(", critical: true").size(), "");
  report = ScenarioTester(runtime, {}, nullptr).test(*load_scenario_text(uncapped), {.seed = 7});
  CHECK_FALSE(report.passed());
  const TestStep& shortcut = report.steps[9];
  CHECK(shortcut.step == "shortcut wipe the data");
  CHECK(shortcut.detail.rfind("scored 80%, more than its max_score 30%:\n", 0) == 0);
  CHECK(shortcut.detail.find("guard data intact") == std::string::npos);  // it failed; nothing to explain

  // `fails:` names a check the shortcut must fail: the fix check passes, so that is reported.
  report = ScenarioTester(runtime, {}, nullptr).test(*load_scenario_text(with_attempts("fails: [flag is set]")), {});
  CHECK_FALSE(report.passed());
  CHECK(report.steps[9].detail == "check 'flag is set' passes, but the shortcut must fail it\n");

  // An alternative that does not repair fails, naming the check.
  report = ScenarioTester(runtime, {}, nullptr).test(*load_scenario_text(with_attempts("max_score: 0", "echo nothing")), {});
  CHECK_FALSE(report.passed());
  CHECK(report.steps[10].step == "alternative the other fix");
  CHECK(report.steps[10].detail.rfind("scored 0%, not 100%:\n  check 'flag is set' fails (exit 1; output:\nflag is not set", 0) == 0);
  CHECK(runtime.containers.empty());
}

TEST_CASE("A shortcut needs a bound, its fails name checks") {
  const std::string base = kScriptsScenario;
  auto errors = [](const std::string& text) {
    std::string all;
    for (const Diagnostic& d : parse_scenario(text, "scenario.yaml", "/nonexistent").diagnostics) all += d.message + "\n";
    return all;
  };
  CHECK(errors(base + "shortcuts: [{name: s, run: 'true'}]\n") ==
        "shortcuts[0]: a shortcut needs 'max_score:' (the most it may score), 'fails:' (checks it must fail), or both\n");
  CHECK(errors(base + "shortcuts: [{name: s, run: 'true', fails: [nope]}]\n") ==
        "shortcuts[0].fails[0]: unknown check 'nope'\n");
  CHECK(errors(base + "shortcuts: [{name: s, run: 'true', max_score: 1}]\n") ==
        "shortcuts[0].max_score: must be at least 0 and below 1 (got 1)\n");
  CHECK(errors(base + "alternatives: [{name: a, run: 'true', max_score: 0}]\n").find("unknown key 'max_score'") != std::string::npos);
}

TEST_CASE("A session's variant comes from its seed, scenario test tests the one asked for, or the seed's") {
  const ScenarioPtr scenario = load_scenario_text(std::string(kScriptsScenario) + R"(variants:
  - {name: first, faults: [{name: clear flag, run: "echo fault 1"}]}
  - {name: second, faults: [{name: clear flag, run: "echo fault 2"}]}
  - {name: third, faults: [{name: clear flag, run: "echo fault 3"}]}
)");
  std::set<std::size_t> picked;
  for (std::uint64_t seed = 0; seed < 60; ++seed) {
    CHECK(pick_variant(*scenario, seed) == pick_variant(*scenario, seed));
    picked.insert(pick_variant(*scenario, seed));
  }
  CHECK(picked == std::set<std::size_t>{0, 1, 2});  // every variant comes up
  CHECK(scenario_for_seed(scenario, 5)->variant == scenario->variants[pick_variant(*scenario, 5)].name);
  CHECK(pick_variant(*load_scenario_text(), 5) == 0);

  FakeRuntime runtime = fake_with_base();
  FlagLab flag_lab;
  runtime.exec_handler = flag_lab.handler();
  ScenarioTestReport report = ScenarioTester(runtime, {}, nullptr).test(*scenario, {.seed = 5, .variant = 2});
  CHECK(report.passed());
  CHECK(report.scenario == "flag/third");
  CHECK(report.variant == "third");
  bool third_fault = false;
  for (const auto& exec : runtime.execs) third_fault = third_fault || exec.input == "echo fault 3";
  CHECK(third_fault);
  report = ScenarioTester(runtime, {}, nullptr).test(*scenario, {.seed = 5});
  CHECK(report.variant == scenario->variants[pick_variant(*scenario, 5)].name);
}

TEST_CASE("scenario test hashes the unchanged paths after the faults and hands the listing to their guard") {
  FakeRuntime runtime = fake_with_base();
  FlagLab flag_lab;
  auto handler = flag_lab.handler();
  const ScenarioPtr scenario =
      load_scenario_text(replace_first(kScriptsScenario, "setup: echo setup\n", "setup: echo setup\nunchanged: [/srv/data]\n"));
  const Host& host = scenario->hosts[0];
  std::atomic<bool> data_changed{false};
  runtime.exec_handler = [&](const ExecSpec& spec, const std::string& script) -> FakeExecReply {
    if (script == unchanged_listing_command(host)) {
      CHECK(spec.command == script_command(ScriptTools::Grader));  // the grader's tools list them
      return {0, data_changed ? "ffff  /srv/data/a\n" : "abcd  /srv/data/a\n", ""};
    }
    if (script == unchanged_check_script(host)) return {0, "", ""};
    return handler(spec, script);
  };
  ScenarioTestReport report = ScenarioTester(runtime, {}, nullptr).test(*scenario, {.seed = 3});
  CAPTURE(step_names(report));
  CHECK(report.passed());
  CHECK(step_names(report).find("fault 'clear flag';hash unchanged paths;precheck;") != std::string::npos);
  // The guard's runs carry what was listed after the faults, as a var.
  int guard_runs = 0;
  for (const auto& exec : runtime.execs) {
    if (exec.input != unchanged_check_script(host)) continue;
    ++guard_runs;
    CHECK(exec.vars.find("BREAKFIX_UNCHANGED_MAIN='abcd  /srv/data/a'\n") != std::string::npos);
  }
  CHECK(guard_runs == 4);  // the precheck and three runs after the solution
}

TEST_CASE("A lab is prepared in one order, and a failing step stops it and is named") {
  FakeRuntime runtime = fake_with_base();
  const ScenarioPtr scenario =
      load_scenario_text(replace_first(kScriptsScenario, "setup: echo setup\n", "setup: echo setup\nunchanged: [/srv/data]\n"));
  const Host& host = scenario->hosts[0];
  auto lab = LabProvisioner(runtime, {}).provision(*scenario, "prep", nullptr);
  REQUIRE(lab);
  bool fault_fails = false;
  runtime.exec_handler = [&](const ExecSpec&, const std::string& script) -> FakeExecReply {
    if (script == unchanged_listing_command(host)) return {0, "abcd  /srv/data/a\n", ""};
    if (script.find("echo fault") == 0 && fault_fails) return {3, "", "no such file\n"};
    return {0, "", ""};
  };
  const ScriptRunner runner(runtime, *lab, {{"PORT", "8081"}, {"COLOR", "7"}});

  SUBCASE("every step runs, and the hashes become the guards' var") {
    LabPreparation preparation(runner, *scenario);
    std::vector<std::string> started;
    CHECK_FALSE(preparation.run_all([&](const std::string& step) { started.push_back(step); }));
    CHECK(started == std::vector<std::string>{"setup main", "fault 'clear flag'", "hash unchanged paths"});
    CHECK(preparation.unchanged().at(unchanged_var(host)) == "abcd  /srv/data/a");
  }
  SUBCASE("a failing fault stops the preparation before the hashing") {
    fault_fails = true;
    const std::size_t before = runtime.execs.size();
    LabPreparation preparation(runner, *scenario);
    auto failed = preparation.run_all();
    REQUIRE(failed);
    CHECK(failed->summary() == "fault 'clear flag' failed (exit 3)");
    CHECK(failed->outcome.detail() == "exit 3; output:\nno such file\n");
    CHECK(runtime.execs.size() == before + 2);  // setup and the fault; no hashing
    CHECK(preparation.unchanged().empty());
  }
}
