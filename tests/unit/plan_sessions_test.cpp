// A plan's session over the real engine, the fake runtime, a fake clock and a SQLite
// store in a temp dir: parts in sequence and together, moving on, carried time, notes,
// ratings and the report.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "breakfix/scenario_loader.h"
#include "fake_runtime.h"
#include "session/plan_sessions.h"
#include "temp_dir.h"

using namespace breakfix;
using namespace std::chrono_literals;
using breakfix::testing::FakeExecReply;
using breakfix::testing::FakeRuntime;

namespace {

// Two labs: each has a flag its fault lowers and its check wants up, on a host of its own name.
std::string flag_lab(const std::string& id, const std::string& host) {
  return "apiVersion: breakfix/v1\nid: " + id + "\ntitle: Lab " + id +
         "\nkind: break-fix\ndescription: d\nduration: 30m\nhosts:\n  - {name: " + host +
         ", image: breakfix/base:bookworm}\n"
         "faults: [{name: lower the flag, run: \"echo fault-" + id + "\"}]\n"
         "checks: [{name: flag is up, run: \"echo check-" + id + "\"}]\n"
         "solution: [{run: \"echo fix-" + id + "\"}]\n";
}

std::string plan_text(const std::string& mode) {
  return "apiVersion: breakfix/v1\nkind: plan\nid: interview\ntitle: The interview\ndescription: d\nmode: " + mode +
         "\nparts:\n  - {name: first, scenario: alpha, duration: 40m}\n  - {name: second, scenario: beta, duration: 20m}\n"
         "rubric:\n  - name: communication\n    description: How they explained\n"
         "    levels: [silent, terse, clear, taught us]\n";
}

struct PlanFixture {
  breakfix::testing::TempDir dir;
  FakeRuntime runtime;
  FakeClock clock;
  std::unique_ptr<Store> store;
  std::map<std::string, ScenarioPtr> scenarios;
  PlanPtr plan;
  std::map<std::string, bool> flags{{"alpha", true}, {"beta", true}};
  std::vector<std::pair<std::string, std::string>> notices;  // (session, text as the plan words it)
  std::unique_ptr<SessionEngine> engine;
  std::unique_ptr<PlanSessions> plans;

  explicit PlanFixture(const std::string& mode = "sequence") {
    runtime.images["breakfix/base:bookworm"] = "sha256:base";
    runtime.exec_handler = [this](const ExecSpec&, const std::string& script) -> FakeExecReply {
      for (auto& [id, up] : flags) {
        if (script == "echo fault-" + id) up = false;
        if (script == "echo fix-" + id) up = true;
        if (script == "echo check-" + id) return {up ? 0 : 1, "", ""};
      }
      return {0, "", ""};
    };
    auto opened = make_sqlite_store(dir.path() / "breakfix.db");
    REQUIRE(opened.ok());
    store = std::move(opened.value());
    for (auto [id, host] : {std::pair{"alpha", "web"}, std::pair{"beta", "db"}}) {
      ScenarioLoad load = parse_scenario(flag_lab(id, host), std::string(id) + ".yaml", "/nonexistent");
      REQUIRE(load.scenario);
      scenarios[id] = load.scenario;
    }
    PlanLoad loaded = parse_plan(plan_text(mode), "plan.yaml");
    REQUIRE(loaded.plan);
    plan = loaded.plan;
    engine = std::make_unique<SessionEngine>(
        runtime, *store, clock,
        [this](const std::string& id) { return scenarios.count(id) ? scenarios[id] : nullptr; },
        EngineOptions{.retention = 10min, .progress_interval = 0s, .lab = {}, .report_dir = {}, .recordings_dir = {},
                      .post = {}, .max_live_sessions = 0, .log_error = {}, .max_disk_bytes = 0, .disk_check_interval = 30s},
        [this](const std::string& id, const std::string& text) {
          notices.emplace_back(id, plans ? plans->notice_text(id, text) : text);
        });
    plans = make_plans();
  }

  std::unique_ptr<PlanSessions> make_plans() {
    return std::make_unique<PlanSessions>(
        *engine, *store, clock, [this](const std::string& id) { return id == plan->id ? plan : nullptr; },
        dir.path() / "reports");
  }

  PlanSessionView start() {
    auto started = plans->start({"interview", "Ada", 7, {"ssh-ed25519 AAAA"}, ""});
    REQUIRE(started.ok());
    return *started;
  }

  void pass(std::chrono::seconds how_long) {
    for (auto passed = 0s; passed < how_long; passed += 30s) {
      clock.advance(30s);
      engine->tick();
      plans->tick();
    }
  }

  // The lab command the part's hosts got, as the engine installed it.
  bool next_command_installed_on(const std::string& session_id) {
    auto access = engine->access(session_id);
    REQUIRE(access.ok());
    REQUIRE(access->lab);
    for (const auto& exec : runtime.execs) {
      if (exec.spec.container == access->lab->entry().container_id &&
          exec.input.find(kNextPartCommand) != std::string::npos) {
        return true;
      }
    }
    return false;
  }
};

}  // namespace

TEST_CASE("A plan in sequence starts its first part, and the next when the first one's time is up") {
  PlanFixture f;
  const PlanSessionView started = f.start();
  CHECK(started.parts.size() == 2);
  REQUIRE(started.parts[0].session);
  CHECK_FALSE(started.parts[1].session);
  CHECK(started.parts[0].session->state == SessionState::Ready);
  CHECK(started.parts[0].session->scenario_id == "alpha");
  CHECK(started.parts[0].session->duration == 40min);
  CHECK(started.state == SessionState::Ready);
  CHECK(started.duration == 60min);
  const std::string first = started.parts[0].session->id;
  CHECK(first != started.id);
  // The candidate's way on is on the first part's hosts, not on the last part's.
  CHECK(f.next_command_installed_on(first));

  // The login reaches the first part, with the plan in the banner.
  auto access = f.plans->access(started.id, "");
  REQUIRE(access.ok());
  CHECK(access->session_id == first);
  CHECK(access->open);
  CHECK(access->plan_banner.find("> 1. first") != std::string::npos);
  CHECK(access->plan_banner.find("breakfix-next") != std::string::npos);

  // Warnings name the part; the end of it says what comes next.
  f.pass(40min);
  bool warned = false, told_next = false;
  for (const auto& [id, text] : f.notices) {
    warned = warned || (id == first && text == "part 1 of 2 (first): 5 minutes left");
    told_next = told_next || (id == first && text.rfind("time is up for part 1 of 2 (first). Log in again", 0) == 0);
  }
  CHECK(warned);
  CHECK(told_next);
  auto moved = f.plans->view(started.id);
  REQUIRE(moved.ok());
  CHECK(moved->current == 1);
  REQUIRE(moved->parts[1].session);
  CHECK(moved->parts[0].session->state == SessionState::Graded);
  CHECK(moved->parts[1].session->state == SessionState::Ready);
  // Nothing was left over: the second part has its own budget.
  CHECK(moved->parts[1].session->duration == 20min);
  CHECK_FALSE(f.next_command_installed_on(moved->parts[1].session->id));
  auto second_access = f.plans->access(started.id, "");
  REQUIRE(second_access.ok());
  CHECK(second_access->session_id == moved->parts[1].session->id);
  CHECK(second_access->plan_banner.find("> 2. second") != std::string::npos);

  // The last part's end ends the interview; the report has both parts.
  CHECK_FALSE(f.plans->report(started.id).ok());
  f.pass(21min);
  auto done = f.plans->view(started.id);
  REQUIRE(done.ok());
  CHECK(done->ended);
  CHECK(done->state == SessionState::Graded);
  bool interview_over = false;
  for (const auto& [id, text] : f.notices) interview_over = interview_over || text == "time is up: the interview has ended. Thank you!";
  CHECK(interview_over);
  auto report = f.plans->report(started.id);
  REQUIRE(report.ok());
  const auto json = nlohmann::json::parse(report->first);
  CHECK(json["kind"] == "plan");
  CHECK(json["parts"].size() == 2);
  CHECK(json["parts"][0]["score"] == 0.0);
  CHECK(json["parts"][0]["report"]["score"] == 0.0);
  CHECK(report->second.find("# Interview report: The interview") != std::string::npos);
  CHECK(report->second.find("## Part 1: first") == std::string::npos);  // a heading of its own level
  CHECK(report->second.find("# Part 1: first") != std::string::npos);
  // Written to the report dir by the tick that saw it finished.
  CHECK(std::filesystem::exists(f.dir.path() / "reports" / (started.id + ".md")));
}

TEST_CASE("Moving on early ends the part as it is and gives the time left to the next part") {
  PlanFixture f;
  const PlanSessionView started = f.start();
  const std::string first = started.parts[0].session->id;
  f.flags["alpha"] = true;  // the candidate repaired the first lab
  f.pass(10min);
  // The candidate's `breakfix-next` printed the marker; the gateway names the part.
  f.plans->next_requested_from(first);
  auto moved = f.plans->view(started.id);
  REQUIRE(moved.ok());
  CHECK(moved->current == 1);
  REQUIRE(moved->parts[0].session);
  CHECK(*moved->parts[0].session->score == doctest::Approx(1.0));
  REQUIRE(moved->parts[1].session);
  // 40 - 10 minutes unused, on top of the second part's 20.
  CHECK(moved->parts[1].session->duration == 50min);
  // A request from a part that is no longer the current one changes nothing.
  f.plans->next_requested_from(first);
  CHECK(f.plans->view(started.id)->current == 1);
  // The last part has nowhere to go.
  auto last = f.plans->next(started.id, "interviewer");
  REQUIRE_FALSE(last.ok());
  CHECK(last.error().code == ErrorCode::Conflict);
  CHECK(last.error().message.find("is the last") != std::string::npos);
  // The interviewer ends the interview; the report weighs the parts by their budgets.
  auto ended = f.plans->end(started.id);
  REQUIRE(ended.ok());
  f.pass(1min);
  auto report = f.plans->report(started.id);
  REQUIRE(report.ok());
  const auto json = nlohmann::json::parse(report->first);
  CHECK(json["score"].get<double>() == doctest::Approx((1.0 * 40 + 0.0 * 20) / 60));
  std::string moves;
  for (const auto& event : json["events"]) moves += event["detail"].get<std::string>() + "\n";
  CHECK(moves.find("part 1 of 2 (first) ended by the candidate") != std::string::npos);
  CHECK(moves.find("30 minutes left on part 1 of 2 (first) go to the next part") != std::string::npos);
  CHECK(moves.find("ended early by the interviewer") != std::string::npos);
}

TEST_CASE("A plan's rubric is rated on the plan session, apart from the parts' scores") {
  PlanFixture f;
  const PlanSessionView started = f.start();
  auto note = f.plans->add_note(started.id, "Asked good questions about the proxy.");
  REQUIRE(note.ok());
  auto rated = f.plans->rate(started.id, "communication", 3);
  REQUIRE(rated.ok());
  CHECK(rated->meaning == "clear");
  auto unknown = f.plans->rate(started.id, "method", 2);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == ErrorCode::Invalid);
  CHECK(unknown.error().message.find("it has communication") != std::string::npos);
  CHECK(f.plans->rate(started.id, "communication", 5).error().code == ErrorCode::Invalid);
  CHECK(f.plans->add_note(started.id, "  ").error().code == ErrorCode::Invalid);
  (void)f.plans->end(started.id);
  f.pass(1min);
  auto report = f.plans->report(started.id);
  REQUIRE(report.ok());
  const auto json = nlohmann::json::parse(report->first);
  CHECK(json["rubric"][0]["rating"]["level"] == 3);
  CHECK(json["notes"][0]["text"] == "Asked good questions about the proxy.");
  CHECK(report->second.find("| communication | 3 of 4 | clear |") != std::string::npos);
}

TEST_CASE("A plan together starts every part for the whole plan, each host reached by its name") {
  PlanFixture f("together");
  const PlanSessionView started = f.start();
  REQUIRE(started.parts[0].session);
  REQUIRE(started.parts[1].session);
  CHECK(started.parts[0].session->duration == 60min);
  CHECK(started.parts[1].session->duration == 60min);
  CHECK_FALSE(f.next_command_installed_on(started.parts[0].session->id));
  auto web = f.plans->access(started.id, "web");
  auto db = f.plans->access(started.id, "db");
  REQUIRE(web.ok());
  REQUIRE(db.ok());
  CHECK(web->session_id == started.parts[0].session->id);
  CHECK(db->session_id == started.parts[1].session->id);
  CHECK(f.plans->next(started.id, "interviewer").error().code == ErrorCode::Conflict);
  CHECK(f.plans->current_part(started.id).error().message.find(started.parts[1].session->id) != std::string::npos);
  f.pass(61min);
  auto done = f.plans->view(started.id);
  REQUIRE(done.ok());
  CHECK(done->ended);
  CHECK(f.plans->report(started.id).ok());
}

TEST_CASE("A plan session survives a restart: the new layer finds it in the store and moves it on") {
  PlanFixture f;
  const PlanSessionView started = f.start();
  // The daemon restarts: a new plans layer over the same store and engine.
  f.plans = f.make_plans();
  CHECK_FALSE(f.plans->owns(started.id));
  auto recovered = f.plans->recover();
  REQUIRE(recovered.ok());
  CHECK(*recovered == 1);
  CHECK(f.plans->owns(started.id));
  f.pass(41min);
  auto moved = f.plans->view(started.id);
  REQUIRE(moved.ok());
  CHECK(moved->current == 1);
  CHECK(moved->parts[1].session);
}

TEST_CASE("An unknown plan, or a first part that cannot start, leaves nothing running") {
  PlanFixture f;
  CHECK(f.plans->start({"nope", "Ada", 1, {}, ""}).error().code == ErrorCode::NotFound);
  f.scenarios.erase("alpha");  // the library lost the first part's scenario
  auto failed = f.plans->start({"interview", "Ada", 1, {}, ""});
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == ErrorCode::NotFound);
  auto listed = f.plans->list();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().ended);
}

TEST_CASE("A next part that cannot start is said once, tried again after a backoff, and starts when it can") {
  PlanFixture f;
  const PlanSessionView started = f.start();
  CHECK(started.parts[0].session->seed == 7);  // the plan's seed; part i runs with seed + i
  ScenarioPtr beta = f.scenarios["beta"];
  f.scenarios.erase("beta");  // the library lost the second part's scenario
  f.pass(42min);
  auto stuck = f.plans->view(started.id);
  REQUIRE(stuck.ok());
  CHECK(stuck->current == 1);
  CHECK_FALSE(stuck->parts[1].session);
  CHECK(stuck->problem.find("part 2 of 2 (second) could not start: no scenario 'beta'") != std::string::npos);
  // A minute of ticks: one error on the timeline, not sixty.
  f.pass(1min);
  f.scenarios["beta"] = beta;
  f.pass(2min);
  auto moved = f.plans->view(started.id);
  REQUIRE(moved.ok());
  REQUIRE(moved->parts[1].session);
  CHECK(moved->parts[1].session->seed == 8);
  CHECK(moved->problem.empty());
  (void)f.plans->end(started.id);
  f.pass(1min);
  auto report = f.plans->report(started.id);
  REQUIRE(report.ok());
  int errors = 0;
  const auto json = nlohmann::json::parse(report->first);  // kept: the loop reads into it
  for (const auto& event : json["events"]) errors += event["kind"] == "error" ? 1 : 0;
  CHECK(errors == 1);
}

TEST_CASE("A running interview keeps its plan when the library's changes") {
  PlanFixture f;
  const PlanSessionView started = f.start();
  // A reload shortens the plan to one part and renames it.
  PlanLoad shorter = parse_plan(plan_text("sequence").replace(plan_text("sequence").find("  - {name: second"),
                                                              std::string("  - {name: second, scenario: beta, duration: 20m}\n").size(),
                                                              "  - {name: again, scenario: alpha, duration: 20m}\n"),
                                "plan.yaml");
  REQUIRE(shorter.plan);
  f.plan = shorter.plan;
  f.pass(41min);
  auto moved = f.plans->view(started.id);
  REQUIRE(moved.ok());
  REQUIRE(moved->parts[1].session);
  CHECK(moved->parts[1].name == "second");
  CHECK(moved->parts[1].session->scenario_id == "beta");
}

TEST_CASE("A candidate's request from an old part, or from a part with no next, moves nothing") {
  PlanFixture f;
  const PlanSessionView started = f.start();
  auto access = f.plans->access(started.id, "");
  REQUIRE(access.ok());
  CHECK(access->next_part);  // the gateway listens for the request on the first part
  CHECK(f.plans->next(started.id, "candidate", 1).error().code == ErrorCode::Conflict);
  CHECK(f.plans->view(started.id)->current == 0);
  REQUIRE(f.plans->next(started.id, "candidate", 0).ok());
  auto last = f.plans->access(started.id, "");
  REQUIRE(last.ok());
  CHECK_FALSE(last->next_part);  // and not on the last
}
