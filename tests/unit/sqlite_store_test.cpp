#include <doctest/doctest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "breakfix/store.h"
#include "temp_dir.h"

using namespace breakfix;
using namespace std::chrono_literals;

namespace {

StoredSession session(const std::string& id, SessionState state, WallTime created) {
  SessionRecord record;
  record.state = state;
  record.created = created;
  return {id, "web-502", "Ada", 18446744073709551615ULL, {{"PORT", "9000"}}, record, {}, created, created};
}

// Runs `sql` on the store's file behind its back, as damage or an older breakfix would.
void poke(const std::filesystem::path& file, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
}

std::unique_ptr<Store> open(const std::filesystem::path& file) {
  auto store = make_sqlite_store(file);
  REQUIRE_MESSAGE(store.ok(), store.error().message);
  return std::move(store.value());
}

}  // namespace

TEST_CASE("Sessions are created, read, updated and listed by state") {
  breakfix::testing::TempDir dir;
  auto store = open(dir.path() / "breakfix.db");
  const WallTime t0 = WallTime(1'700'000'000'000ms);
  REQUIRE(store->create_session(session("s1", SessionState::Ready, t0)).ok());
  REQUIRE(store->create_session(session("s2", SessionState::Removed, t0 + 1s)).ok());
  REQUIRE(store->create_session(session("s3", SessionState::Grading, t0 + 2s)).ok());
  CHECK(store->create_session(session("s1", SessionState::Ready, t0)).error().code == ErrorCode::Conflict);

  auto s1 = store->get_session("s1");
  REQUIRE(s1.ok());
  CHECK(s1->scenario_id == "web-502");
  CHECK(s1->candidate == "Ada");
  CHECK(s1->seed == 18446744073709551615ULL);  // the whole 64 bits survive
  CHECK(s1->vars == VarValues{{"PORT", "9000"}});
  CHECK(s1->record.state == SessionState::Ready);
  CHECK(s1->created == t0);

  SessionRecord grading = s1->record;
  grading.state = SessionState::Grading;
  grading.deadline = t0 + 90min;
  grading.warned_minutes = {15, 5};
  grading.policy.hints = {std::nullopt, 600s};
  grading.hints_given = {1};
  REQUIRE(store->update_session("s1", grading, t0 + 5s).ok());
  CHECK(store->get_session("s1")->record.policy.hints == grading.policy.hints);
  CHECK(store->get_session("s1")->record.hints_given == std::set<int>{1});
  CHECK(store->get_session("s1")->record.state == SessionState::Grading);
  CHECK(store->get_session("s1")->record.deadline == t0 + 90min);
  CHECK(store->get_session("s1")->record.warned_minutes == std::set<int>{5, 15});
  CHECK(store->get_session("s1")->updated == t0 + 5s);
  CHECK(store->update_session("nope", grading, t0).error().code == ErrorCode::NotFound);
  CHECK(store->get_session("nope").error().code == ErrorCode::NotFound);

  auto live = store->list_sessions({SessionState::Removed, SessionState::Failed});
  REQUIRE(live.ok());
  REQUIRE(live->sessions.size() == 2);
  CHECK(live->sessions[0].id == "s1");  // oldest first
  CHECK(live->sessions[1].id == "s3");
}

TEST_CASE("Events, check runs and the report of a session are kept in order") {
  breakfix::testing::TempDir dir;
  auto store = open(dir.path() / "breakfix.db");
  const WallTime t0 = WallTime(1'700'000'000'000ms);
  REQUIRE(store->create_session(session("s1", SessionState::Ready, t0)).ok());
  REQUIRE(store->add_event("s1", {t0 + 2s, "login", "from 127.0.0.1"}).ok());
  REQUIRE(store->add_event("s1", {t0 + 1s, "state", "ready"}).ok());
  auto events = store->events("s1");
  REQUIRE(events->size() == 2);
  CHECK((*events)[0].kind == "state");
  CHECK((*events)[1].detail == "from 127.0.0.1");
  CHECK_FALSE(store->add_event("no-such-session", {t0, "x", ""}).ok());  // foreign key

  REQUIRE(store->add_check_runs("s1", {{t0, "final", "checkout answers 200", true, 0, false, 120ms, ""},
                                       {t0, "final", "data intact", false, 1, true, 30000ms, "timeout\n"}})
              .ok());
  auto runs = store->check_runs("s1");
  REQUIRE(runs->size() == 2);
  CHECK((*runs)[1].check == "data intact");
  CHECK((*runs)[1].timed_out);
  CHECK((*runs)[1].duration == 30000ms);
  CHECK((*runs)[1].output == "timeout\n");

  CHECK(store->report("s1").error().code == ErrorCode::NotFound);
  REQUIRE(store->put_report("s1", R"({"score":0.5})", "# Report\n").ok());
  REQUIRE(store->put_report("s1", R"({"score":0.75})", "# Report v2\n").ok());  // graded again after a restart
  CHECK(store->report("s1")->first == R"({"score":0.75})");
}

TEST_CASE("A committed write survives the process being killed") {
  breakfix::testing::TempDir dir;
  const auto file = dir.path() / "breakfix.db";
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto store = make_sqlite_store(file);
    if (!store.ok() || !(*store)->create_session(session("survivor", SessionState::Ready, WallTime(1000ms))).ok()) _exit(3);
    ::raise(SIGKILL);  // no destructor, no close: as the daemon dies
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  auto store = open(file);
  auto survivor = store->get_session("survivor");
  REQUIRE(survivor.ok());
  CHECK(survivor->record.state == SessionState::Ready);
}

TEST_CASE("The schema is migrated once, and a newer schema is refused") {
  breakfix::testing::TempDir dir;
  const auto file = dir.path() / "breakfix.db";
  { auto store = open(file); }
  { auto store = open(file); }  // again: nothing to do
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &statement, nullptr);
  REQUIRE(sqlite3_step(statement) == SQLITE_ROW);
  CHECK(sqlite3_column_int(statement, 0) == store_schema_version());
  sqlite3_finalize(statement);
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &statement, nullptr);
  REQUIRE(sqlite3_step(statement) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0))) == "wal");
  sqlite3_finalize(statement);
  REQUIRE(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);

  auto newer = make_sqlite_store(file);
  REQUIRE_FALSE(newer.ok());
  CHECK(newer.error().code == ErrorCode::Invalid);
  CHECK(newer.error().message.find("newer than this breakfix knows") != std::string::npos);
}

TEST_CASE("A damaged seed in a stored row reads as 0 instead of throwing") {
  breakfix::testing::TempDir dir;
  const auto file = dir.path() / "breakfix.db";
  {
    auto store = open(file);
    REQUIRE(store->create_session(session("s1", SessionState::Ready, WallTime(1000ms))).ok());
  }
  poke(file, "UPDATE sessions SET seed = 'garbage'");
  auto store = open(file);
  auto read = store->get_session("s1");
  REQUIRE(read.ok());
  CHECK(read->seed == 0);
  CHECK(read->vars == VarValues{{"PORT", "9000"}});
}

TEST_CASE("A session's typed fields survive the store, and a damaged column is an error naming the session and field") {
  breakfix::testing::TempDir dir;
  const auto file = dir.path() / "breakfix.db";
  const WallTime t0 = WallTime(1'700'000'000'000ms);
  StoredSession written = session("s1", SessionState::Failed, t0);
  written.record.failure = "its hosts are gone from the engine";
  written.record.policy.duration = 45min;
  written.record.policy.retention = 0s;
  written.record.policy.warnings = {10min, 2min};
  written.record.ready_at = t0 + 20s;
  written.record.failed_attempts = 2;
  written.record.retry_at = t0 + 90s;
  written.record.last_error = "removing the hosts failed: engine down";
  written.access = {{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0 ada@example"}, "$y$j9T$salt$hash"};
  {
    auto store = open(file);
    REQUIRE(store->create_session(written).ok());
    auto read = store->get_session("s1");
    REQUIRE(read.ok());
    CHECK(read->record.failure == written.record.failure);
    CHECK(read->record.policy.duration == 45min);
    CHECK(read->record.policy.retention == 0s);
    CHECK(read->record.policy.warnings == written.record.policy.warnings);
    CHECK(read->record.ready_at == t0 + 20s);
    CHECK(read->record.failed_attempts == 2);
    CHECK(read->record.retry_at == t0 + 90s);
    CHECK(read->record.last_error == written.record.last_error);
    CHECK(read->access.public_keys == written.access.public_keys);
    CHECK(read->access.password_hash == written.access.password_hash);
  }
  // Rows written before the access column existed read as no logins.
  poke(file, "UPDATE sessions SET access_json = '{}'");
  CHECK(open(file)->get_session("s1")->access.public_keys.empty());

  {
    StoredSession other = session("s2", SessionState::Ready, t0 + 1s);
    REQUIRE(open(file)->create_session(other).ok());
  }
  poke(file, R"(UPDATE sessions SET record_json = '{"state":"ready"}' WHERE id = 's1')");
  auto damaged = open(file)->get_session("s1");
  REQUIRE_FALSE(damaged.ok());
  CHECK(damaged.error().code == ErrorCode::Failed);
  CHECK(damaged.error().message.find("session s1") != std::string::npos);
  CHECK(damaged.error().message.find("record_json.failure") != std::string::npos);
  // One damaged row hides nobody else, and is named rather than silently left out.
  auto listed = open(file)->list_sessions({});
  REQUIRE(listed.ok());
  REQUIRE(listed->sessions.size() == 1);
  CHECK(listed->sessions[0].id == "s2");
  REQUIRE(listed->damaged.size() == 1);
  CHECK(listed->damaged[0].message.find("session s1") != std::string::npos);

  poke(file, R"(UPDATE sessions SET record_json = '[]')");
  CHECK(open(file)->get_session("s1").error().message.find("record_json is not a JSON object") != std::string::npos);
  poke(file, R"(UPDATE sessions SET record_json = '{"state":"asleep"}')");
  CHECK(open(file)->get_session("s1").error().message.find("record_json.state: no such state") != std::string::npos);
  poke(file, R"(UPDATE sessions SET vars_json = '{"PORT": 9000}')");
  CHECK(open(file)->get_session("s1").error().message.find("vars_json.PORT is not a string") != std::string::npos);
}

TEST_CASE("A store that cannot be opened is an error naming the file") {
  auto store = make_sqlite_store("/nonexistent/dir/breakfix.db");
  REQUIRE_FALSE(store.ok());
  CHECK(store.error().code == ErrorCode::Unavailable);
  CHECK(store.error().message.find("/nonexistent/dir/breakfix.db") != std::string::npos);
}

TEST_CASE("A session's baseline survives the store being reopened, and is NotFound until put") {
  breakfix::testing::TempDir dir;
  const auto file = dir.path() / "breakfix.db";
  {
    auto store = open(file);
    REQUIRE(store->create_session(session("s1", SessionState::Ready, WallTime(1000ms))).ok());
    auto none = store->baseline("s1");
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().code == ErrorCode::NotFound);
    REQUIRE(store->put_baseline("s1", R"([{"host":"main"}])").ok());
    REQUIRE(store->put_baseline("s1", R"([{"host":"web"}])").ok());  // replaced whole
  }
  auto store = open(file);
  auto baseline = store->baseline("s1");
  REQUIRE(baseline.ok());
  CHECK(*baseline == R"([{"host":"web"}])");
}

TEST_CASE("A plan's session survives the store, and a damaged one is named and hides no other") {
  breakfix::testing::TempDir dir;
  const auto file = dir.path() / "breakfix.db";
  const WallTime t0 = WallTime(1'700'000'000'000ms);
  StoredPlanSession written;
  written.id = "p1";
  written.plan_id = "interview";
  written.candidate = "Ada";
  written.access = {{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0 ada@example"}, ""};
  written.record.title = "Two labs";
  written.record.seed = 18446744073709551615ULL;  // the largest: kept whole, not as a double
  written.record.parts = {{"first", "s1", "alpha", 20min}, {"second", "", "beta", 10min}};
  written.record.events = {{t0 + 5s, "note", "Reads the logs first.\nThen the config."}};
  written.created = written.updated = t0;
  {
    auto store = open(file);
    REQUIRE(store->create_plan_session(written).ok());
    CHECK(store->create_plan_session(written).error().code == ErrorCode::Conflict);
    written.record.current = 1;
    written.record.parts[1].session_id = "s2";
    REQUIRE(store->update_plan_session("p1", written.record, t0 + 1min).ok());
    CHECK(store->update_plan_session("nope", written.record, t0).error().code == ErrorCode::NotFound);
  }
  auto read = open(file)->get_plan_session("p1");
  REQUIRE(read.ok());
  CHECK(read->plan_id == "interview");
  CHECK(read->access.public_keys == written.access.public_keys);
  CHECK(read->record.current == 1);
  REQUIRE(read->record.parts.size() == 2);
  CHECK(read->record.parts[1].session_id == "s2");
  CHECK(read->record.parts[1].scenario_id == "beta");
  CHECK(read->record.parts[1].budget == 10min);
  CHECK(read->record.seed == 18446744073709551615ULL);
  CHECK(read->record.title == "Two labs");
  REQUIRE(read->record.events.size() == 1);
  CHECK(read->record.events[0].detail == "Reads the logs first.\nThen the config.");
  CHECK(read->record.events[0].time == t0 + 5s);
  CHECK(read->updated == t0 + 1min);

  StoredPlanSession other = written;
  other.id = "p2";
  REQUIRE(open(file)->create_plan_session(other).ok());
  poke(file, R"(UPDATE plan_sessions SET record_json = '{"title":"t","together":false,"seed":"1","current":7,"ended":false,"parts":[{"name":"a","session":"","scenario":"x","budget_s":60}],"events":[]}' WHERE id = 'p1')");
  std::vector<Error> damaged;
  auto listed = open(file)->list_plan_sessions(&damaged);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().id == "p2");
  REQUIRE(damaged.size() == 1);
  CHECK(damaged[0].message.find("plan session p1") != std::string::npos);
  CHECK(damaged[0].message.find("record_json.current") != std::string::npos);
}
