// The score's rule (session/grader.h): fix checks, guards that count only beside the
// repair they protect, critical guards that cap, hint costs. Scenarios come through the
// loader, as an author writes them.

#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "breakfix/scenario_loader.h"
#include "session/grader.h"

using namespace breakfix;

namespace {

// web-502's shape: a fix, a guard of the repair, a critical guard (the app must answer,
// not a stand-in), a guard of unrelated data.
constexpr const char* kShop = R"(apiVersion: breakfix/v1
id: shop
title: Shop
kind: break-fix
description: d
image: breakfix/base:bookworm
faults: [{name: f, run: "true"}]
checks:
  - {name: checkout works, weight: 3, run: "true"}
  - {name: orders work, weight: 1, run: "true"}
  - {name: nginx in front, expect: guard, requires: [checkout works], run: "true"}
  - {name: the app answers, expect: guard, critical: true, run: "true"}
  - {name: data kept, expect: guard, critical: true, cap: 0.25, run: "true"}
solution: [{run: "true"}]
)";

ScenarioPtr load(const std::string& text) {
  ScenarioLoad load = parse_scenario(text, "scenario.yaml", ".");
  REQUIRE_MESSAGE(load.scenario, (load.diagnostics.empty() ? "" : load.diagnostics.front().message));
  return load.scenario;
}

// Every check of `scenario` with the verdict given for it, or passing.
std::vector<CheckResult> verdicts(const Scenario& scenario, std::map<std::string, bool> failing_or_passing) {
  std::vector<CheckResult> results;
  for (const Check& check : scenario.checks) {
    const auto found = failing_or_passing.find(check.name);
    results.push_back({check.name, check.expect, check.weight, found == failing_or_passing.end() || found->second, {}});
  }
  return results;
}

std::string errors_of(const std::string& text) {
  std::string all;
  for (const Diagnostic& d : parse_scenario(text, "scenario.yaml", ".").diagnostics) all += d.message + "\n";
  return all;
}

}  // namespace

TEST_CASE("A guard with requires counts only beside the fix it protects") {
  const ScenarioPtr shop = load(kShop);
  CHECK(shop->checks[2].required_fixes == std::vector<std::string>{"checkout works"});
  // Orders repaired, checkout not: the nginx guard protects checkout and earns nothing.
  const Grade g = grade(*shop, verdicts(*shop, {{"checkout works", false}}));
  // Weights 3+1+1+1+1 = 7; earned: orders 1, the app answers 1, data kept 1.
  CHECK(g.earned == doctest::Approx(3.0 / 7.0));
  CHECK(g.score == doctest::Approx(3.0 / 7.0));
  REQUIRE(g.uncounted.size() == 1);
  CHECK(g.uncounted[0] == "nginx in front: it protects 'checkout works', which failed");
  CHECK(grade(*shop, verdicts(*shop, {})).score == doctest::Approx(1.0));
}

TEST_CASE("Without any passing fix no guard earns, so an untouched lab scores 0") {
  const ScenarioPtr shop = load(kShop);
  const Grade g = grade(*shop, verdicts(*shop, {{"checkout works", false}, {"orders work", false}}));
  CHECK(g.score == 0);
  CHECK(g.uncounted.size() == 3);
}

TEST_CASE("A failing critical guard caps the score, at 0 unless its cap says otherwise") {
  const ScenarioPtr shop = load(kShop);
  // The shortcut: nginx answers checkout itself. Every fix passes, the app does not answer.
  Grade g = grade(*shop, verdicts(*shop, {{"the app answers", false}}));
  CHECK(g.earned == doctest::Approx(6.0 / 7.0));
  CHECK(g.score == 0);
  CHECK(g.capped_by == std::vector<std::string>{"the app answers"});
  const auto lines = g.explanation();
  CHECK(std::find(lines.begin(), lines.end(), "capped at 0%: critical guard 'the app answers' failed") != lines.end());
  // Data lost (cap 0.25): everything else repaired scores a quarter, not 6/7.
  g = grade(*shop, verdicts(*shop, {{"data kept", false}}));
  CHECK(g.score == doctest::Approx(0.25));
  // Both: the lowest cap applies.
  g = grade(*shop, verdicts(*shop, {{"data kept", false}, {"the app answers", false}}));
  CHECK(g.score == 0);
  CHECK(g.capped_by.size() == 2);
  // A check with no result (a progress run that skipped it) counts as failing.
  std::vector<CheckResult> partial = verdicts(*shop, {});
  partial.pop_back();
  CHECK(grade(*shop, partial).score == doctest::Approx(0.25));
}

TEST_CASE("Hint costs come off last and never below 0") {
  const ScenarioPtr shop = load(kShop);
  Grade g = grade(*shop, verdicts(*shop, {}), 0.2);
  CHECK(g.score == doctest::Approx(0.8));
  CHECK(g.explanation().back() == "hints taken cost 20%");
  g = grade(*shop, verdicts(*shop, {{"data kept", false}}), 0.4);
  CHECK(g.score == 0);
}

TEST_CASE("critical, cap and requires are guards' keys, checked against the other checks") {
  const std::string head = "apiVersion: breakfix/v1\nid: x1\ntitle: t\nkind: break-fix\ndescription: d\n"
                           "image: breakfix/base:bookworm\nfaults: [{name: f, run: 'true'}]\n"
                           "solution: [{run: 'true'}]\nchecks:\n  - {name: fix, run: 'true'}\n";
  CHECK(errors_of(head + "  - {name: g, critical: true, run: 'true'}\n") ==
        "checks[1].critical: 'critical' applies to guards (expect: guard); a failing fix check already earns nothing\n");
  CHECK(errors_of(head + "  - {name: g, expect: guard, cap: 0.5, run: 'true'}\n") ==
        "checks[1].cap: needs 'critical: true': the cap is what a failing critical guard limits the score to\n");
  CHECK(errors_of(head + "  - {name: g, expect: guard, critical: true, cap: 1, run: 'true'}\n") ==
        "checks[1].cap: must be at least 0 and below 1 (got 1)\n");
  CHECK(errors_of(head + "  - {name: g, expect: guard, requires: [fixx], run: 'true'}\n") ==
        "checks[1].requires[0]: unknown check 'fixx' (requires names the fix checks this guard protects)\n");
  CHECK(errors_of(head + "  - {name: g, expect: guard, run: 'true'}\n  - {name: h, expect: guard, requires: [g], run: 'true'}\n") ==
        "checks[2].requires[0]: 'g' is a guard; requires names fix checks\n");
  CHECK(errors_of(head + "  - {name: g, expect: guard, requires: [], run: 'true'}\n") == "checks[1].requires: must list at least one check name\n");
}
