#pragma once

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

// Runs every check of the scenario: those without `serial: true` at the same time,
// then the serial ones one by one. Results are in the scenario's order. An Error means
// a check could not be run at all (the engine failed), not that it failed.
Result<std::vector<CheckResult>> run_checks(const ScriptRunner& runner, const Scenario& scenario);

// Sum of the weights of passing checks over the sum of all weights, in [0, 1]; 0 while
// no fix check passes (guards alone hold in an untouched lab).
double score(const std::vector<CheckResult>& results);

}  // namespace breakfix
