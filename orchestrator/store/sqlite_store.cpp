// The Store on SQLite: one database file in the data dir, WAL journal, full sync (a
// committed write survives the daemon being killed), schema migrations by version.

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <mutex>

#include "breakfix/store.h"
#include "store/record_format.h"

namespace breakfix {
namespace {

// Each entry brings the schema from version i to i + 1. Append only: a released
// migration never changes.
const std::vector<const char*>& migrations() {
  static const std::vector<const char*> steps = {
      R"(CREATE TABLE sessions (
           id TEXT PRIMARY KEY, scenario_id TEXT NOT NULL, candidate TEXT NOT NULL, seed TEXT NOT NULL,
           vars_json TEXT NOT NULL, record_json TEXT NOT NULL, state TEXT NOT NULL,
           created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
         CREATE INDEX sessions_by_state ON sessions(state);
         CREATE TABLE events (
           session_id TEXT NOT NULL REFERENCES sessions(id), time_ms INTEGER NOT NULL,
           kind TEXT NOT NULL, detail TEXT NOT NULL);
         CREATE INDEX events_by_session ON events(session_id, time_ms);
         CREATE TABLE check_runs (
           session_id TEXT NOT NULL REFERENCES sessions(id), time_ms INTEGER NOT NULL, phase TEXT NOT NULL,
           check_name TEXT NOT NULL, passed INTEGER NOT NULL, exit_code INTEGER NOT NULL,
           timed_out INTEGER NOT NULL, duration_ms INTEGER NOT NULL, output TEXT NOT NULL);
         CREATE INDEX check_runs_by_session ON check_runs(session_id, time_ms);
         CREATE TABLE reports (
           session_id TEXT PRIMARY KEY REFERENCES sessions(id), json TEXT NOT NULL, markdown TEXT NOT NULL);)",
      // 2: how the candidate logs in (public keys, the one-time password's hash).
      R"(ALTER TABLE sessions ADD COLUMN access_json TEXT NOT NULL DEFAULT '{}';)",
      // 3: each session's hosts as they were at ready (tamper evidence).
      R"(CREATE TABLE baselines (session_id TEXT PRIMARY KEY REFERENCES sessions(id), json TEXT NOT NULL);)",
      // 4: plans' sessions (several scenario sessions in one interview).
      R"(CREATE TABLE plan_sessions (
           id TEXT PRIMARY KEY, plan_id TEXT NOT NULL, candidate TEXT NOT NULL, access_json TEXT NOT NULL,
           record_json TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);)",
  };
  return steps;
}


// The one place that turns SQLite result codes into Errors.
Error sqlite_error(sqlite3* db, int code, const std::string& what) {
  const std::string message = what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(code));
  switch (code & 0xff) {
    case SQLITE_CONSTRAINT: return make_error(ErrorCode::Conflict, message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY: return make_error(ErrorCode::Unavailable, message);
    case SQLITE_PERM:
    case SQLITE_AUTH: return make_error(ErrorCode::PermissionDenied, message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return make_error(ErrorCode::Failed, message);
    default: return make_error(ErrorCode::Internal, message);
  }
}

// A prepared statement, finalised on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) { code_ = sqlite3_prepare_v2(db, sql, -1, &statement_, nullptr); }
  ~Statement() { sqlite3_finalize(statement_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool prepared() const { return code_ == SQLITE_OK; }
  int code() const { return code_; }
  Statement& bind(int index, const std::string& text) {
    sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int index, std::int64_t value) {
    sqlite3_bind_int64(statement_, index, value);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return code_ = sqlite3_step(statement_); }
  std::string text(int column) const {
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
    return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(statement_, column))) : "";
  }
  std::int64_t integer(int column) const { return sqlite3_column_int64(statement_, column); }

 private:
  sqlite3* db_;
  sqlite3_stmt* statement_ = nullptr;
  int code_ = SQLITE_OK;
};

class SqliteStore : public Store {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override { sqlite3_close_v2(db_); }

  Status execute(const char* sql, const std::string& what) {
    char* message = nullptr;
    const int code = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
    sqlite3_free(message);
    if (code != SQLITE_OK) return sqlite_error(db_, code, what);
    return {};
  }

  Status migrate() {
    Statement version(db_, "PRAGMA user_version");
    if (version.step() != SQLITE_ROW) return sqlite_error(db_, version.code(), "read the schema version");
    const auto current = static_cast<std::size_t>(version.integer(0));
    if (current > migrations().size()) {
      return make_error(ErrorCode::Invalid, "the database's schema is version " + std::to_string(current) +
                                                ", newer than this breakfix knows (" +
                                                std::to_string(migrations().size()) + "): upgrade breakfix");
    }
    for (std::size_t next = current; next < migrations().size(); ++next) {
      // Each step and its version number commit together, or not at all.
      if (Status status = execute("BEGIN IMMEDIATE", "begin migration"); !status) return status;
      Status applied = execute(migrations()[next], "migrate the schema to version " + std::to_string(next + 1));
      if (applied) applied = execute(("PRAGMA user_version = " + std::to_string(next + 1)).c_str(), "set schema version");
      if (!applied) {
        (void)execute("ROLLBACK", "roll back migration");
        return applied;
      }
      if (Status status = execute("COMMIT", "commit migration"); !status) return status;
    }
    return {};
  }

  Status create_session(const StoredSession& session) override {
    std::lock_guard lock(mutex_);
    Statement insert(db_, "INSERT INTO sessions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    insert.bind(1, session.id).bind(2, session.scenario_id).bind(3, session.candidate)
        .bind(4, std::to_string(session.seed)).bind(5, vars_to_json(session.vars)).bind(6, record_to_json(session.record))
        .bind(7, std::string(to_string(session.record.state))).bind(8, unix_ms(session.created))
        .bind(9, unix_ms(session.updated)).bind(10, access_to_json(session.access));
    return done(insert, "create session " + session.id);
  }

  Status update_session(const std::string& id, const SessionRecord& record, WallTime now) override {
    std::lock_guard lock(mutex_);
    Statement update(db_, "UPDATE sessions SET state = ?2, record_json = ?3, updated_ms = ?4 WHERE id = ?1");
    update.bind(1, id).bind(2, std::string(to_string(record.state))).bind(3, record_to_json(record)).bind(4, unix_ms(now));
    if (Status status = done(update, "update session " + id); !status) return status;
    if (sqlite3_changes(db_) == 0) return make_error(ErrorCode::NotFound, "no session " + id);
    return {};
  }

  Status claim_session(const std::string& id, const std::string& candidate, const LoginAccess& access,
                       const SessionRecord& record, WallTime now) override {
    std::lock_guard lock(mutex_);
    Statement update(db_,
                     "UPDATE sessions SET candidate = ?2, access_json = ?3, state = ?4, record_json = ?5, updated_ms = ?6 "
                     "WHERE id = ?1");
    update.bind(1, id).bind(2, candidate).bind(3, access_to_json(access)).bind(4, std::string(to_string(record.state)))
        .bind(5, record_to_json(record)).bind(6, unix_ms(now));
    if (Status status = done(update, "claim session " + id); !status) return status;
    if (sqlite3_changes(db_) == 0) return make_error(ErrorCode::NotFound, "no session " + id);
    return {};
  }

  Result<StoredSession> get_session(const std::string& id) override {
    std::lock_guard lock(mutex_);
    Statement select(db_, "SELECT * FROM sessions WHERE id = ?1");
    select.bind(1, id);
    const int code = select.step();
    if (code == SQLITE_DONE) return make_error(ErrorCode::NotFound, "no session " + id);
    if (code != SQLITE_ROW) return sqlite_error(db_, code, "read session " + id);
    return session_from(select);
  }

  Result<SessionList> list_sessions(const std::vector<SessionState>& except_states) override {
    std::lock_guard lock(mutex_);
    Statement select(db_, "SELECT * FROM sessions ORDER BY created_ms, id");
    SessionList list;
    int code;
    while ((code = select.step()) == SQLITE_ROW) {
      auto session = session_from(select);
      if (!session) {
        list.damaged.push_back(session.error());
        continue;
      }
      if (std::find(except_states.begin(), except_states.end(), session->record.state) == except_states.end()) {
        list.sessions.push_back(std::move(*session));
      }
    }
    if (code != SQLITE_DONE) return sqlite_error(db_, code, "list sessions");
    return list;
  }

  Status add_event(const std::string& session_id, const SessionEvent& event) override {
    std::lock_guard lock(mutex_);
    Statement insert(db_, "INSERT INTO events VALUES (?1, ?2, ?3, ?4)");
    insert.bind(1, session_id).bind(2, unix_ms(event.time)).bind(3, event.kind).bind(4, event.detail);
    return done(insert, "record event of session " + session_id);
  }

  Result<std::vector<SessionEvent>> events(const std::string& session_id) override {
    std::lock_guard lock(mutex_);
    Statement select(db_, "SELECT time_ms, kind, detail FROM events WHERE session_id = ?1 ORDER BY time_ms, rowid");
    select.bind(1, session_id);
    std::vector<SessionEvent> events;
    int code;
    while ((code = select.step()) == SQLITE_ROW) events.push_back({from_unix_ms(select.integer(0)), select.text(1), select.text(2)});
    if (code != SQLITE_DONE) return sqlite_error(db_, code, "read events of session " + session_id);
    return events;
  }

  Status add_check_runs(const std::string& session_id, const std::vector<CheckRunRecord>& runs) override {
    std::lock_guard lock(mutex_);
    // One transaction: a grading's results are stored whole or not at all.
    if (Status status = execute("BEGIN IMMEDIATE", "begin"); !status) return status;
    for (const CheckRunRecord& run : runs) {
      Statement insert(db_, "INSERT INTO check_runs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
      insert.bind(1, session_id).bind(2, unix_ms(run.time)).bind(3, run.phase).bind(4, run.check)
          .bind(5, std::int64_t{run.passed}).bind(6, std::int64_t{run.exit_code}).bind(7, std::int64_t{run.timed_out})
          .bind(8, static_cast<std::int64_t>(run.duration.count())).bind(9, run.output);
      if (Status status = done(insert, "record check runs of session " + session_id); !status) {
        (void)execute("ROLLBACK", "roll back");
        return status;
      }
    }
    return execute("COMMIT", "commit check runs");
  }

  Result<std::vector<CheckRunRecord>> check_runs(const std::string& session_id) override {
    std::lock_guard lock(mutex_);
    Statement select(db_, "SELECT time_ms, phase, check_name, passed, exit_code, timed_out, duration_ms, output "
                          "FROM check_runs WHERE session_id = ?1 ORDER BY time_ms, rowid");
    select.bind(1, session_id);
    std::vector<CheckRunRecord> runs;
    int code;
    while ((code = select.step()) == SQLITE_ROW) {
      runs.push_back({from_unix_ms(select.integer(0)), select.text(1), select.text(2), select.integer(3) != 0,
                      static_cast<int>(select.integer(4)), select.integer(5) != 0,
                      std::chrono::milliseconds(select.integer(6)), select.text(7)});
    }
    if (code != SQLITE_DONE) return sqlite_error(db_, code, "read check runs of session " + session_id);
    return runs;
  }

  Status put_baseline(const std::string& session_id, const std::string& baseline_json) override {
    std::lock_guard lock(mutex_);
    Statement upsert(db_, "INSERT INTO baselines VALUES (?1, ?2) ON CONFLICT(session_id) DO UPDATE SET json = excluded.json");
    upsert.bind(1, session_id).bind(2, baseline_json);
    return done(upsert, "store the baseline of session " + session_id);
  }

  Result<std::string> baseline(const std::string& session_id) override {
    std::lock_guard lock(mutex_);
    Statement select(db_, "SELECT json FROM baselines WHERE session_id = ?1");
    select.bind(1, session_id);
    const int code = select.step();
    if (code == SQLITE_DONE) return make_error(ErrorCode::NotFound, "session " + session_id + " has no baseline");
    if (code != SQLITE_ROW) return sqlite_error(db_, code, "read the baseline of session " + session_id);
    return select.text(0);
  }

  Status put_report(const std::string& session_id, const std::string& report_json, const std::string& markdown) override {
    std::lock_guard lock(mutex_);
    Statement upsert(db_, "INSERT INTO reports VALUES (?1, ?2, ?3) "
                          "ON CONFLICT(session_id) DO UPDATE SET json = excluded.json, markdown = excluded.markdown");
    upsert.bind(1, session_id).bind(2, report_json).bind(3, markdown);
    return done(upsert, "store the report of session " + session_id);
  }

  Result<std::pair<std::string, std::string>> report(const std::string& session_id) override {
    std::lock_guard lock(mutex_);
    Statement select(db_, "SELECT json, markdown FROM reports WHERE session_id = ?1");
    select.bind(1, session_id);
    const int code = select.step();
    if (code == SQLITE_DONE) return make_error(ErrorCode::NotFound, "session " + session_id + " has no report yet");
    if (code != SQLITE_ROW) return sqlite_error(db_, code, "read the report of session " + session_id);
    return std::make_pair(select.text(0), select.text(1));
  }

  Status create_plan_session(const StoredPlanSession& session) override {
    std::lock_guard lock(mutex_);
    Statement insert(db_, "INSERT INTO plan_sessions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    insert.bind(1, session.id).bind(2, session.plan_id).bind(3, session.candidate).bind(4, access_to_json(session.access))
        .bind(5, plan_record_to_json(session.record)).bind(6, unix_ms(session.created)).bind(7, unix_ms(session.updated));
    return done(insert, "create plan session " + session.id);
  }

  Status update_plan_session(const std::string& id, const PlanSessionRecord& record, WallTime now) override {
    std::lock_guard lock(mutex_);
    Statement update(db_, "UPDATE plan_sessions SET record_json = ?2, updated_ms = ?3 WHERE id = ?1");
    update.bind(1, id).bind(2, plan_record_to_json(record)).bind(3, unix_ms(now));
    if (Status status = done(update, "update plan session " + id); !status) return status;
    if (sqlite3_changes(db_) == 0) return make_error(ErrorCode::NotFound, "no plan session " + id);
    return {};
  }

  Result<StoredPlanSession> get_plan_session(const std::string& id) override {
    std::lock_guard lock(mutex_);
    Statement select(db_, "SELECT * FROM plan_sessions WHERE id = ?1");
    select.bind(1, id);
    const int code = select.step();
    if (code == SQLITE_DONE) return make_error(ErrorCode::NotFound, "no plan session " + id);
    if (code != SQLITE_ROW) return sqlite_error(db_, code, "read plan session " + id);
    return plan_session_from(select);
  }

  Result<std::vector<StoredPlanSession>> list_plan_sessions(std::vector<Error>* damaged) override {
    std::lock_guard lock(mutex_);
    Statement select(db_, "SELECT * FROM plan_sessions ORDER BY created_ms, id");
    std::vector<StoredPlanSession> sessions;
    int code;
    while ((code = select.step()) == SQLITE_ROW) {
      auto session = plan_session_from(select);
      if (session) sessions.push_back(std::move(*session));
      else if (damaged) damaged->push_back(session.error());
    }
    if (code != SQLITE_DONE) return sqlite_error(db_, code, "list plan sessions");
    return sessions;
  }

 private:
  Status done(Statement& statement, const std::string& what) {
    if (!statement.prepared()) return sqlite_error(db_, statement.code(), what);
    const int code = statement.step();
    if (code != SQLITE_DONE && code != SQLITE_ROW) return sqlite_error(db_, code, what);
    return {};
  }

  // A row read back into typed fields; Failed, naming the session and the column's field,
  // when a JSON column is damaged.
  Result<StoredSession> session_from(const Statement& row) const {
    StoredSession session;
    session.id = row.text(0);
    session.scenario_id = row.text(1);
    session.candidate = row.text(2);
    // from_chars, not stoull: a damaged row must not throw out of the store. The seed
    // only reproduces the vars, which are stored themselves; a bad one reads as 0.
    const std::string seed = row.text(3);
    std::from_chars(seed.data(), seed.data() + seed.size(), session.seed);
    auto damaged = [&](const Error& error) {
      return make_error(ErrorCode::Failed, "session " + session.id + " in the store: " + error.message);
    };
    auto vars = vars_from_json(row.text(4));
    if (!vars) return damaged(vars.error());
    session.vars = std::move(*vars);
    auto record = record_from_json(row.text(5));
    if (!record) return damaged(record.error());
    session.record = std::move(*record);
    session.created = from_unix_ms(row.integer(7));
    session.updated = from_unix_ms(row.integer(8));
    auto access = access_from_json(row.text(9));
    if (!access) return damaged(access.error());
    session.access = std::move(*access);
    return session;
  }

  Result<StoredPlanSession> plan_session_from(const Statement& row) const {
    StoredPlanSession session;
    session.id = row.text(0);
    session.plan_id = row.text(1);
    session.candidate = row.text(2);
    auto damaged = [&](const Error& error) {
      return make_error(ErrorCode::Failed, "plan session " + session.id + " in the store: " + error.message);
    };
    auto access = access_from_json(row.text(3));
    if (!access) return damaged(access.error());
    session.access = std::move(*access);
    auto record = plan_record_from_json(row.text(4));
    if (!record) return damaged(record.error());
    session.record = std::move(*record);
    session.created = from_unix_ms(row.integer(5));
    session.updated = from_unix_ms(row.integer(6));
    return session;
  }

  sqlite3* db_;
  std::mutex mutex_;
};

}  // namespace

int store_schema_version() { return static_cast<int>(migrations().size()); }

Result<std::unique_ptr<Store>> make_sqlite_store(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  const int code = sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                   nullptr);
  if (code != SQLITE_OK) {
    Error error = sqlite_error(db, code, "open the session store " + file.string());
    sqlite3_close_v2(db);
    return error;
  }
  auto store = std::make_unique<SqliteStore>(db);
  for (const char* pragma : {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON",
                             "PRAGMA busy_timeout = 5000"}) {
    if (Status status = store->execute(pragma, std::string("set up ") + file.string()); !status) return status.error();
  }
  if (Status status = store->migrate(); !status) return status.error();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace breakfix
