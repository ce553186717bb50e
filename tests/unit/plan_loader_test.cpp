// Plans (plan.yaml): the loader on its own, and the catalog's checks against the library.

#include <doctest/doctest.h>

#include "breakfix/plan.h"
#include "breakfix/scenario_catalog.h"
#include "temp_dir.h"

using namespace breakfix;
using namespace std::chrono_literals;

namespace {

constexpr const char* kPlan = R"(apiVersion: breakfix/v1
kind: plan
id: interview
title: An interview
description: Three parts.
parts:
  - {name: lab, scenario: alpha, duration: 45m}
  - {name: bug, scenario: beta, duration: 30m}
  - {name: ticket, scenario: gamma, duration: 15m}
rubric:
  - {name: method, levels: [guessed, tested]}
)";

std::string scenario_on_host(const std::string& id, const std::string& host = "main") {
  return "apiVersion: breakfix/v1\nid: " + id +
         "\ntitle: T\nkind: break-fix\ndescription: D\nhosts: [{name: " + host + ", image: breakfix/base:bookworm}]\n"
         "faults: [{name: f, run: 'true'}]\nchecks: [{name: c, run: 'false'}]\nsolution: [{run: 'true'}]\n";
}

std::string plan_messages(const std::vector<Diagnostic>& diagnostics) {
  std::string text;
  for (const Diagnostic& diagnostic : diagnostics) text += format_diagnostic(diagnostic) + "\n";
  return text;
}

std::string edit_plan(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("A plan is read with its parts in order, their budgets and its rubric") {
  PlanLoad load = parse_plan(kPlan, "plan.yaml");
  CAPTURE(plan_messages(load.diagnostics));
  REQUIRE(load.plan);
  const Plan& plan = *load.plan;
  CHECK(plan.id == "interview");
  CHECK(plan.mode == PlanMode::Sequence);
  REQUIRE(plan.parts.size() == 3);
  CHECK(plan.parts[1].name == "bug");
  CHECK(plan.parts[1].scenario_id == "beta");
  CHECK(plan.parts[2].duration == 15min);
  CHECK(plan.duration() == 90min);
  CHECK(plan.rubric.size() == 1);
  // Side by side too, the interview lasts the parts' budgets added up (the issue's "the
  // session lasts the plan's total"): the budgets say how to share the time.
  PlanLoad together = parse_plan(edit_plan(kPlan, "parts:", "mode: together\nparts:"), "plan.yaml");
  REQUIRE(together.plan);
  CHECK(together.plan->duration() == 90min);
}

TEST_CASE("A plan's mistakes are errors with file, line, column and field") {
  auto first_error = [](const std::string& text) {
    PlanLoad load = parse_plan(text, "plan.yaml");
    CHECK_FALSE(load.plan);
    return load.diagnostics.empty() ? std::string() : format_diagnostic(load.diagnostics.front());
  };
  CHECK(first_error(edit_plan(kPlan, "kind: plan", "kind: break-fix")) ==
        "plan.yaml:2:7: kind: a plan.yaml has 'kind: plan' (a scenario, kind 'break-fix', goes in scenario.yaml)");
  const std::string duration_error = first_error(edit_plan(kPlan, "duration: 30m}", "duration: half an hour}"));
  CAPTURE(duration_error);
  CHECK(duration_error.rfind("plan.yaml:8:", 0) == 0);
  CHECK(duration_error.find(": parts[1].duration: ") != std::string::npos);
  CHECK(first_error(edit_plan(kPlan, "{name: bug,", "{name: lab,")) == "plan.yaml:8:12: parts[1].name: duplicate part name 'lab'");
  CHECK(first_error(edit_plan(kPlan, "  - {name: bug, scenario: beta, duration: 30m}\n  - {name: ticket, scenario: gamma, duration: 15m}\n", "")) ==
        "plan.yaml:7:3: parts: has 1 part(s); a plan has at least two (one part is a scenario: start it alone)");
  CHECK(first_error(edit_plan(kPlan, "parts:", "mode: parallel\nparts:")).find("mode: ") != std::string::npos);
  CHECK(first_error(edit_plan(kPlan, "duration: 45m}", "duration: 24h}")).find("parts: the parts add up to 24h45m; a session lasts at most 24h") !=
        std::string::npos);
}

TEST_CASE("The catalog holds a plan to the library: its scenarios exist, its id is no scenario's, hosts differ side by side") {
  testing::TempDir dir;
  dir.write("lib/alpha/scenario.yaml", scenario_on_host("alpha"));
  dir.write("lib/beta/scenario.yaml", scenario_on_host("beta", "box"));
  dir.write("lib/gamma/scenario.yaml", scenario_on_host("gamma", "desk"));
  dir.write("lib/interview/plan.yaml", kPlan);
  ScenarioCatalog catalog = load_scenario_catalog({dir.path() / "lib"});
  CAPTURE(plan_messages(catalog.diagnostics));
  CHECK(catalog.diagnostics.empty());
  CHECK(catalog.files_read == 4);
  REQUIRE(catalog.find_plan("interview"));
  CHECK_FALSE(catalog.find("interview"));  // a plan is no scenario

  SUBCASE("an unknown scenario is named, with the nearest one") {
    dir.write("lib/interview/plan.yaml", edit_plan(kPlan, "scenario: beta,", "scenario: betta,"));
    catalog = load_scenario_catalog({dir.path() / "lib"});
    CHECK_FALSE(catalog.find_plan("interview"));
    REQUIRE(catalog.diagnostics.size() == 1);
    CHECK(format_diagnostic(catalog.diagnostics[0]).find(
              "plan.yaml:8:27: parts[1].scenario: no valid scenario 'betta' in the library (did you mean 'beta'?)") !=
          std::string::npos);
  }
  SUBCASE("side by side, two parts with a host of the same name cannot both be ID+host") {
    dir.write("lib/beta/scenario.yaml", scenario_on_host("beta", "main"));
    dir.write("lib/interview/plan.yaml", edit_plan(kPlan, "parts:", "mode: together\nparts:"));
    catalog = load_scenario_catalog({dir.path() / "lib"});
    CHECK_FALSE(catalog.find_plan("interview"));
    REQUIRE(catalog.diagnostics.size() == 1);
    CHECK(catalog.diagnostics[0].message ==
          "parts[1].scenario: host 'main' is also in part 'lab'; side by side every host is reached as ID+host, so their "
          "names must differ");
  }
  SUBCASE("a plan with a scenario's id") {
    dir.write("lib/interview/plan.yaml", edit_plan(kPlan, "id: interview", "id: alpha"));
    catalog = load_scenario_catalog({dir.path() / "lib"});
    CHECK(catalog.plans.empty());
    REQUIRE(catalog.diagnostics.size() == 1);
    CHECK(catalog.diagnostics[0].message.rfind("id: 'alpha' is also a scenario's id (", 0) == 0);
  }
}
