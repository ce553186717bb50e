#pragma once

// A session's lifecycle as a state machine apart from all I/O (the habit of mosh's
// statesync): the engine feeds it events (provisioned, injected, tick, extend, end,
// graded, removed, failed, recovered after a restart) with the time, and carries out the
// actions it returns. Its whole state is the SessionRecord, which the store persists,
// so a session resumes from it after the daemon is killed at any moment. The states and
// the record are in breakfix/session_record.h.

#include <chrono>
#include <optional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "breakfix/clock.h"
#include "breakfix/error.h"
#include "breakfix/session_record.h"

namespace breakfix {

// How often a final grading is tried before the session fails, and the wait after the
// Nth failed attempt of a grading or a removal: 30 s, doubling, at most 10 minutes.
inline constexpr int kMaxGradingAttempts = 5;
std::chrono::seconds retry_delay(int failed_attempts);

enum class ActionKind {
  Provision,      // create the hosts
  Inject,         // run setup, faults and the precheck
  OpenAccess,     // candidates may log in
  Warn,           // tell every open terminal: `minutes_left`
  ProgressCheck,  // run the checks quietly for the timeline
  EndAccess,      // close the candidates' connections, refuse new logins
  Grade,          // run every check, store results before anything is removed
  Remove,         // remove the hosts
  GiveHint,       // tell every open terminal hint number `hint` (0-based), and the report
};

struct Action {
  ActionKind kind;
  int minutes_left = 0;  // for Warn
  int hint = -1;         // for GiveHint
  bool operator==(const Action&) const = default;
};

class SessionMachine {
 public:
  SessionMachine() = default;
  // A new session: state provisioning; start() returns its first action.
  SessionMachine(SessionPolicy policy, WallTime now);
  // A session read back from the store.
  explicit SessionMachine(SessionRecord record) : record_(std::move(record)) {}

  const SessionRecord& record() const { return record_; }
  SessionState state() const { return record_.state; }

  std::vector<Action> start();
  std::vector<Action> provisioned(WallTime now);
  // The faults bit and the precheck passed: the deadline starts now; a pooled session
  // turns warm instead, with no clock and no access.
  std::vector<Action> injected(WallTime now);
  // A start took this warm session: ready, its deadline `duration` from now. Conflict
  // unless warm.
  Result<std::vector<Action>> claimed(std::chrono::seconds duration, WallTime now);
  // Any step failed (provisioning, injection, the precheck): failed, and the hosts go.
  std::vector<Action> failed(const std::string& reason, WallTime now);
  // Time passes: warnings, quiet check runs, the deadline, the end of retention.
  std::vector<Action> tick(WallTime now);
  // Interviewer actions; Conflict unless the session is ready.
  Result<std::vector<Action>> extend(std::chrono::seconds by, WallTime now);
  Result<std::vector<Action>> end_now(WallTime now);
  // The interviewer gives hint `index` (0-based), or the first not given yet. Conflict
  // unless ready, for a hint given already, or when none is left; NotFound past the last.
  Result<std::vector<Action>> give_hint(std::optional<int> index);
  // Grading finished and its results are stored.
  std::vector<Action> graded(WallTime now);
  std::vector<Action> removed(WallTime now);
  // The final grading could not run or its results could not be stored: tick() runs it
  // again after a backoff; after kMaxGradingAttempts the session fails, its hosts kept
  // for the retention so that the interviewer can still look.
  std::vector<Action> grading_failed(const std::string& reason, WallTime now);
  // Removing the hosts failed: tick() tries again after a backoff, as long as it takes.
  std::vector<Action> removal_failed(const std::string& reason, WallTime now);
  // The daemon restarted and found this session in the store: what to do about it.
  // An interrupted provisioning or injection fails (its lab is half made, its faults
  // half in); an interrupted grading runs again; a ready session keeps its deadline in
  // wall-clock time (tick() then ends it if it passed while the daemon was down).
  std::vector<Action> recovered(WallTime now);

  std::chrono::seconds time_left(WallTime now) const;
  // What the grader hashed after the faults (record_unchanged); kept with the record so
  // that the guards compare against it after a restart too.
  void set_unchanged(std::map<std::string, std::string> listings) { record_.unchanged = std::move(listings); }

 private:
  // Ready from now: the deadline, warnings and progress runs start.
  std::vector<Action> open(WallTime now);
  std::vector<Action> begin_grading(WallTime now);
  void schedule_retry(const std::string& reason, WallTime now);
  void clear_retry();
  // Graded or failed: the hosts go at the end of retention, or at the next retry.
  bool removal_due(WallTime now) const;

  SessionRecord record_;
};

}  // namespace breakfix
