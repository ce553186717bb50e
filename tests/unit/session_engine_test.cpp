// The engine over the fake runtime, a fake clock and a real SQLite store in a temp dir.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "breakfix/scenario_loader.h"
#include "fake_runtime.h"
#include "flaky_store.h"
#include "session/assessment.h"
#include "session/session_engine.h"
#include "session/warm_pool.h"
#include "temp_dir.h"

using namespace breakfix;
using namespace std::chrono_literals;
using breakfix::testing::FakeExecReply;
using breakfix::testing::FakeRuntime;

namespace {

constexpr const char* kEngineScenario = R"(apiVersion: breakfix/v1
id: flag
title: The flag is down
kind: break-fix
description: d
duration: 30m
image: breakfix/base:bookworm
faults: [{name: lower the flag, run: "echo fault"}]
checks:
  - {name: flag is up, weight: 3, run: "echo check-flag"}
  - {name: data intact, expect: guard, run: "echo check-guard"}
solution: [{run: "echo solution"}]
)";

struct Fixture {
  breakfix::testing::TempDir dir;
  FakeRuntime runtime;
  FakeClock clock;
  std::unique_ptr<Store> store;
  std::unique_ptr<breakfix::testing::FlakyStore> flaky;  // the engine's store: `store`, failing when told
  ScenarioPtr scenario;
  std::atomic<bool> flag{true};  // atomic: sessions on worker threads share it
  std::atomic<bool> fault_bites{true};
  std::vector<std::string> notices;
  std::uint64_t max_disk_bytes = 0;  // the disk watchdog's limit; 0: off
  int max_live = 0;                  // sessions.max_sessions; 0: none
  std::mutex errors_mutex;
  std::vector<std::string> errors;  // what the engine logged (EngineOptions::log_error)

  // `store_file`: ":memory:" for the many short runs of the failure tests, where the
  // fsyncs of a file would be most of their time.
  // `more_yaml`: keys added to the scenario (hints).
  explicit Fixture(const std::string& store_file = "breakfix.db", const std::string& more_yaml = "") {
    runtime.images["breakfix/base:bookworm"] = "sha256:base";
    runtime.exec_handler = [this](const ExecSpec&, const std::string& script) -> FakeExecReply {
      if (script == "echo fault" && fault_bites) flag = false;
      if (script == "echo check-flag") return {flag ? 0 : 1, "", ""};
      return {0, "", ""};
    };
    auto opened = make_sqlite_store(store_file == ":memory:" ? std::filesystem::path(store_file) : dir.path() / store_file);
    REQUIRE(opened.ok());
    store = std::move(opened.value());
    flaky = std::make_unique<breakfix::testing::FlakyStore>(*store);
    ScenarioLoad load = parse_scenario(std::string(kEngineScenario) + more_yaml, "scenario.yaml", "/nonexistent");
    REQUIRE(load.scenario);
    scenario = load.scenario;
  }

  SessionEngine engine() {
    return SessionEngine(runtime, *flaky, clock, [this](const std::string& id) { return id == "flag" ? scenario : nullptr; },
                         {.retention = 10min, .progress_interval = 2min, .lab = {}, .report_dir = dir.path() / "reports", .recordings_dir = dir.path() / "recordings",
                          .post = {}, .max_live_sessions = max_live,
                          .log_error = [this](const std::string&, const std::string& message) {
                            std::lock_guard lock(errors_mutex);
                            errors.push_back(message);
                          },
                          .max_disk_bytes = max_disk_bytes,
                          .disk_check_interval = 30s},
                         [this](const std::string&, const std::string& notice) { notices.push_back(notice); });
  }

  void run_for(SessionEngine& engine, std::chrono::seconds how_long, std::chrono::seconds step = 30s) {
    for (auto passed = 0s; passed < how_long; passed += step) {
      clock.advance(step);
      engine.tick();
    }
  }
};

}  // namespace

TEST_CASE("A session runs from start to report: precheck, warnings, progress timeline, grading, retention") {
  Fixture f;
  SessionEngine engine = f.engine();
  auto session = engine.start({"flag", "Ada", 42, std::nullopt, {}, "", {}});
  REQUIRE(session.ok());
  CHECK(session->state == SessionState::Ready);
  CHECK(session->time_left == 30min);
  CHECK_FALSE(f.flag);  // the fault bit
  CHECK(f.store->get_session(session->id)->record.state == SessionState::Ready);

  f.run_for(engine, 12min);
  f.flag = true;  // the candidate fixes it at minute 12
  f.dir.write("recordings/" + session->id + "/1795750466-0.cast", "{}\n");  // as the gateway leaves one
  f.run_for(engine, 18min);
  CHECK(f.notices == std::vector<std::string>{"15 minutes left", "5 minutes left", "1 minute left", "time is up"});
  CHECK(engine.view(session->id)->state == SessionState::Graded);

  auto report = f.store->report(session->id);
  REQUIRE(report.ok());
  const auto report_json = nlohmann::json::parse(report->first);
  CHECK(report_json["score"] == 1.0);
  CHECK(report_json["candidate"] == "Ada");
  CHECK(report_json["seed"] == "42");
  CHECK(report_json["checks"][0]["name"] == "flag is up");
  CHECK(report_json["checks"][0]["passed"] == true);
  CHECK(report_json["checks"][0]["first_passed_at"].is_string());  // from the progress checks
  CHECK(report->second.find("**Score: 100%**") != std::string::npos);
  CHECK(report_json["recordings"] == nlohmann::json::array({"1795750466-0.cast"}));
  CHECK(report->second.find("breakfix session replay " + session->id + " --name 1795750466-0.cast") != std::string::npos);
  // The same report as files in the data dir, for people and tools that read files.
  std::ifstream json_file(f.dir.path() / "reports" / (session->id + ".json"));
  std::ifstream md_file(f.dir.path() / "reports" / (session->id + ".md"));
  CHECK(std::string(std::istreambuf_iterator<char>(json_file), {}) == report->first);
  CHECK(std::string(std::istreambuf_iterator<char>(md_file), {}) == report->second);
  CHECK_FALSE(std::filesystem::exists(f.dir.path() / "reports" / (session->id + ".json.partial")));
  // Fixed at minute 12, first seen passing by the progress check at 14:00.
  CHECK(report->second.find("| flag is up | fix | 3 | pass | 14:00 |") != std::string::npos);

  auto runs = f.store->check_runs(session->id);
  int precheck = 0, progress = 0, final = 0;
  for (const auto& run : *runs) (run.phase == "precheck" ? precheck : run.phase == "progress" ? progress : final)++;
  CHECK(precheck == 2);
  CHECK(progress == 2 * 14);  // every 2 minutes before the 30-minute deadline
  CHECK(final == 2);

  CHECK(f.runtime.containers.size() == 2);  // kept for the interviewer: the host, and its snapshot's reader
  f.run_for(engine, 10min);
  CHECK(engine.view(session->id)->state == SessionState::Removed);
  CHECK(f.runtime.containers.empty());
  CHECK(f.runtime.image_labels.empty());  // the snapshot went with them
}

TEST_CASE("A fault that does not bite fails the session before any candidate sees it") {
  Fixture f;
  f.fault_bites = false;
  SessionEngine engine = f.engine();
  auto session = engine.start({"flag", "Ada", 1, std::nullopt, {}, "", {}});
  REQUIRE(session.ok());
  CHECK(session->state == SessionState::Removed);  // failed, then its hosts went
  CHECK(f.store->get_session(session->id)->record.state == SessionState::Removed);
  auto events = f.store->events(session->id);
  bool said_why = false;
  for (const auto& event : *events) said_why |= event.detail == "failed: fault did not take effect: check 'flag is up' passes before the fix";
  CHECK(said_why);
  CHECK(f.runtime.containers.empty());
  CHECK(engine.start({"nope", "Ada", 1, std::nullopt, {}, "", {}}).error().code == ErrorCode::NotFound);
}

TEST_CASE("A new engine on the same store resumes a ready session with its wall-clock deadline") {
  Fixture f;
  std::string id;
  {
    SessionEngine first = f.engine();
    auto session = first.start({"flag", "Ada", 7, std::nullopt, {}, "", {}});
    REQUIRE(session.ok());
    id = session->id;
    f.run_for(first, 10min);
    REQUIRE(first.extend(id, 5min).ok());
  }  // the daemon dies here: nothing is flushed on the way out
  f.clock.advance(3min);  // while it was down
  SessionEngine second = f.engine();
  auto recovered = second.recover();
  REQUIRE(recovered.ok());
  CHECK(*recovered == 1);
  auto view = second.view(id);
  REQUIRE(view.ok());
  CHECK(view->state == SessionState::Ready);
  CHECK(view->time_left == 35min - 13min);
  CHECK(view->seed == 7);
  f.flag = true;
  f.run_for(second, 23min);
  CHECK(second.view(id)->state == SessionState::Graded);
  CHECK(nlohmann::json::parse(f.store->report(id)->first)["score"] == 1.0);
}

TEST_CASE("A grading cut short is run again after a restart") {
  Fixture f;
  std::string id;
  {
    SessionEngine first = f.engine();
    auto session = first.start({"flag", "Ada", 7, std::nullopt, {}, "", {}});
    REQUIRE(session.ok());
    id = session->id;
    f.runtime.exec_error = make_error(ErrorCode::Unavailable, "engine lost");  // checks cannot run: grading stays pending
    REQUIRE(first.end(id).ok());
    CHECK(first.view(id)->state == SessionState::Grading);
    CHECK(f.store->report(id).error().code == ErrorCode::NotFound);
  }
  f.runtime.exec_error.reset();
  SessionEngine second = f.engine();
  REQUIRE(second.recover().ok());
  CHECK(second.view(id)->state == SessionState::Graded);
  CHECK(nlohmann::json::parse(f.store->report(id)->first)["score"] == 0);  // guard passes, fix not: nothing repaired
  CHECK(second.extend(id, 5min).error().code == ErrorCode::Conflict);
}

TEST_CASE("A candidate who fakes a tool is graded tampered, the baseline outlives a restart") {
  Fixture f;
  f.runtime.image_files["breakfix/base:bookworm"] = {
      {"/usr", {FileType::Directory, "", "", 0755, 0, 0}},
      {"/usr/bin", {FileType::Directory, "", "", 0755, 0, 0}},
      {"/usr/bin/curl", {FileType::Regular, std::string("\x7f" "ELF", 4), "", 0755, 0, 0}},
  };
  std::string id;
  {
    SessionEngine first = f.engine();
    auto session = first.start({"flag", "Ada", 7, std::nullopt, {}, "", {}});
    REQUIRE(session.ok());
    id = session->id;
    CHECK(f.store->baseline(id).ok());
    CHECK(f.runtime.count_calls("commit_container") == 1);
    CHECK(session->tampered == std::nullopt);
  }  // the daemon dies; the candidate replaces curl meanwhile
  auto& files = f.runtime.files.begin()->second;
  files["/usr/bin/curl"] = {FileType::Regular, "#!/bin/sh\necho 200\n", "", 0755, 0, 0};
  f.flag = true;
  SessionEngine second = f.engine();
  REQUIRE(second.recover().ok());
  REQUIRE(second.end(id).ok());
  auto view = second.view(id);
  CHECK(view->state == SessionState::Graded);
  CHECK(view->tampered == true);
  const auto report = f.store->report(id);
  const auto report_json = nlohmann::json::parse(report->first);
  CHECK(report_json["score"] == 1.0);  // tampering is flagged, not scored
  CHECK(report_json["tampering"]["tampered"] == true);
  CHECK(report_json["tampering"]["paths"][0]["path"] == "/usr/bin/curl");
  CHECK(report->second.find("## Tampering") != std::string::npos);
  CHECK(report->second.find("`/usr/bin/curl` modified: content") != std::string::npos);
  // A later engine, reading the store only, still knows.
  SessionEngine third = f.engine();
  CHECK(third.view(id)->tampered == true);
}

TEST_CASE("A session nobody touched is graded not tampered") {
  Fixture f;
  SessionEngine engine = f.engine();
  auto session = engine.start({"flag", "Ada", 7, std::nullopt, {}, "", {}});
  REQUIRE(session.ok());
  REQUIRE(engine.end(session->id).ok());
  CHECK(engine.view(session->id)->tampered == false);
  CHECK(nlohmann::json::parse(f.store->report(session->id)->first)["tampering"]["tampered"] == false);
}

namespace {

// Runs posted work on threads of its own, as the daemon's pool does.
struct ThreadPoster {
  std::mutex mutex;
  std::vector<std::thread> threads;
  void post(WorkFn work) {
    std::lock_guard lock(mutex);
    threads.emplace_back(std::move(work));
  }
  void join() {
    std::lock_guard lock(mutex);
    for (auto& thread : threads) thread.join();
    threads.clear();
  }
};

}  // namespace

TEST_CASE("With a worker pool, start answers at once and sessions provision side by side") {
  Fixture f;
  ThreadPoster poster;
  std::atomic<int> inside{0}, most_inside{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  const auto original = f.runtime.exec_handler;
  f.runtime.exec_handler = [&](const ExecSpec& spec, const std::string& script) -> FakeExecReply {
    if (script == "echo fault") {
      // Both sessions inject their fault at the same time, or this waits forever.
      most_inside = std::max(most_inside.load(), ++inside);
      released.wait();
      --inside;
    }
    return original(spec, script);
  };
  EngineOptions options{.retention = 10min, .progress_interval = 0s, .lab = {}, .report_dir = {}, .recordings_dir = {},
                        .post = [&](WorkFn work) { poster.post(std::move(work)); }, .max_live_sessions = 2, .log_error = {}, .max_disk_bytes = 0, .disk_check_interval = {}};
  SessionEngine engine(f.runtime, *f.store, f.clock, [&](const std::string&) { return f.scenario; }, options, nullptr);
  auto first = engine.start({"flag", "Ada", 1, std::nullopt, {}, "", {}});
  auto second = engine.start({"flag", "Bob", 2, std::nullopt, {}, "", {}});
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  // A third is over the limit of two live sessions.
  CHECK(engine.start({"flag", "Cy", 3, std::nullopt, {}, "", {}}).error().code == ErrorCode::Conflict);
  for (int i = 0; i < 500 && most_inside.load() < 2; ++i) std::this_thread::sleep_for(10ms);
  CHECK(most_inside.load() == 2);
  // Reads do not wait for the work under way.
  CHECK(engine.view(first->id)->state == SessionState::Injecting);
  CHECK(engine.view(first->id)->progress == "fault 'lower the flag'");
  CHECK(engine.busy_sessions() == 2);
  release.set_value();
  poster.join();
  CHECK(engine.view(first->id)->state == SessionState::Ready);
  CHECK(engine.view(second->id)->state == SessionState::Ready);
  CHECK(engine.busy_sessions() == 0);
  auto listed = engine.list();
  REQUIRE(listed.ok());
  CHECK(listed->size() == 2);

  // end() answers in grading; the grading runs on the pool.
  auto ended = engine.end(first->id);
  REQUIRE(ended.ok());
  CHECK(ended->state == SessionState::Grading);
  poster.join();
  CHECK(engine.view(first->id)->state == SessionState::Graded);
  CHECK(engine.view(first->id)->score == 0);  // not repaired
}

TEST_CASE("grade-now runs the checks without ending, remove ends without grading") {
  Fixture f;
  SessionEngine engine = f.engine();
  auto session = engine.start({"flag", "Ada", 1, std::nullopt, {"ssh-ed25519 AAAA"}, "$y$hash", {}});
  REQUIRE(session.ok());
  CHECK(session->public_keys == 1);
  CHECK(session->password);
  auto access = engine.access(session->id);
  REQUIRE(access.ok());
  CHECK(access->password_hash == "$y$hash");
  CHECK(access->public_keys == std::vector<std::string>{"ssh-ed25519 AAAA"});

  auto outcomes = engine.grade_now(session->id);
  REQUIRE(outcomes.ok());
  REQUIRE(outcomes->size() == 2);
  CHECK((*outcomes)[0].name == "flag is up");
  CHECK_FALSE((*outcomes)[0].passed);
  CHECK((*outcomes)[1].expect == "guard");
  CHECK(engine.view(session->id)->state == SessionState::Ready);
  bool manual = false;
  const auto runs = f.store->check_runs(session->id);
  REQUIRE(runs.ok());
  for (const auto& run : *runs) manual |= run.phase == "manual";
  CHECK(manual);

  auto removed = engine.remove(session->id);
  REQUIRE(removed.ok());
  CHECK(removed->state == SessionState::Removed);
  CHECK(removed->failure == "removed by the interviewer before the end (not graded)");
  CHECK(f.runtime.containers.empty());
  CHECK(f.store->report(session->id).error().code == ErrorCode::NotFound);
  CHECK(f.notices.back() == "time is up");  // open terminals hear it
  // A removed session leaves memory at the next tick but stays in the store.
  engine.tick();
  CHECK(engine.view(session->id)->state == SessionState::Removed);
  CHECK(engine.grade_now(session->id).error().code == ErrorCode::Conflict);
  CHECK(engine.remove(session->id)->state == SessionState::Removed);
  CHECK(engine.extend("nosuch", 5min).error().code == ErrorCode::NotFound);
}

TEST_CASE("The clock cannot be stopped: access ends at the deadline and at end() while a check hangs") {
  Fixture f;
  // The flag lab with one check, which times out after 1 s.
  std::string text = kEngineScenario;
  text.replace(text.find("weight: 3,"), 10, "timeout: 1s,");
  text.erase(text.find("  - {name: data intact"), text.find("solution:") - text.find("  - {name: data intact"));
  ScenarioLoad load = parse_scenario(text, "scenario.yaml", "/nonexistent");
  REQUIRE(load.scenario);
  f.scenario = load.scenario;
  ThreadPoster poster;
  EngineOptions options{.retention = 10min, .progress_interval = 2min, .lab = {}, .report_dir = {}, .recordings_dir = {},
                        .post = [&](WorkFn work) { poster.post(std::move(work)); }, .max_live_sessions = 0, .log_error = {}, .max_disk_bytes = 0, .disk_check_interval = {}};
  SessionEngine engine(f.runtime, *f.store, f.clock, [&](const std::string&) { return f.scenario; }, options,
                       [&](const std::string&, const std::string& notice) { f.notices.push_back(notice); });
  auto session = engine.start({"flag", "Ada", 1, std::nullopt, {}, "", {}});
  REQUIRE(session.ok());
  poster.join();
  REQUIRE(engine.view(session->id)->state == SessionState::Ready);
  CHECK(engine.access(session->id)->open);

  // The candidate makes whatever the check calls hang (the check's 1 s timeout kills it).
  std::atomic<int> hanging{0};
  f.runtime.exec_handler = [&](const ExecSpec&, const std::string& script) {
    if (script == "echo check-flag") {
      ++hanging;
      return FakeExecReply{0, "", "", std::chrono::hours(1)};
    }
    return FakeExecReply{};
  };
  f.clock.advance(2min);
  engine.tick();  // a progress run starts, and hangs
  for (int i = 0; i < 200 && hanging.load() == 0; ++i) std::this_thread::sleep_for(5ms);
  REQUIRE(engine.busy_sessions() == 1);
  f.clock.advance(29min);  // past the deadline while the session is busy
  engine.tick();
  CHECK_FALSE(engine.access(session->id)->open);  // logins and new commands refused at once
  CHECK(f.notices.back() == "time is up");        // open terminals closed at once
  CHECK(engine.extend(session->id, 10min).error().code == ErrorCode::Conflict);  // no reopening
  CHECK(engine.view(session->id)->state == SessionState::Ready);  // the grading follows the hung run...

  // ...and end() waits for that run (bounded by its timeout), never answering busy.
  const auto started = std::chrono::steady_clock::now();
  auto ended = engine.end(session->id);
  REQUIRE(ended.ok());
  CHECK(ended->state == SessionState::Grading);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
  poster.join();
  CHECK(engine.view(session->id)->state == SessionState::Graded);
  CHECK(engine.view(session->id)->score == 0);
  CHECK(std::count(f.notices.begin(), f.notices.end(), "time is up") == 1);
}

namespace {

// One session from start to removal with failures armed by the caller, and what must
// hold however it failed: it ends removed, nothing of its lab is left, no work is
// pending and the store agrees with the engine. Returns false if start() refused it.
bool survives(Fixture& f, int* store_calls = nullptr, int* runtime_calls = nullptr) {
  SessionEngine engine = f.engine();
  auto session = engine.start({"flag", "Ada", 42, 5min, {}, "", {}});
  if (!session) {
    CHECK(f.runtime.containers.empty());
    return false;
  }
  // A tick a minute: these runs are many (one per call of the store or the runtime),
  // and every backoff is a multiple of 30 s.
  f.run_for(engine, 2min, 1min);
  f.flag = true;  // the candidate fixes it
  // The deadline, 10 minutes of retention and time for the retries of a 3-minute outage
  // (grading: 30 s, 1, 2 min; removal: the same, then 4).
  f.run_for(engine, 3min + 10min + 12min, 1min);
  if (store_calls) *store_calls = f.flaky->calls();
  if (runtime_calls) *runtime_calls = static_cast<int>(f.runtime.calls.size());
  // What follows reads; the failures were for the run.
  f.flaky->fail = nullptr;
  f.runtime.fail_call = nullptr;
  auto view = engine.view(session->id);
  REQUIRE(view.ok());
  CHECK(view->state == SessionState::Removed);
  CHECK(f.store->get_session(session->id)->record.state == SessionState::Removed);
  CHECK(f.runtime.containers.empty());
  CHECK(f.runtime.image_labels.empty());
  CHECK(engine.busy_sessions() == 0);
  return true;
}

int calls_in_a_clean_run(bool count_store) {
  Fixture f(":memory:");
  int store_calls = 0, runtime_calls = 0;
  CHECK(survives(f, &store_calls, &runtime_calls));
  return count_store ? store_calls : runtime_calls;
}

}  // namespace

TEST_CASE("A store that fails at any one call, or for three minutes from any call, loses no session") {
  const int calls = calls_in_a_clean_run(true);
  REQUIRE(calls > 20);
  for (int outage : {0, 3}) {
    for (int at = 1; at <= calls; ++at) {
      CAPTURE(at);
      CAPTURE(outage);
      Fixture f(":memory:");
      std::optional<WallTime> down_since;
      f.flaky->fail = [&](const std::string&, int call) {
        if (call == at) down_since = f.clock.now();
        return call == at || (down_since && f.clock.now() < *down_since + std::chrono::minutes(outage));
      };
      const bool started = survives(f);
      CHECK((started || at == 1));  // only a refused create_session stops it at the door
    }
  }
}

TEST_CASE("A runtime that fails or throws at any one call, or is down for three minutes, loses no session") {
  const int calls = calls_in_a_clean_run(false);
  REQUIRE(calls > 10);
  enum class Mode { FailOnce, ThrowOnce, DownThreeMinutes };
  for (Mode mode : {Mode::FailOnce, Mode::ThrowOnce, Mode::DownThreeMinutes}) {
    for (int at = 1; at <= calls; ++at) {
      CAPTURE(at);
      CAPTURE(static_cast<int>(mode));
      Fixture f(":memory:");
      int call = 0;
      std::optional<WallTime> down_since;
      f.runtime.fail_call = [&](const std::string& name) -> std::optional<Error> {
        if (++call == at) down_since = f.clock.now();
        const bool failing = call == at || (mode == Mode::DownThreeMinutes && down_since && f.clock.now() < *down_since + 3min);
        if (!failing) return std::nullopt;
        if (mode == Mode::ThrowOnce) throw std::runtime_error("injected throw in " + name);
        return make_error(ErrorCode::Unavailable, "injected runtime failure in " + name);
      };
      CHECK(survives(f));
    }
  }
}

TEST_CASE("Nothing acts on a record the store refused: access opens only once 'ready' is saved") {
  Fixture f;
  std::atomic<bool> refuse{true};
  f.flaky->fail = [&](const std::string& method, int) { return refuse && method == "update_session"; };
  SessionEngine engine = f.engine();
  auto session = engine.start({"flag", "Ada", 42, std::nullopt, {}, "", {}});
  REQUIRE(session.ok());
  // Provisioned, but 'injecting' could not be saved: no fault goes in, nobody gets in.
  CHECK(session->state == SessionState::Provisioning);
  CHECK(f.flag);
  CHECK_FALSE(engine.access(session->id)->open);
  CHECK(f.store->get_session(session->id)->record.state == SessionState::Provisioning);
  f.run_for(engine, 2min);  // the store still refuses: the saves back off, nothing moves
  CHECK(f.flag);
  CHECK(engine.view(session->id)->state == SessionState::Provisioning);

  refuse = false;
  f.run_for(engine, 5min);
  CHECK(engine.view(session->id)->state == SessionState::Ready);
  CHECK_FALSE(f.flag);
  CHECK(engine.access(session->id)->open);
  CHECK(f.store->get_session(session->id)->record.state == SessionState::Ready);
  bool told = false;
  auto events = f.store->events(session->id);
  REQUIRE(events.ok());
  for (const SessionEvent& event : *events) {
    told = told || (event.kind == "error" && event.detail.find("saved now") != std::string::npos);
  }
  CHECK(told);

  // So is an extension: the new deadline is saved, and shown, once the store is back.
  const WallTime deadline = engine.view(session->id)->deadline;
  refuse = true;
  auto extended = engine.extend(session->id, 10min);
  REQUIRE_FALSE(extended.ok());
  CHECK(extended.error().code == ErrorCode::Unavailable);
  CHECK(engine.view(session->id)->deadline == deadline);
  refuse = false;
  f.run_for(engine, 1min);
  CHECK(engine.view(session->id)->deadline == deadline + 10min);
  CHECK(f.store->get_session(session->id)->record.deadline == deadline + 10min);

  // An end the store refuses is an error to the interviewer; the grading waits for the save.
  refuse = true;
  auto ended = engine.end(session->id);
  REQUIRE_FALSE(ended.ok());
  CHECK(ended.error().code == ErrorCode::Unavailable);
  CHECK_FALSE(f.store->report(session->id).ok());
  refuse = false;
  f.run_for(engine, 2min);
  CHECK(engine.view(session->id)->state == SessionState::Graded);
  CHECK(f.store->report(session->id).ok());
}

TEST_CASE("A final grading whose report cannot be stored is tried again, and graded when the store is back") {
  Fixture f;
  std::atomic<int> refused{0};
  f.flaky->fail = [&](const std::string& method, int) { return method == "put_report" && refused++ < 2; };
  SessionEngine engine = f.engine();
  auto session = engine.start({"flag", "Ada", 42, std::nullopt, {}, "", {}});
  REQUIRE(session.ok());
  REQUIRE(engine.end(session->id).ok());
  CHECK(engine.view(session->id)->state == SessionState::Grading);  // not stuck: a retry is due
  CHECK(f.store->get_session(session->id)->record.failed_attempts == 1);
  f.run_for(engine, 2min);
  CHECK(engine.view(session->id)->state == SessionState::Graded);
  CHECK(refused.load() == 3);
  CHECK(f.store->get_session(session->id)->record.failed_attempts == 0);
}

TEST_CASE("The disk watchdog ends a session whose host fills its disk, and grades it") {
  Fixture f;
  f.max_disk_bytes = 100 * 1024 * 1024;
  SessionEngine engine = f.engine();
  auto session = engine.start({"flag", "Ada", 42, std::nullopt, {}, "", {}});
  REQUIRE(session.ok());
  REQUIRE(session->state == SessionState::Ready);
  const std::string container = f.runtime.containers.begin()->first;
  f.runtime.layer_bytes[container] = 90 * 1024 * 1024;  // under the limit: nothing happens
  f.run_for(engine, 2min);
  CHECK(engine.view(session->id)->state == SessionState::Ready);
  f.runtime.layer_bytes[container] = 200 * 1024 * 1024;  // `fallocate -l 200M /var/big`
  f.run_for(engine, 1min);
  CHECK(engine.view(session->id)->state == SessionState::Graded);
  CHECK_FALSE(engine.access(session->id)->open);
  CHECK(std::find(f.notices.begin(), f.notices.end(), "time is up") != f.notices.end());
  std::string said;
  auto events = f.store->events(session->id);
  REQUIRE(events.ok());
  for (const SessionEvent& event : *events) {
    if (event.kind == "disk") said = event.detail;
  }
  CHECK(said == "host main wrote 200 MiB to its disk, over the limit of 100 MiB (sessions.max_disk_mib); the session ends now");
  CHECK(f.store->report(session->id).ok());
}

TEST_CASE("A session whose host is lost fails and says why, while another session goes on") {
  Fixture f;
  SessionEngine engine = f.engine();
  auto ada = engine.start({"flag", "Ada", 1, std::nullopt, {}, "", {}});
  auto bob = engine.start({"flag", "Bob", 2, std::nullopt, {}, "", {}});
  auto eve = engine.start({"flag", "Eve", 3, std::nullopt, {}, "", {}});
  REQUIRE(ada.ok());
  REQUIRE(bob.ok());
  REQUIRE(eve.ok());
  auto host_of = [&](const std::string& session) {
    for (const auto& [id, container] : f.runtime.containers) {
      if (container.labels.at(kLabelSession) == session) return id;
    }
    FAIL("no host for " << session);
    return std::string();
  };
  // Ada's LXD cluster member goes away: the backend says so when asked about her host.
  ContainerInfo& lost = f.runtime.containers[host_of(ada->id)];
  lost.state = ContainerState::Dead;
  lost.lost = "its LXD cluster member m2 is offline (No heartbeat for 21s)";
  // Eve's host is removed behind breakfix's back.
  f.runtime.containers.erase(host_of(eve->id));
  // One look finds them so: a missed heartbeat fails nobody yet.
  f.run_for(engine, 30s);
  CHECK(engine.view(ada->id)->state == SessionState::Ready);
  CHECK(engine.view(eve->id)->state == SessionState::Ready);
  // The next look, an interval later, finds them so again.
  f.run_for(engine, 30s);
  auto ada_now = engine.view(ada->id);
  REQUIRE(ada_now.ok());
  CHECK((ada_now->state == SessionState::Failed || ada_now->state == SessionState::Removed));
  CHECK(ada_now->failure == "host main is lost: its LXD cluster member m2 is offline (No heartbeat for 21s)");
  auto ada_access = engine.access(ada->id);
  CHECK((!ada_access.ok() || !ada_access->open));
  auto eve_now = engine.view(eve->id);
  REQUIRE(eve_now.ok());
  CHECK(eve_now->failure.find("host main is gone: it was removed outside breakfix") == 0);
  // Bob's lab is fine: he goes on, and is graded as usual.
  CHECK(engine.view(bob->id)->state == SessionState::Ready);
  CHECK(engine.access(bob->id)->open);
  REQUIRE(engine.end(bob->id).ok());
  CHECK(engine.view(bob->id)->state == SessionState::Graded);
  auto events = f.store->events(ada->id);
  REQUIRE(events.ok());
  CHECK(std::any_of(events->begin(), events->end(), [](const SessionEvent& event) { return event.kind == "lost"; }));
}

TEST_CASE("A damaged row in the store is logged and skipped: every other session is resumed") {
  Fixture f;
  std::string damaged_id, good_id;
  {
    SessionEngine first = f.engine();
    damaged_id = first.start({"flag", "Ada", 1, std::nullopt, {}, "", {}})->id;
    good_id = first.start({"flag", "Bob", 2, std::nullopt, {}, "", {}})->id;
  }
  f.flaky->damaged = {damaged_id};
  SessionEngine restarted = f.engine();
  auto recovered = restarted.recover();
  REQUIRE(recovered.ok());
  CHECK(*recovered == 1);
  CHECK(restarted.view(good_id)->state == SessionState::Ready);
  CHECK(restarted.access(good_id)->open);
  REQUIRE(f.errors.size() == 1);
  CHECK(f.errors[0].find("not resumed: session " + damaged_id) == 0);
  auto listed = restarted.list();
  REQUIRE(listed.ok());
  CHECK(listed->size() == 1);
}

TEST_CASE("Hints reach the terminals when given and at their time, survive a restart and cost their score") {
  Fixture f("breakfix.db", R"(hints:
  - {after: 10m, text: Look at the flag., cost: 0.1}
  - {text: The fault is in echo., cost: 0.25}
  - {text: Run the solution.}
)");
  std::string id;
  {
    SessionEngine engine = f.engine();
    auto session = engine.start({"flag", "Ada", 42, std::nullopt, {}, "", {}});
    REQUIRE(session.ok());
    id = session->id;
    CHECK(session->hints_total == 3);
    // The interviewer gives the next one: the first not given, which is the timed one.
    auto given = engine.give_hint(id, std::nullopt);
    REQUIRE(given.ok());
    CHECK(given->number == 1);
    CHECK(given->of == 3);
    CHECK(f.notices.back() == "hint 1 of 3: Look at the flag.");
    CHECK(engine.give_hint(id, 1).error().code == ErrorCode::Conflict);  // given already
    CHECK(engine.give_hint(id, 4).error().code == ErrorCode::NotFound);
    // At 10 minutes the timed hint is not given a second time.
    f.run_for(engine, 11min);
    CHECK(std::count_if(f.notices.begin(), f.notices.end(), [](const std::string& n) { return n.rfind("hint", 0) == 0; }) == 1);
    REQUIRE(engine.give_hint(id, 2).ok());
    CHECK(engine.view(id)->hints_given == 2);
  }
  // A restart: the store knows which hints were given.
  SessionEngine engine = f.engine();
  REQUIRE(engine.recover().ok());
  CHECK(engine.view(id)->hints_given == 2);
  auto third = engine.give_hint(id, std::nullopt);
  REQUIRE(third.ok());
  CHECK(third->number == 3);
  CHECK(engine.give_hint(id, std::nullopt).error().message == "all 3 hints were given");
  f.flag = true;  // the candidate fixes it
  REQUIRE(engine.end(id).ok());
  CHECK(engine.give_hint(id, std::nullopt).error().code == ErrorCode::Conflict);
  auto report = f.store->report(id);
  REQUIRE(report.ok());
  const auto report_json = nlohmann::json::parse(report->first);
  // Repaired in full, less the hints' 0.1 + 0.25.
  CHECK(report_json["grade"]["hint_cost"].get<double>() == doctest::Approx(0.35));
  CHECK(report_json["grade"]["earned"].get<double>() == doctest::Approx(1.0));
  CHECK(report_json["score"].get<double>() == doctest::Approx(0.65));
  int hint_events = 0;
  for (const auto& event : report_json["events"]) hint_events += event["kind"] == "hint";
  CHECK(hint_events == 3);
  CHECK(report->second.find("hint: 2 of 3 (costs 25% of the score): The fault is in echo.") != std::string::npos);
  CHECK(report->second.find("hints taken cost 35%") != std::string::npos);
}

TEST_CASE("A session runs the variant its seed picks, and its view and report name it") {
  Fixture f("breakfix.db", R"(variants:
  - {name: low, faults: [{name: lower the flag, run: "echo fault"}]}
  - {name: also-low, faults: [{name: lower the flag too, run: "echo fault"}]}
)");
  SessionEngine engine = f.engine();
  auto session = engine.start({"flag", "Ada", 42, std::nullopt, {}, "", {}});
  REQUIRE(session.ok());
  const std::string expected = f.scenario->variants[pick_variant(*f.scenario, 42)].name;
  CHECK(session->variant == expected);
  f.flag = true;
  REQUIRE(engine.end(session->id).ok());
  auto report = f.store->report(session->id);
  REQUIRE(report.ok());
  CHECK(nlohmann::json::parse(report->first)["scenario"]["variant"] == expected);
  CHECK(report->second.find("`, variant `" + expected + "`, seed 42)") != std::string::npos);
  // After a restart the session is the same variant (from the stored seed).
  SessionEngine again = f.engine();
  REQUIRE(again.recover().ok());
  CHECK(again.view(session->id)->variant == expected);
}

TEST_CASE("What unchanged: paths held after the faults is kept with the record and reaches their guard after a restart") {
  Fixture f("breakfix.db", "unchanged: [/srv/data]\n");
  const Host& host = f.scenario->hosts[0];
  f.runtime.exec_handler = [&f, &host](const ExecSpec&, const std::string& script) -> FakeExecReply {
    if (script == unchanged_listing_command(host)) return {0, "abcd  /srv/data/a\n", ""};
    if (script == "echo fault") f.flag = false;
    if (script == "echo check-flag") return {f.flag ? 0 : 1, "", ""};
    return {0, "", ""};
  };
  std::string id;
  {
    SessionEngine engine = f.engine();
    auto session = engine.start({"flag", "Ada", 42, std::nullopt, {}, "", {}});
    REQUIRE(session.ok());
    REQUIRE(session->state == SessionState::Ready);
    id = session->id;
  }
  CHECK(f.store->get_session(id)->record.unchanged ==
        std::map<std::string, std::string>{{"BREAKFIX_UNCHANGED_MAIN", "abcd  /srv/data/a"}});
  SessionEngine engine = f.engine();
  REQUIRE(engine.recover().ok());
  f.flag = true;
  REQUIRE(engine.end(id).ok());
  int guard_runs = 0;
  for (const auto& exec : f.runtime.execs) {
    if (exec.input != unchanged_check_script(host)) continue;
    ++guard_runs;
    CHECK(exec.vars.find("BREAKFIX_UNCHANGED_MAIN='abcd  /srv/data/a'\n") != std::string::npos);
  }
  CHECK(guard_runs == 2);  // the precheck, and the grading after the restart
}

TEST_CASE("Notes and rubric ratings join the timeline, reach a report written already, and never change the score") {
  Fixture f("breakfix.db", R"(rubric:
  - name: method
    description: How the candidate went about it.
    levels: [Guessed, Followed the symptoms, Formed and tested hypotheses]
  - {name: communication, levels: [Silent, Clear]}
)");
  SessionEngine engine = f.engine();
  auto session = engine.start({"flag", "Ada", 42, std::nullopt, {}, "", {}});
  REQUIRE(session.ok());
  const std::string id = session->id;
  f.clock.advance(3min);
  auto first = engine.add_note(id, "Read the log first.\nThen the config.");
  REQUIRE(first.ok());
  CHECK(first->kind == "note");
  CHECK(engine.add_note(id, "  \n").error().message == "text: is empty");
  CHECK(engine.add_note(id, std::string(5000, 'x')).error().code == ErrorCode::Invalid);
  CHECK(engine.add_note("nosuchsession", "x").error().code == ErrorCode::NotFound);
  auto rated = engine.rate(id, "method", 2);
  REQUIRE(rated.ok());
  CHECK(rated->of == 3);
  CHECK(rated->meaning == "Followed the symptoms");
  CHECK(engine.rate(id, "method", 4).error().message == "level: method is rated from 1 to 3, not 4");
  CHECK(engine.rate(id, "speed", 1).error().message ==
        "criterion: 'speed' is not in the rubric of scenario flag (method, communication)");
  f.flag = true;  // the candidate fixes it
  REQUIRE(engine.end(id).ok());
  auto report = f.store->report(id);
  REQUIRE(report.ok());
  auto document = nlohmann::json::parse(report->first);
  CHECK(document["score"].get<double>() == doctest::Approx(1.0));
  CHECK(document["notes"].size() == 1);
  CHECK(document["rubric"][0]["rating"]["level"] == 2);
  CHECK(document["rubric"][1]["rating"].is_null());
  CHECK(report->second.find("| method | 2 of 3 | Followed the symptoms |") != std::string::npos);
  CHECK(report->second.find("| communication | not rated | - |") != std::string::npos);
  CHECK(report->second.find("- 3:00 note: Read the log first. Then the config.") != std::string::npos);

  // After grading: the latest rating counts, and the report is written again with it
  // and a new note, in the store and in report_dir; the score stays the checks'.
  f.clock.advance(20min);
  REQUIRE(engine.rate(id, "method", 3).ok());
  REQUIRE(engine.rate(id, "communication", 2).ok());
  REQUIRE(engine.add_note(id, "Explained each step clearly.").ok());
  report = f.store->report(id);
  REQUIRE(report.ok());
  document = nlohmann::json::parse(report->first);
  CHECK(document["score"].get<double>() == doctest::Approx(1.0));
  CHECK(document["rubric"][0]["rating"]["level"] == 3);
  CHECK(document["rubric"][1]["rating"]["meaning"] == "Clear");
  CHECK(document["notes"].size() == 2);
  CHECK(report->second.find("| method | 3 of 3 | Formed and tested hypotheses |") != std::string::npos);
  CHECK(report->second.find("note: Explained each step clearly.") != std::string::npos);
  std::ifstream file(f.dir.path() / "reports" / (id + ".md"));
  const std::string written((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  CHECK(written == report->second);

  // A removed session still takes them (interviewers write up afterwards), from the store.
  f.run_for(engine, 15min);
  REQUIRE(engine.view(id)->state == SessionState::Removed);
  REQUIRE(engine.add_note(id, "Would hire.").ok());
  CHECK(f.store->report(id)->second.find("note: Would hire.") != std::string::npos);
}

TEST_CASE("A session keeps at most kMaxNotesPerSession notes") {
  Fixture f(":memory:");
  SessionEngine engine = f.engine();
  auto session = engine.start({"flag", "Ada", 42, std::nullopt, {}, "", {}});
  REQUIRE(session.ok());
  for (std::size_t i = 0; i < kMaxNotesPerSession; ++i) REQUIRE(engine.add_note(session->id, "n").ok());
  CHECK(engine.add_note(session->id, "one too many").error().code == ErrorCode::Conflict);
}

namespace {

// The flag lab as a ticket: the check stands for one on the reply.
ScenarioPtr customer_scenario() {
  ScenarioLoad load = parse_scenario(R"(apiVersion: breakfix/v1
id: flag
title: A customer asks about the flag
kind: customer
description: d
image: breakfix/base:bookworm
reply: {path: /root/reply.md}
checks:
  - {name: the reply names the flag, run: "echo check-flag"}
solution: [{run: "echo solution"}]
rubric:
  - {name: empathy, levels: [Curt, Warm]}
)", "scenario.yaml", "/nonexistent");
  REQUIRE(load.scenario);
  return load.scenario;
}

}  // namespace

TEST_CASE("A customer scenario's reply is read through the engine into the report, and stays there when it is rebuilt") {
  Fixture f;
  f.scenario = customer_scenario();
  f.flag = false;  // no reply yet: the check fails, as a fix check must before the work
  SessionEngine engine = f.engine();
  auto session = engine.start({"flag", "Ada", 42, std::nullopt, {}, "", {}});
  REQUIRE(session.ok());
  REQUIRE(session->state == SessionState::Ready);
  const std::string reply = "Hello,\n\nthe flag was down because ```of a typo```.\n";
  f.runtime.files.begin()->second["/root/reply.md"] = {FileType::Regular, reply, "", 0644, 0, 0};
  f.flag = true;
  REQUIRE(engine.end(session->id).ok());
  auto report = f.store->report(session->id);
  REQUIRE(report.ok());
  auto document = nlohmann::json::parse(report->first);
  CHECK(document["reply"]["text"] == reply);
  CHECK(document["reply"]["cut"] == false);
  CHECK(report->second.find("## The candidate's reply") != std::string::npos);
  CHECK(report->second.find("````text\n" + reply + "````") != std::string::npos);  // a fence longer than the reply's
  const auto changes = document["changes"];
  // A note after grading builds the report again from the store: the reply and the
  // hosts' changes are what grading read, even with the hosts gone.
  f.runtime.files.begin()->second.erase("/root/reply.md");
  REQUIRE(engine.add_note(session->id, "Kind and precise.").ok());
  report = f.store->report(session->id);
  document = nlohmann::json::parse(report->first);
  CHECK(document["reply"]["text"] == reply);
  CHECK(document["changes"] == changes);
  CHECK(document["notes"].size() == 1);
}

TEST_CASE("A customer scenario whose candidate wrote nothing, or only a symlink, says so") {
  Fixture f;
  f.scenario = customer_scenario();
  f.flag = false;
  SessionEngine engine = f.engine();
  auto session = engine.start({"flag", "Ada", 42, std::nullopt, {}, "", {}});
  REQUIRE(session.ok());
  SUBCASE("no file at all") {}
  SUBCASE("a symlink to a file the candidate could not show otherwise is no reply") {
    auto& files = f.runtime.files.begin()->second;
    files["/etc/shadow"] = {FileType::Regular, "root:$y$secret:19000::::::\n", "", 0640, 0, 42};
    files["/root/reply.md"] = {FileType::Symlink, "", "/etc/shadow", 0777, 0, 0};
  }
  REQUIRE(engine.end(session->id).ok());
  auto report = f.store->report(session->id);
  REQUIRE(report.ok());
  const auto reply = nlohmann::json::parse(report->first)["reply"];
  CHECK(reply["text"].is_null());
  if (reply["problem"] == "") {
    CHECK(report->second.find("The candidate wrote no reply (`/root/reply.md` on main does not exist).") != std::string::npos);
  } else {
    CHECK(reply["problem"] == "it is a symlink, not a file");
    CHECK(report->second.find("`/root/reply.md` on main could not be read: it is a symlink, not a file") != std::string::npos);
  }
}

// --- the warm pool (sessions.warm) ------------------------------------------------------

namespace {
SessionRequest start_for(const std::string& candidate) {
  SessionRequest request;
  request.scenario_id = "flag";
  request.candidate = candidate;
  request.public_keys = {"ssh-ed25519 AAAA " + candidate};
  return request;
}

// A daemon fills a pool of one and dies: the warm lab's id.
std::string warm_lab_of_a_daemon_that_died(Fixture& f) {
  SessionEngine first = f.engine();
  WarmPool pool(first, f.clock, {{"flag", 1}});
  pool.refill();
  return first.list()->at(0).id;
}
}  // namespace

TEST_CASE("The warm pool fills, a start claims a warm lab at once, as one candidate's only, the pool refills") {
  Fixture f;
  SessionEngine engine = f.engine();
  WarmPool pool(engine, f.clock, {{"flag", 2}});
  pool.refill();
  auto counts = engine.pooled_counts();
  CHECK(counts["flag"].pooled == 2);
  CHECK(counts["flag"].warm == 2);
  auto listed = engine.list();
  REQUIRE(listed->size() == 2);
  const std::string older = listed->at(0).id;
  for (const SessionView& view : *listed) {
    CHECK(view.state == SessionState::Warm);
    CHECK(view.pooled);
    CHECK(view.candidate.empty());
    CHECK(view.time_left == 0s);
    CHECK_FALSE(engine.access(view.id)->open);  // nobody logs in to a warm lab
  }
  CHECK_FALSE(f.flag);  // the faults are in, the precheck passed
  // Paused while warm: nothing in them runs to change what their baseline saw.
  for (const auto& [id, container] : f.runtime.containers) {
    if (!container.labels.count("breakfix.snapshot-of")) CHECK(container.state == ContainerState::Paused);
  }
  // Warm labs have no clock: hours later they still wait, whole.
  f.run_for(engine, 3h, 5min);
  CHECK(engine.view(older)->state == SessionState::Warm);

  const std::size_t containers = f.runtime.containers.size();
  f.clock.advance(1s);
  auto ada = engine.start(start_for("Ada"));
  REQUIRE(ada.ok());
  CHECK(ada->id == older);  // the oldest first
  CHECK(ada->state == SessionState::Ready);
  CHECK(ada->candidate == "Ada");
  CHECK_FALSE(ada->pooled);
  CHECK(ada->time_left == 30min);  // the clock starts at the claim
  CHECK(ada->ready_at == f.clock.now());
  CHECK(f.runtime.containers.size() == containers);  // nothing was provisioned for it
  for (const auto& [id, container] : f.runtime.containers) {
    if (container.labels.at(kLabelSession) == ada->id && !container.labels.count("breakfix.snapshot-of")) {
      CHECK(container.state == ContainerState::Running);  // resumed for Ada
    }
  }
  auto access = engine.access(ada->id);
  CHECK(access->open);
  CHECK(access->public_keys == std::vector<std::string>{"ssh-ed25519 AAAA Ada"});
  // Kept whole in the store: a restart finds Ada's session, not a warm lab.
  auto stored = f.store->get_session(ada->id);
  CHECK(stored->candidate == "Ada");
  CHECK(stored->access.public_keys.size() == 1);
  CHECK(stored->record.state == SessionState::Ready);
  CHECK_FALSE(stored->record.policy.pooled);
  auto events = f.store->events(ada->id);
  REQUIRE(events.ok());
  const std::vector<SessionEvent> timeline = *events;
  CHECK(std::any_of(timeline.begin(), timeline.end(), [](const SessionEvent& event) { return event.kind == "claim"; }));

  CHECK(engine.pooled_counts()["flag"].pooled == 1);
  pool.refill();
  CHECK(engine.pooled_counts()["flag"].warm == 2);
  // Bob gets another lab, never Ada's.
  auto bob = engine.start(start_for("Bob"));
  REQUIRE(bob.ok());
  CHECK(bob->id != ada->id);
  CHECK(bob->state == SessionState::Ready);
  // A start that pins the seed is provisioned for itself: a warm lab was made without it.
  SessionRequest seeded = start_for("Cy");
  seeded.seed = 5;
  auto cy = engine.start(seeded);
  REQUIRE(cy.ok());
  CHECK(cy->seed == 5);
  CHECK(engine.pooled_counts()["flag"].warm == 1);

  // Ada's session runs its course like any other, and is never warm again.
  f.flag = true;
  f.run_for(engine, 31min);
  CHECK(engine.view(ada->id)->state == SessionState::Graded);
  CHECK(nlohmann::json::parse(f.store->report(ada->id)->first)["candidate"] == "Ada");
  f.run_for(engine, 11min);
  CHECK(engine.view(ada->id)->state == SessionState::Removed);
}

TEST_CASE("Warm labs outlive a restart and are claimed after it") {
  Fixture f;
  const std::string id = warm_lab_of_a_daemon_that_died(f);
  f.clock.advance(10min);
  SessionEngine second = f.engine();
  REQUIRE(second.recover().ok());
  CHECK(second.view(id)->state == SessionState::Warm);
  WarmPool pool(second, f.clock, {{"flag", 1}});
  pool.refill();
  CHECK(second.list()->size() == 1);  // the recovered lab counts: none is made twice
  auto ada = second.start(start_for("Ada"));
  REQUIRE(ada.ok());
  CHECK(ada->id == id);
  CHECK(ada->state == SessionState::Ready);
}

TEST_CASE("A warm lab whose hosts went while the daemon was down is never claimed") {
  Fixture f;
  const std::string id = warm_lab_of_a_daemon_that_died(f);
  f.runtime.containers.clear();  // `breakfix gc` while the daemon was down
  SessionEngine second = f.engine();
  REQUIRE(second.recover().ok());
  CHECK(second.view(id)->state != SessionState::Warm);
  auto ada = second.start(start_for("Ada"));
  REQUIRE(ada.ok());
  CHECK(ada->id != id);  // a lab of its own, provisioned
}

TEST_CASE("A pooled lab that fails is made again after a backoff, and the pool's status says why") {
  Fixture f;
  f.fault_bites = false;  // the precheck finds the flag up: the lab fails before it is warm
  SessionEngine engine = f.engine();
  WarmPool pool(engine, f.clock, {{"flag", 3}});
  pool.refill();  // three made (inline here), and all three fail
  pool.refill();  // sees the failures: no more for now
  CHECK(engine.list()->size() == 3);
  auto status = pool.status();
  REQUIRE(status.size() == 1);
  CHECK(status[0].failures == 3);
  CAPTURE(status[0].last_error);
  CHECK(status[0].last_error.find("did not") != std::string::npos);
  CHECK(status[0].warm == 0);
  f.clock.advance(60s);
  pool.refill();
  CHECK(engine.list()->size() == 3);  // still in backoff (2 minutes after the third failure)
  f.fault_bites = true;
  f.clock.advance(61s);
  pool.refill();  // one, to see whether the scenario provisions again
  CHECK(engine.list()->size() == 4);
  CHECK(engine.pooled_counts()["flag"].warm == 1);
  pool.refill();
  CHECK(engine.pooled_counts()["flag"].warm == 3);
  CHECK(pool.status()[0].failures == 0);
}

TEST_CASE("Pooled labs count against the limit, and a start that needs room takes the oldest warm lab's place") {
  Fixture f;
  f.max_live = 2;
  SessionEngine engine = f.engine();
  WarmPool pool(engine, f.clock, {{"flag", 3}});
  pool.refill();
  CHECK(engine.pooled_counts()["flag"].warm == 2);  // the limit, not the target
  CHECK(pool.status()[0].last_error.find("limit") != std::string::npos);
  const std::string oldest = engine.list()->at(0).id;
  // A start the pool cannot serve (a pinned seed) needs a place: the oldest warm lab goes.
  SessionRequest seeded = start_for("Ada");
  seeded.seed = 9;
  auto ada = engine.start(seeded);
  REQUIRE_MESSAGE(ada.ok(), ada.error().message);
  CHECK(ada->state == SessionState::Ready);
  CHECK(engine.view(oldest)->state != SessionState::Warm);
  CHECK(engine.view(oldest)->failure.find("warm lab removed") != std::string::npos);
  CHECK(engine.pooled_counts()["flag"].warm == 1);
}

TEST_CASE("A claim the store refuses leaves the lab warm for the next start") {
  Fixture f;
  SessionEngine engine = f.engine();
  WarmPool pool(engine, f.clock, {{"flag", 1}});
  pool.refill();
  const std::string id = engine.list()->at(0).id;
  f.flaky->fail = [](const std::string& method, int) { return method == "claim_session"; };
  auto refused = engine.start(start_for("Ada"));
  CHECK_FALSE(refused.ok());
  CHECK(engine.view(id)->state == SessionState::Warm);
  CHECK(f.store->get_session(id)->candidate.empty());
  f.flaky->fail = nullptr;
  auto ada = engine.start(start_for("Ada"));
  REQUIRE(ada.ok());
  CHECK(ada->id == id);
}

TEST_CASE("A warm lab made from an older text of its scenario is never handed out, before or after a restart") {
  Fixture f;
  SessionEngine engine = f.engine();
  WarmPool pool(engine, f.clock, {{"flag", 1}});
  pool.refill();
  const std::string old_lab = engine.list()->at(0).id;
  // The author fixes the scenario and the library is reloaded.
  ScenarioLoad load = parse_scenario(std::string(kEngineScenario) + "tags: [fixed]\n", "scenario.yaml", "/nonexistent");
  REQUIRE(load.scenario);
  CHECK(load.scenario->digest != f.scenario->digest);
  f.scenario = load.scenario;
  auto ada = engine.start(start_for("Ada"));
  REQUIRE(ada.ok());
  CHECK(ada->id != old_lab);  // provisioned from the new text
  CHECK(engine.view(old_lab)->failure == kWarmLabStale);
  pool.refill();
  CHECK(engine.pooled_counts()["flag"].warm == 1);
  CHECK(pool.status()[0].failures == 0);  // a stale lab is no failure of the scenario
}
