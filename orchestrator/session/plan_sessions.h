#pragma once

// A plan's session: one interview of several parts (breakfix/plan.h), each part an
// ordinary scenario session of the engine, so that every part is provisioned, proved,
// recorded, graded and reported exactly as a lab on its own is. This layer only decides
// when parts start and what the candidate and the interviewer see of the whole:
//
//  - sequence: part 1 starts with the plan; the next starts when the current one's
//    access ends (its budget ran out, the interviewer ran `session next`, or the
//    candidate ran `breakfix-next` in the lab). Time the candidate leaves unused on a
//    part is added to the next one, so the interview never lasts longer than the plan.
//  - together: every part starts at once and lasts the whole plan; each host is
//    reached as ID+host.
//
// The candidate logs in with the plan session's id; access() says which part that
// reaches. Notes and ratings of the plan's rubric are the plan session's own events;
// the report puts the parts' automatic results and the rubric side by side.
//
// Threads: every method may be called from any thread. Changes are serialised; the
// engine is never called with the plan's data lock held, so the engine's notices
// (notice_text) may come back on any thread at any time.

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "breakfix/plan.h"
#include "breakfix/store.h"
#include "session/session_engine.h"

namespace breakfix {

// The command a plan's part installs on every host (sequence mode), and what it prints
// to ask the gateway for the next part: an OSC sequence of no terminal's, which
// terminals ignore and the gateway looks for in a terminal's or command's output. The
// candidate can print it themselves; it only ever moves their own interview on.
inline constexpr const char* kNextPartCommand = "/usr/local/bin/breakfix-next";
inline constexpr const char* kNextPartMarker = "\x1b]4747;breakfix-next-part\x07";
// Notes, ratings and moves a plan session keeps at most (notes are bounded per session too).
inline constexpr std::size_t kMaxPlanEvents = 1000;

struct PlanRequest {
  std::string plan_id;
  std::string candidate;
  std::optional<std::uint64_t> seed;  // each part's seed is derived from it
  std::vector<std::string> public_keys;
  std::string password_hash;
};

struct PlanPartView {
  std::string name;
  std::string scenario_id;
  std::chrono::seconds budget{0};
  std::optional<SessionView> session;  // once the part started
};

struct PlanSessionView {
  std::string id;
  std::string plan_id;
  std::string title;
  std::string candidate;
  PlanMode mode = PlanMode::Sequence;
  // Sequence: the current part's state while the interview goes on; once it ended,
  // grading while a part grades, else graded (removed once every part is removed).
  // Together: the least advanced part's.
  SessionState state = SessionState::Provisioning;
  int current = 0;
  bool ended = false;
  std::chrono::seconds duration{0};  // the plan's total
  std::vector<PlanPartView> parts;
  WallTime created{};
  int public_keys = 0;
  bool password = false;
  std::string problem;  // why the next part has not started, while it is being tried again
};

using PlanLookup = std::function<PlanPtr(const std::string& id)>;

class PlanSessions {
 public:
  PlanSessions(SessionEngine& engine, Store& store, const Clock& clock, PlanLookup plans,
               std::filesystem::path report_dir = {});

  // NotFound for an unknown plan; the engine's errors for the first part(s).
  Result<PlanSessionView> start(const PlanRequest& request);
  bool owns(const std::string& id) const;
  Result<PlanSessionView> view(const std::string& id) const;
  Result<std::vector<PlanSessionView>> list() const;
  // Sequence: ends the current part (graded as it is) and starts the next. `who` is
  // "interviewer" or "candidate", for the timeline. Conflict in together mode, on the
  // last part, or once the interview ended.
  // `from_part`: the part that asked (the candidate's request); Conflict once it is not current.
  Result<PlanSessionView> next(const std::string& id, const std::string& who, std::optional<int> from_part = std::nullopt);
  // The gateway saw kNextPartMarker in a terminal of `session_id`: when that is the
  // current part of a plan in sequence, it moves on (as next(…, "candidate")).
  void next_requested_from(const std::string& session_id);
  // Ends the interview: every part still running ends and is graded; no part starts.
  Result<PlanSessionView> end(const std::string& id);
  // Removes every part's hosts (the engine's remove, part by part).
  Result<PlanSessionView> remove(const std::string& id);
  // The part an interviewer's action on the whole (extend, hint, grade now) applies to:
  // the current part in sequence; Conflict in together mode, naming the parts' ids.
  Result<std::string> current_part(const std::string& id) const;
  // For the gateway: the part a login reaches. Sequence: the current part (between
  // parts, the ended one, with closed_message saying the next is coming); together:
  // the part that has `host` (the first part's entry host without one).
  Result<SessionAccess> access(const std::string& id, const std::string& host) const;
  Result<SessionEvent> add_note(const std::string& id, const std::string& text);
  // A criterion of the plan's rubric (Invalid otherwise, naming the criteria).
  Result<GivenRating> rate(const std::string& id, const std::string& criterion, int level);
  // (JSON, Markdown); Conflict until every part that started has ended and been graded.
  Result<std::pair<std::string, std::string>> report(const std::string& id) const;
  // What the engine's notice to a part's terminals should say: the part and, at its
  // end, what comes next. Text of sessions outside plans comes back as it is.
  std::string notice_text(const std::string& session_id, const std::string& text) const;
  // Starts the next part of every sequence whose current part ended; notes the end of
  // an interview whose parts all ended, and writes its report to report_dir.
  void tick();
  // Loads every plan session from the store (after a restart); returns how many are still
  // running. Damaged rows are skipped.
  Result<int> recover();

 private:
  struct Located {
    std::string plan_session;
    int part = 0;
  };
  std::optional<StoredPlanSession> find(const std::string& id) const;
  std::optional<Located> locate(const std::string& session_id) const;
  // Saves `stored` and then publishes it in memory; the store refusing changes nothing.
  Status save(const StoredPlanSession& stored);
  // Starts part `index` with `budget` (its seed derived from `seed`, when given);
  // records its session id (saved).
  Status start_part(StoredPlanSession& stored, const Plan& plan, std::size_t index, std::chrono::seconds budget);
  // start_part(), unless its last failure is too recent; a failure is noted once on the
  // timeline and in the view, and tried again after a backoff.
  Status start_or_retry(StoredPlanSession& stored, const Plan& plan, std::size_t index, std::chrono::seconds budget);
  // An ended interview's parts that are still running end (graded as they are).
  void end_running_parts(const StoredPlanSession& stored);
  // The plan as this interview runs it: its parts and mode as the record kept them at the
  // start (a reload of the library changes no running interview); the rubric the library's.
  PlanPtr plan_of(const StoredPlanSession& stored) const;
  // Sequence: if the current part's access ended, the next part starts (with the time
  // left unused), or the interview ends after the last.
  void advance(StoredPlanSession& stored, const Plan& plan);
  Status add_event(StoredPlanSession& stored, const std::string& kind, const std::string& detail);
  PlanSessionView make_view(const StoredPlanSession& stored) const;
  // Every part that started has been graded (or failed, or removed).
  bool finished(const PlanSessionView& view) const;
  void publish_report(const std::string& id);

  SessionEngine& engine_;
  Store& store_;
  const Clock& clock_;
  PlanLookup plans_;
  std::filesystem::path report_dir_;
  std::mutex changes_;  // one change at a time
  mutable std::mutex data_mutex_;
  std::map<std::string, StoredPlanSession> sessions_;
  std::map<std::string, Located> parts_;  // a part's session id -> its plan session
  std::map<std::string, bool> reported_;  // plan sessions whose report was written since their last change
  struct Problem {
    std::string error;
    int failures = 0;
    WallTime retry_at{};
  };
  std::map<std::string, Problem> problems_;  // plan sessions whose next part failed to start
};

}  // namespace breakfix
