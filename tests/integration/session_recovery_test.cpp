// The engine's process is killed with SIGKILL mid-session; while it is down the lab is
// repaired; a new process recovers the session from the store and grades it against the
// real containers. (`breakfix session drive` stands in for the daemon until it exists.)

#include <doctest/doctest.h>
#include <signal.h>

#include <boost/process.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "breakfix/scenario_loader.h"
#include "breakfix/store.h"
#include "process.h"
#include "temp_dir.h"

namespace bp = boost::process;
using namespace breakfix;
using namespace std::chrono_literals;
using breakfix::testing::run_command;

TEST_CASE("A session survives SIGKILL of the process running it and is graded after recovery") {
  breakfix::testing::TempDir data;
  const std::string scenarios = std::string(BREAKFIX_SOURCE_DIR) + "/scenarios";
  const auto log = data.path() / "drive.log";
  bp::child first(BREAKFIX_BINARY, "session", "drive", "sudoers-broken", "--data-dir", data.path().string(),
                  "--scenarios", scenarios, "--duration", "25s", "--progress-interval", "5s", "--retention", "0s",
                  (bp::std_out & bp::std_err) > log.string());

  // Wait until the session is ready, reading the store as the interviewer's tools will.
  std::optional<StoredSession> session;
  for (int i = 0; i < 120 && !session; ++i) {
    std::this_thread::sleep_for(500ms);
    auto store = make_sqlite_store(data.path() / "breakfix.db");
    if (!store) continue;
    auto live = (*store)->list_sessions({});
    if (live && !live->sessions.empty() && live->sessions.front().record.state == SessionState::Ready) {
      session = live->sessions.front();
    }
  }
  REQUIRE_MESSAGE(session.has_value(), "the session did not become ready; see " << log);
  ::kill(first.id(), SIGKILL);
  first.wait();
  CHECK(first.exit_code() != 0);

  // The lab outlives the process. The candidate repairs it meanwhile (the reference solution).
  const std::string container = "breakfix-" + session->id + "-main";
  REQUIRE(run_command({"docker", "inspect", container}).exit_code == 0);
  ScenarioLoad scenario = load_scenario_file(scenarios + "/sudoers-broken/scenario.yaml");
  REQUIRE(scenario.scenario);
  auto fixed = run_command({"docker", "exec", "-i", "-e", "GROUP=" + session->vars.at("GROUP"), container,
                            "bash", "-e"},
                           scenario.scenario->solution.front().run.text);
  REQUIRE_MESSAGE(fixed.exit_code == 0, fixed.err);

  // A new process picks the session up from the store and runs it to the end.
  bp::child second(BREAKFIX_BINARY, "session", "drive", "--recover", "--data-dir", data.path().string(), "--scenarios",
                   scenarios, "--retention", "0s", (bp::std_out & bp::std_err) > (data.path() / "recover.log").string());
  REQUIRE(second.wait_for(std::chrono::seconds(180)));
  CHECK(second.exit_code() == 0);

  auto store = make_sqlite_store(data.path() / "breakfix.db");
  REQUIRE(store.ok());
  auto report = (*store)->report(session->id);
  REQUIRE_MESSAGE(report.ok(), "no report; see " << data.path());
  const auto report_json = nlohmann::json::parse(report->first);
  CHECK(report_json["score"] == 1.0);  // the repair made while the engine was down counts
  CHECK(std::filesystem::exists(data.path() / "reports" / (session->id + ".md")));
  CHECK((*store)->get_session(session->id)->record.state == SessionState::Removed);
  auto events = (*store)->events(session->id);
  REQUIRE(events.ok());
  bool recovered = false;
  for (const auto& event : *events) recovered |= event.kind == "recovered";
  CHECK(recovered);
  CHECK(run_command({"docker", "ps", "-aq", "--filter", "label=breakfix.session=" + session->id}).out.empty());
}
