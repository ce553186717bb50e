// The recording budget: bytes and files per session, shared, counted from what is on
// disk, and the writers stop at it with one closing line.

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "gateway/asciicast.h"
#include "gateway/recording_budget.h"
#include "temp_dir.h"

using namespace breakfix;

namespace {
std::string read_all(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
}  // namespace

TEST_CASE("A session's recording budget refuses bytes and files past its limits, and says so once") {
  int told = 0;
  RecordingBudget budget({.max_bytes = 100, .max_files = 2}, 0, 0, [&] { ++told; });
  CHECK(budget.take_file());
  CHECK(budget.take_bytes(60));
  CHECK(budget.take_bytes(40));
  CHECK_FALSE(budget.take_bytes(1));
  CHECK(budget.exhausted());
  CHECK_FALSE(budget.take_file());  // exhausted: nothing more at all
  CHECK_FALSE(budget.take_bytes(0));
  CHECK(told == 1);

  RecordingBudget files({.max_bytes = 1000, .max_files = 1}, 0, 0, [&] { ++told; });
  CHECK(files.take_file());
  CHECK_FALSE(files.take_file());
  CHECK(told == 2);
}

TEST_CASE("A session's budget counts what its directory holds already, and is shared while in use") {
  breakfix::testing::TempDir dir;
  dir.write("s1/1-0.cast", std::string(300, 'x'));
  dir.write("s1/1-1.exec.jsonl", std::string(200, 'y'));
  RecordingBudgets budgets({.max_bytes = 1000, .max_files = 3}, dir.path());
  auto first = budgets.for_session("s1", {});
  auto second = budgets.for_session("s1", {});
  CHECK(first == second);
  CHECK(first->take_file());        // the third file
  CHECK_FALSE(first->take_file());  // a restart does not grant the limits again
  CHECK(budgets.for_session("s2", {}) != first);
}

TEST_CASE("A terminal recording stops at the budget with one line a player shows") {
  breakfix::testing::TempDir dir;
  int told = 0;
  auto budget = std::make_shared<RecordingBudget>(RecordingLimits{.max_bytes = 4096, .max_files = 10}, 0, 0,
                                                  [&] { ++told; });
  const auto file = dir.path() / "s1" / "1-0.cast";
  {
    auto writer = AsciicastWriter::create(file, 80, 24, "s1 main", "xterm");
    REQUIRE(writer.ok());
    (*writer)->set_budget(budget);
    // `cat /dev/urandom`, as far as the recording sees it: a megabyte of output.
    for (int i = 0; i < 1024; ++i) (*writer)->output(std::string(1024, 'A' + i % 26));
  }
  const std::string text = read_all(file);
  CHECK(text.size() < 4096 + 512);  // the budget, the header and the closing line
  CHECK(text.find(kRecordingLimitNotice) != std::string::npos);
  CHECK(told == 1);
}
