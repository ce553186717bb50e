#pragma once

// Where sessions live between daemon runs: each session's record (the state machine's
// whole state), its events, its check runs and its report. The engine writes through
// this interface before it acts, so a daemon killed at any moment finds every session
// again. The SQLite backend (make_sqlite_store) is the real one; tests may use it on a
// temporary file too, it is fast.
//
// Threads: every method may be called from any thread; calls are serialised inside.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "breakfix/clock.h"
#include "breakfix/error.h"
#include "breakfix/session_record.h"

namespace breakfix {

// A session as the store keeps it. The store owns how these fields are written down
// (JSON columns in SQLite, sqlite_store.cpp); callers see only typed values.
struct StoredSession {
  std::string id;
  std::string scenario_id;
  std::string candidate;
  std::uint64_t seed = 0;
  VarValues vars;        // the values the seed picked
  SessionRecord record;  // the state machine's whole state; record.state is kept apart for queries
  LoginAccess access;
  WallTime created{};
  WallTime updated{};
};

struct SessionEvent {
  WallTime time{};
  std::string kind;    // "state", "login", "logout", "warning", "extend", ...
  std::string detail;
};

struct CheckRunRecord {
  WallTime time{};
  std::string phase;   // "precheck", "progress", "final"
  std::string check;
  bool passed = false;
  int exit_code = -1;
  bool timed_out = false;
  std::chrono::milliseconds duration{0};
  std::string output;  // the kept tail
};

struct SessionList {
  std::vector<StoredSession> sessions;
  std::vector<Error> damaged;
};

// One part of a plan's session (breakfix/plan.h): the scenario session that runs it,
// once started.
struct PlanPartRecord {
  std::string name;        // the plan's part
  std::string session_id;  // empty until the part starts
  // The plan as it was at the start (a reload of the library changes no running interview).
  std::string scenario_id;
  std::chrono::seconds budget{0};
};

// Everything the plan layer (session/plan_sessions.h) keeps of a plan's session.
struct PlanSessionRecord {
  std::string title;
  bool together = false;   // else in sequence
  std::uint64_t seed = 0;  // part i runs with seed + i
  int current = 0;     // sequence: the part the candidate is on
  bool ended = false;  // no part starts any more: the last one ended, or the interviewer ended it
  std::vector<PlanPartRecord> parts;
  // The plan session's own events, not a part's: notes, ratings of the plan's rubric,
  // moves to the next part. Bounded by the plan layer.
  std::vector<SessionEvent> events;
};

// A plan's session (several scenario sessions, one interview) as the store keeps it.
struct StoredPlanSession {
  std::string id;  // never the id of a scenario session
  std::string plan_id;
  std::string candidate;
  LoginAccess access;  // every part's, kept for the parts that start later
  PlanSessionRecord record;
  WallTime created{};
  WallTime updated{};
};

class Store {
 public:
  virtual ~Store() = default;

  // Conflict if the id exists.
  virtual Status create_session(const StoredSession& session) = 0;
  // Replaces the record (and so the state) and `updated`. NotFound if absent.
  virtual Status update_session(const std::string& id, const SessionRecord& record, WallTime now) = 0;
  // A warm session's candidate: replaces its candidate, login and record at once (so that
  // a pooled lab is never half handed over). NotFound if absent.
  virtual Status claim_session(const std::string& id, const std::string& candidate, const LoginAccess& access,
                               const SessionRecord& record, WallTime now) = 0;
  // NotFound if absent; Failed, naming the session and the field, if its stored row is damaged.
  virtual Result<StoredSession> get_session(const std::string& id) = 0;
  // Every session whose state is not in `except_states`, oldest first. A damaged row
  // is no reason to hide the others: it is left out of `sessions` and named in `damaged`
  // (an error naming the session and the field), so that the caller says so.
  virtual Result<SessionList> list_sessions(const std::vector<SessionState>& except_states) = 0;

  virtual Status add_event(const std::string& session_id, const SessionEvent& event) = 0;
  virtual Result<std::vector<SessionEvent>> events(const std::string& session_id) = 0;

  virtual Status add_check_runs(const std::string& session_id, const std::vector<CheckRunRecord>& runs) = 0;
  virtual Result<std::vector<CheckRunRecord>> check_runs(const std::string& session_id) = 0;

  // What the session's hosts looked like when it became ready (tamper evidence,
  // session/lab_changes.h), as the engine serialised it; replaced whole.
  virtual Status put_baseline(const std::string& session_id, const std::string& json) = 0;
  // NotFound if the session has no baseline (it never became ready, or an older breakfix ran it).
  virtual Result<std::string> baseline(const std::string& session_id) = 0;

  virtual Status put_report(const std::string& session_id, const std::string& json, const std::string& markdown) = 0;
  // (json, markdown); NotFound if the session has no report yet.
  virtual Result<std::pair<std::string, std::string>> report(const std::string& session_id) = 0;

  // Plans' sessions. Conflict if the id exists; update replaces the record (NotFound if
  // absent); a damaged row is named like a session's.
  virtual Status create_plan_session(const StoredPlanSession& session) = 0;
  virtual Status update_plan_session(const std::string& id, const PlanSessionRecord& record, WallTime now) = 0;
  virtual Result<StoredPlanSession> get_plan_session(const std::string& id) = 0;
  // Oldest first; damaged rows are left out and named, as in list_sessions.
  virtual Result<std::vector<StoredPlanSession>> list_plan_sessions(std::vector<Error>* damaged) = 0;
};

// Opens (creating if needed) the SQLite database at `file` in WAL mode and brings its
// schema up to date. Unavailable names the file when it cannot be opened; Invalid when
// its schema is newer than this breakfix knows (a downgrade).
Result<std::unique_ptr<Store>> make_sqlite_store(const std::filesystem::path& file);

// The schema version this breakfix writes.
int store_schema_version();

}  // namespace breakfix
