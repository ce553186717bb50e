#include <doctest/doctest.h>

#include <algorithm>

#include "breakfix/scenario_catalog.h"
#include "temp_dir.h"

using namespace breakfix;
namespace fs = std::filesystem;

namespace {

std::string scenario_text(const std::string& id) {
  return "apiVersion: breakfix/v1\nid: " + id +
         "\ntitle: T\nkind: break-fix\ndescription: D\nimage: breakfix/base:bookworm\n"
         "faults: [{name: f, run: 'true'}]\nchecks: [{name: c, run: 'false'}]\nsolution: [{run: 'true'}]\n";
}

std::string all_messages(const ScenarioCatalog& catalog) {
  std::string text;
  for (const Diagnostic& diagnostic : catalog.diagnostics) text += format_diagnostic(diagnostic) + "\n";
  return text;
}

}  // namespace

TEST_CASE("The shipped scenario library loads without errors or warnings") {
  ScenarioCatalog catalog = load_scenario_catalog({fs::path(BREAKFIX_SOURCE_DIR) / "scenarios"});
  CAPTURE(all_messages(catalog));
  CHECK(catalog.diagnostics.empty());
  CHECK(catalog.scenarios.size() >= 2);
  CHECK(catalog.files_read == static_cast<int>(catalog.scenarios.size() + catalog.plans.size()));
  CHECK(catalog.find_plan("support-engineer-interview"));
  // Every lab, in each of its variants, proves in scenario test that its signature
  // shortcut scores at most 0.3 (partial repairs declared beside it may be bounded higher).
  for (const ScenarioPtr& written : catalog.scenarios) {
    for (std::size_t v = 0; v < std::max<std::size_t>(written->variants.size(), 1); ++v) {
      const ScenarioPtr scenario = with_variant(written, v);
      CAPTURE(scenario->id);
      CAPTURE(scenario->variant);
      CHECK(std::any_of(scenario->shortcuts.begin(), scenario->shortcuts.end(),
                        [](const Attempt& shortcut) { return shortcut.max_score.value_or(0) <= 0.3; }));
    }
  }
}

TEST_CASE("A library, a scenario directory and a scenario file are all accepted") {
  testing::TempDir dir;
  dir.write("lib/alpha/scenario.yaml", scenario_text("alpha"));
  dir.write("lib/beta/scenario.yaml", scenario_text("beta"));
  dir.write("lib/not-a-scenario/README", "ignored");
  dir.write("single/gamma/scenario.yaml", scenario_text("gamma"));
  dir.write("loose/delta.yaml", scenario_text("delta"));

  ScenarioCatalog catalog = load_scenario_catalog(
      {dir.path() / "lib", dir.path() / "single/gamma", dir.path() / "loose/delta.yaml"});
  CAPTURE(all_messages(catalog));
  CHECK(catalog.diagnostics.empty());
  REQUIRE(catalog.scenarios.size() == 4);
  CHECK(catalog.scenarios[0]->id == "alpha");  // sorted by id
  CHECK(catalog.find("delta"));
  CHECK_FALSE(catalog.find("nope"));
}

TEST_CASE("A duplicate id across directories is an error that points at both places") {
  testing::TempDir dir;
  const fs::path first = dir.write("one/web/scenario.yaml", scenario_text("web"));
  const fs::path second = dir.write("two/web/scenario.yaml", scenario_text("web"));

  ScenarioCatalog catalog = load_scenario_catalog({dir.path() / "one", dir.path() / "two"});
  REQUIRE(catalog.diagnostics.size() == 1);
  CHECK(format_diagnostic(catalog.diagnostics[0]) ==
        second.string() + ":2:5: id: duplicate scenario id 'web' (also defined at " + first.string() + ":2:5)");
  CHECK(catalog.scenarios.size() == 1);
}

TEST_CASE("A missing path and an empty directory are errors, a misnamed directory is a warning") {
  testing::TempDir dir;
  dir.write("lib/wrong-name/scenario.yaml", scenario_text("right-name"));
  fs::create_directories(dir.path() / "empty");

  ScenarioCatalog catalog =
      load_scenario_catalog({dir.path() / "missing", dir.path() / "empty", dir.path() / "lib"});
  const std::string text = all_messages(catalog);
  CHECK(text.find((dir.path() / "missing").string() + ":1:1: no such file or directory") != std::string::npos);
  CHECK(text.find((dir.path() / "empty").string() + ":1:1: no scenario.yaml here or in its subdirectories") !=
        std::string::npos);
  CHECK(text.find("warning: id: 'right-name' differs from its directory name 'wrong-name'") != std::string::npos);
  CHECK(count(catalog.diagnostics, Severity::Error) == 2);
  CHECK(catalog.scenarios.size() == 1);
}

TEST_CASE("The schema's valid examples load without errors or warnings") {
  // tests/schema/check_schema.py validates the same files against the JSON schema.
  int files = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(BREAKFIX_SOURCE_DIR) / "tests/schema/valid")) {
    CAPTURE(entry.path());
    ScenarioCatalog catalog = load_scenario_catalog({entry.path()});
    CAPTURE(all_messages(catalog));
    CHECK(catalog.diagnostics.empty());
    CHECK(catalog.scenarios.size() == 1);
    ++files;
  }
  CHECK(files >= 1);
}

TEST_CASE("Regression: subdirectories without a scenario file are no listing error") {
  // A scenario being written has its directory before its scenario.yaml. The loader once
  // reported the library as unlistable ("No such file or directory") when such a
  // directory came last in the listing, so several make that all but certain.
  testing::TempDir dir;
  dir.write("lib/alpha/scenario.yaml", scenario_text("alpha"));
  for (const char* name : {"draft-1", "draft-2", "draft-3", "draft-4", "draft-5", "draft-6"}) {
    fs::create_directories(dir.path() / "lib" / name / "image");
  }
  ScenarioCatalog catalog = load_scenario_catalog({dir.path() / "lib"});
  CAPTURE(all_messages(catalog));
  CHECK(catalog.diagnostics.empty());
  CHECK(catalog.scenarios.size() == 1);
}
