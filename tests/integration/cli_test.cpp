// Drives the real breakfix binary as a scenario author would.

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "process.h"

using breakfix::testing::run_command;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kBinary = BREAKFIX_BINARY;
const fs::path kSource = BREAKFIX_SOURCE_DIR;

breakfix::testing::CommandResult run_breakfix(std::vector<std::string> args) {
  args.insert(args.begin(), kBinary);
  return run_command(args);
}

}  // namespace

TEST_CASE("scenario lint passes the shipped library and exits 0") {
  auto result = run_breakfix({"scenario", "lint", (kSource / "scenarios").string()});
  CAPTURE(result.out);
  CHECK(result.exit_code == 0);
  CHECK(result.out.find("0 errors, 0 warnings") != std::string::npos);
}

TEST_CASE("scenario lint lists every error of every corpus file and exits 1") {
  const fs::path corpus = kSource / "tests/corpus/invalid";
  std::vector<std::string> args = {"scenario", "lint"};
  int files = 0;
  for (const auto& entry : fs::directory_iterator(corpus)) {
    args.push_back(entry.path().string());
    ++files;
  }
  auto result = run_breakfix(args);
  CHECK(result.exit_code == 1);
  for (std::size_t i = 2; i < args.size(); ++i) {
    CAPTURE(args[i]);
    CHECK(result.out.find(args[i] + ":") != std::string::npos);  // FILE:LINE:COL: ...
  }
  CHECK(result.out.find(std::to_string(files) + " files checked: 0 valid") != std::string::npos);
}

TEST_CASE("scenario lint -o json gives machine-readable diagnostics") {
  auto result = run_breakfix({"scenario", "lint", "-o", "json", (kSource / "tests/corpus/invalid/27-unknown-check-key.yaml").string()});
  CHECK(result.exit_code == 1);
  json report = json::parse(result.out);
  CHECK(report["valid"] == false);
  CHECK(report["errors"] == 1);
  REQUIRE(report["diagnostics"].size() == 1);
  const json& diagnostic = report["diagnostics"][0];
  CHECK(diagnostic["severity"] == "error");
  CHECK(diagnostic["line"] == 14);
  CHECK(diagnostic["column"] == 5);
  CHECK(diagnostic["message"] == "checks[0]: unknown key 'wieght' (did you mean 'weight'?)");
}

TEST_CASE("scenario list prints a table, or JSON, of the shipped scenarios") {
  auto table = run_breakfix({"scenario", "list", (kSource / "scenarios").string()});
  CHECK(table.exit_code == 0);
  CHECK(table.out.rfind("ID", 0) == 0);
  CHECK(table.out.find("KIND") != std::string::npos);
  CHECK(table.out.find("web-502") != std::string::npos);

  auto listing = run_breakfix({"scenario", "list", "-o", "json", (kSource / "scenarios").string()});
  CHECK(listing.exit_code == 0);
  json scenarios = json::parse(listing.out);
  REQUIRE(scenarios.is_array());
  CHECK(scenarios.size() >= 2);
  for (const json& scenario : scenarios) {
    CHECK(scenario.contains("id"));
    CHECK(scenario["hosts"].size() >= 1);
  }
}

TEST_CASE("Scenario commands read $BREAKFIX_SCENARIO_DIRS when given no path") {
  auto result = run_command({kBinary, "scenario", "list", "-o", "json"}, "",
                            {{"BREAKFIX_SCENARIO_DIRS", (kSource / "scenarios/web-502").string() + ":" +
                                                            (kSource / "scenarios/sudoers-broken").string()}});
  CHECK(result.exit_code == 0);
  CHECK(json::parse(result.out).size() == 2);
}

TEST_CASE("Usage errors exit 2 and help and version exit 0") {
  CHECK(run_breakfix({"scenario", "lint", "--no-such-flag"}).exit_code == 2);
  CHECK(run_breakfix({"scenario", "lint", "-o", "xml"}).exit_code == 2);
  CHECK(run_breakfix({"scenario"}).exit_code == 2);
  CHECK(run_breakfix({"no-such-command"}).exit_code == 2);
  auto version = run_breakfix({"--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.rfind("breakfix ", 0) == 0);
  for (auto args : std::vector<std::vector<std::string>>{{"--help"}, {"scenario", "--help"}, {"scenario", "lint", "--help"},
                                                         {"scenario", "list", "--help"}}) {
    auto help = run_breakfix(args);
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("Usage") != std::string::npos);
  }
}

TEST_CASE("Runtime commands name the socket when the engine is unreachable") {
  auto result = run_command({kBinary, "gc", "--dry-run"}, "", {{"DOCKER_HOST", "unix:///nonexistent/docker.sock"}});
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("cannot reach the Docker engine at /nonexistent/docker.sock") != std::string::npos);
  auto tcp = run_command({kBinary, "gc", "--dry-run"}, "", {{"DOCKER_HOST", "tcp://127.0.0.1:2375"}});
  CHECK(tcp.exit_code == 1);
  CHECK(tcp.err.find("unix socket only") != std::string::npos);
}

TEST_CASE("A user without access to the Docker socket is told how to get it") {
  // runuser drops to 'nobody', who may not open root's socket.
  auto result = run_command({"runuser", "-u", "nobody", "--", kBinary, "gc", "--dry-run"});
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("permission denied on the Docker socket") != std::string::npos);
  CHECK(result.err.find("'docker' group") != std::string::npos);
}

TEST_CASE("gc --dry-run lists breakfix's orphans and removes nothing") {
  // A labelled container of a session no daemon knows, as a crash would leave it.
  const std::string name = "breakfix-it-gc-" + std::to_string(::getpid());
  auto created = run_command({"docker", "run", "-d", "--name", name, "--network", "none", "--label",
                              "breakfix.managed=true", "--label", "breakfix.session=it-gc", "--entrypoint", "/bin/sh",
                              "breakfix/base:bookworm", "-c", "sleep 600"});
  REQUIRE(created.exit_code == 0);
  auto dry = run_breakfix({"gc", "--dry-run"});
  CHECK(dry.exit_code == 0);
  CHECK(dry.out.find("would remove container " + name) != std::string::npos);
  CHECK(run_command({"docker", "inspect", name}).exit_code == 0);  // still there
  CHECK(run_command({"docker", "rm", "-f", name}).exit_code == 0);
}

TEST_CASE("scenario test reports broken scenarios by step and check, and passes good ones") {
  const fs::path broken = kSource / "tests/broken-scenarios";
  auto result = run_breakfix({"scenario", "test", "--jobs", "2", broken.string()});
  CAPTURE(result.out);
  CAPTURE(result.err);
  CHECK(result.exit_code == 1);
  CHECK(result.out.find("fault-does-not-bite: precheck failed") != std::string::npos);
  CHECK(result.out.find("fault did not take effect: check 'motd exists' passes before the fix") != std::string::npos);
  CHECK(result.out.find("solution-does-not-fix: checks x3 failed") != std::string::npos);
  CHECK(result.out.find("check 'motd exists' fails after the solution (exit 1") != std::string::npos);
  CHECK(result.out.find("check 'counter is even' is flaky: passed 2 of 3 runs") != std::string::npos);
  CHECK(result.out.find("scenarios: 0 passed, 3 failed") != std::string::npos);
  CHECK(result.err.find("[flaky-check] provision: ok") != std::string::npos);  // progress as it goes
  // Every lab was removed, failed or not.
  CHECK(run_command({"docker", "ps", "-aq", "--filter", "label=breakfix.scenario=fault-does-not-bite"}).out.empty());
  CHECK(run_command({"docker", "ps", "-aq", "--filter", "label=breakfix.scenario=flaky-check"}).out.empty());
}

TEST_CASE("scenario test says which vars each seed picked, and the same seed picks the same") {
  const std::string scenario = (kSource / "scenarios/sudoers-broken").string();
  auto first = run_breakfix({"scenario", "test", "--seed", "5", scenario});
  auto second = run_breakfix({"scenario", "test", "--seed", "5", scenario});
  CAPTURE(first.out);
  CHECK(first.exit_code == 0);
  const auto line = first.out.find("sudoers-broken: seed 5, GROUP=");
  REQUIRE(line != std::string::npos);
  const std::string picked = first.out.substr(line, first.out.find('\n', line) - line);
  CHECK(second.out.find(picked + "\n") != std::string::npos);
}

TEST_CASE("scenario test names an unknown scenario id") {
  auto result = run_breakfix({"scenario", "test", "no-such-scenario"});
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("no scenario with id 'no-such-scenario'") != std::string::npos);
}
