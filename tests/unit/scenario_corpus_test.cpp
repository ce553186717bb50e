// Every file in tests/corpus/invalid is a scenario with a known mistake. Its
// "# expect: ..." lines say which messages the loader must give for it.

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "breakfix/scenario_loader.h"

namespace fs = std::filesystem;
using namespace breakfix;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> expectations(const std::string& text) {
  std::vector<std::string> expected;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# expect: ", 0) == 0) expected.push_back(line.substr(10));
  }
  return expected;
}

}  // namespace

TEST_CASE("Every malformed corpus file gives its expected FILE:LINE:COL errors") {
  const fs::path corpus = fs::path(BREAKFIX_SOURCE_DIR) / "tests/corpus/invalid";
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(corpus)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 40);

  for (const fs::path& file : files) {
    CAPTURE(file);
    const std::string text = read_file(file);
    const auto expected = expectations(text);
    REQUIRE_MESSAGE(!expected.empty(), "corpus file has no '# expect:' line");
    const int line_count = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;

    ScenarioLoad load = load_scenario_file(file);
    CHECK_FALSE(load.scenario);
    CHECK(has_errors(load.diagnostics));
    std::string all;
    for (const Diagnostic& diagnostic : load.diagnostics) {
      CHECK(diagnostic.where.file == file.string());
      CHECK(diagnostic.where.line >= 1);
      CHECK(diagnostic.where.line <= line_count);
      CHECK(diagnostic.where.column >= 1);
      all += format_diagnostic(diagnostic) + "\n";
    }
    for (const std::string& message : expected) {
      CAPTURE(message);
      CAPTURE(all);
      CHECK(all.find(message) != std::string::npos);
    }
  }
}
