// What tamper evidence costs a session (docs/benchmarks.md): start to ready and end to
// graded, without and with the baseline, on the real engine, each run doing exactly the
// engine's steps (session_engine.cpp: inject() and grade()):
//
//   ready:   provision, setup, faults, precheck                      (without)
//            ... with the hosts' snapshots taken while the precheck runs (with);
//            the list of changes at ready then runs in the background, as in the engine
//   between: the "candidate" (an exec as root) edits a config and replaces a tool
//   graded:  the final checks                                         (without)
//            ... after comparing every host with its baseline         (with)
//
// Also the parts: the commit per host, the engine's list of changes, the comparison.
//
// usage: breakfix_tamper_bench [RUNS] [SCENARIO.yaml]
//   default 10 runs of a one-host lab on breakfix/base:bookworm (needs that image).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "breakfix/docker_runtime.h"
#include "breakfix/lab.h"
#include "breakfix/scenario_loader.h"
#include "session/grader.h"
#include "session/lab_changes.h"
#include "session/script_runner.h"
#include "session/vars.h"
#include "bench_util.h"

using namespace breakfix;
using namespace breakfix::bench;

namespace {

// A small one-host lab: a service writing a log and a pid file, a fault in its config,
// checks that read both (as shipped labs' checks do).
constexpr const char* kScenario = R"yaml(apiVersion: breakfix/v1
id: tamper-bench
title: Tamper bench
kind: break-fix
description: d
image: breakfix/base:bookworm
setup: |
  mkdir -p /etc/app /var/log/app
  printf 'port = 8080\nworkers = 4\n' > /etc/app/app.conf
  (while :; do date >> /var/log/app/app.log; sleep 1; done) </dev/null >/dev/null 2>&1 &
  echo $! > /run/app.pid
faults: [{name: wrong port, run: "sed -i s/8080/9090/ /etc/app/app.conf"}]
checks:
  - {name: port, run: "grep -q 'port = 8080' /etc/app/app.conf"}
  - {name: running, expect: guard, run: "kill -0 $(cat /run/app.pid)"}
  - {name: logging, expect: guard, run: "test -s /var/log/app/app.log"}
solution: [{run: "sed -i s/9090/8080/ /etc/app/app.conf"}]
)yaml";

// What the benchmark's candidate does between ready and the end.
constexpr const char* kCandidate =
    "sed -i s/9090/8080/ /etc/app/app.conf 2>/dev/null || true\n"  // the repair (of the default lab)
    "printf '#!/bin/sh\\necho 200\\n' > /usr/local/bin/curl && chmod 755 /usr/local/bin/curl\n";

Script script(const std::string& text) { return Script{text, {}, std::chrono::seconds(60)}; }

struct Timings {
  std::vector<double> ready, graded, precheck, snapshot, listing, compare;
};

void run_once(Runtime& runtime, const Scenario& scenario, const std::string& session, bool tamper_evidence, Timings& t) {
  LabProvisioner provisioner(runtime, {});
  const VarValues vars = pick_vars(scenario, 1);
  auto start = SteadyClock::now();
  auto lab = provisioner.provision(scenario, session, nullptr);
  require(lab.ok(), "provision: " + (lab.ok() ? "" : lab.error().message));
  const ScriptRunner runner(runtime, *lab, vars);
  for (const Host& host : scenario.hosts) {
    if (host.setup) require(runner.run(host.name, *host.setup).ok(), "setup");
  }
  for (const Fault& fault : scenario.faults) require(runner.run(fault.host, fault.run).ok(), "fault");
  std::future<Result<std::vector<HostBaseline>>> snapshots;
  double snapshot_ms = 0;
  if (tamper_evidence) {
    snapshots = std::async(std::launch::async, [&] {
      const auto began = SteadyClock::now();
      auto taken = snapshot_lab(runtime, *lab, {});
      snapshot_ms = ms_since(began);
      return taken;
    });
  }
  const auto precheck_start = SteadyClock::now();
  require(run_checks(runner, scenario).ok(), "precheck");
  const double precheck_ms = ms_since(precheck_start);
  std::vector<HostBaseline> baselines;
  std::future<double> listing;
  if (tamper_evidence) {
    auto taken = snapshots.get();
    require(taken.ok(), "snapshot: " + (taken.ok() ? "" : taken.error().message));
    baselines = *taken;
    listing = std::async(std::launch::async, [&] {
      const auto began = SteadyClock::now();
      require(list_baseline_changes(runtime, *lab, baselines).ok(), "list changes");
      return ms_since(began);
    });
  }
  t.ready.push_back(ms_since(start));
  if (tamper_evidence) {
    t.precheck.push_back(precheck_ms);
    t.snapshot.push_back(snapshot_ms);
  }

  std::this_thread::sleep_for(std::chrono::seconds(2));  // the interviewer sends the ssh command
  require(runner.run(lab->entry().name, script(kCandidate)).ok(), "the candidate's changes");

  start = SteadyClock::now();
  if (tamper_evidence) {
    t.listing.push_back(listing.get());
    const auto began = SteadyClock::now();
    const LabChanges changes = compare_lab(runtime, *lab, scenario, baselines, {});
    t.compare.push_back(ms_since(began));
    require(changes.tampered() == true, "finding /usr/local/bin/curl");
  }
  require(run_checks(runner, scenario).ok(), "final checks");
  t.graded.push_back(ms_since(start));
  require(provisioner.remove_session(session).ok(), "remove");
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = runs_argument(argc, argv);
  auto runtime = connect_docker();
  ScenarioLoad load = argc > 2 ? load_scenario_file(argv[2]) : parse_scenario(kScenario, "bench.yaml", "/nonexistent");
  require(load.scenario != nullptr, "loading the scenario");
  const Scenario& scenario = *load.scenario;

  Timings without, with;
  for (int run = 0; run < runs; ++run) {
    // Alternate, so that a slow moment of the machine falls on both alike.
    run_once(*runtime, scenario, "tbench-" + std::to_string(run) + "-a", run % 2 == 0, run % 2 == 0 ? with : without);
    run_once(*runtime, scenario, "tbench-" + std::to_string(run) + "-b", run % 2 != 0, run % 2 != 0 ? with : without);
    std::fprintf(stderr, "run %d/%d: ready %.0f vs %.0f ms, graded %.0f vs %.0f ms (without vs with)\n", run + 1, runs,
                 without.ready.back(), with.ready.back(), without.graded.back(), with.graded.back());
  }
  std::printf("| measurement (median of %d, %s) | without | with | added |\n", runs, scenario.id.c_str());
  std::printf("|---|---|---|---|\n");
  std::printf("| start to ready (ms) | %.0f | %.0f | %+.0f |\n", median(without.ready), median(with.ready),
              median(with.ready) - median(without.ready));
  std::printf("| end to graded (ms) | %.0f | %.0f | %+.0f |\n", median(without.graded), median(with.graded),
              median(with.graded) - median(without.graded));
  std::printf("\n| part (median, with) | ms |\n|---|---|\n");
  std::printf("| precheck | %.0f |\n", median(with.precheck));
  std::printf("| snapshots (commit of each host, alongside the precheck) | %.0f |\n", median(with.snapshot));
  std::printf("| list of changes at ready (in the background) | %.0f |\n", median(with.listing));
  std::printf("| comparison at the end | %.0f |\n", median(with.compare));
  return 0;
}
