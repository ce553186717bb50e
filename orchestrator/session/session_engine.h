#pragma once

// The session engine: keeps every session's state machine, carries out the actions it
// asks for on the runtime (LabProvisioner, ScriptRunner, grader), and writes the record
// to the store after every event, before the next action, so that a daemon killed at any
// moment resumes each session from the store (recover()).
//
// Threads: every method may be called from any thread. Each session's actions run one at
// a time under that session's own lock, on whatever EngineOptions::post hands them to:
// the daemon gives a worker pool, so thirty sessions provision at once and a slow grading
// never holds up another session's warning; without a poster (tests, `session drive`)
// work runs inline and start() returns a ready session. Reads (view, list) never wait for
// a session's work: they copy a snapshot taken after every event.

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "breakfix/clock.h"
#include "breakfix/lab.h"
#include "breakfix/scenario.h"
#include "breakfix/store.h"
#include "session/grader.h"
#include "session/script_runner.h"
#include "session/lab_changes.h"
#include "session/report.h"
#include "session/session_machine.h"
#include "session/timed_lock.h"
#include "session/vars.h"

namespace breakfix {

// A file the daemon adds to every host of a session before it becomes ready (so the
// hosts' baseline has it and the report does not count it as the candidate's change):
// a plan's `breakfix-next` command.
struct LabFile {
  std::string path;
  std::string content;
  int mode = 0755;
};

struct SessionRequest {
  std::string scenario_id;
  std::string candidate;
  std::optional<std::uint64_t> seed;           // else random, recorded
  std::optional<std::chrono::seconds> duration;  // else the scenario's
  std::vector<std::string> public_keys;        // OpenSSH lines the candidate may log in with
  std::string password_hash;                   // crypt(3) hash of the one-time password, or ""
  // Installed after the faults; not kept in the store (a restart while injecting fails
  // the session anyway).
  std::vector<LabFile> lab_files;
  // For the warm pool (session/warm_pool.h): made ready to the precheck, then it waits,
  // warm, for a start to claim it. No candidate yet.
  bool pooled = false;
};

using WorkFn = std::function<void()>;

struct EngineOptions {
  std::chrono::seconds retention{60 * 60};
  std::chrono::seconds progress_interval{2 * 60};
  LabOptions lab;
  // Also write each report as <dir>/<session>.json and .md (empty: the store only).
  std::filesystem::path report_dir;
  // Where the gateway keeps recordings (<dir>/<session>/*.cast), named in the report.
  std::filesystem::path recordings_dir;
  // Runs a piece of a session's work; empty: inline, before the call returns.
  std::function<void(WorkFn)> post;
  // Sessions not yet graded, failed or removed at once; more: Conflict. 0: no limit.
  int max_live_sessions = 0;
  // Told what went wrong where the store cannot be (saving a session failed, work threw).
  std::function<void(const std::string& session_id, const std::string& message)> log_error;
  // A ready session whose host has written more than this to its writable layer ends
  // now and is graded (the disk watchdog; 0: none). Measured every disk_check_interval.
  std::uint64_t max_disk_bytes = 0;
  std::chrono::seconds disk_check_interval{30};
  // A ready or warm session whose host the backend has lost (its machine went away: an
  // LXD cluster member; or the host was removed behind breakfix's back) fails, with why,
  // instead of waiting for a grading that cannot run: when two looks in a row, an
  // interval apart, find it so. Looked at every host_check_interval (0: never).
  std::chrono::seconds host_check_interval{10};
};

// What the gateway needs to hear (warnings, end of access): session id and a line.
using NoticeFn = std::function<void(const std::string& session_id, const std::string& notice)>;
using ScenarioLookup = std::function<ScenarioPtr(const std::string& id)>;

struct SessionView {
  std::string id;
  std::string scenario_id;
  std::string scenario_title;
  std::string variant;  // the scenario's variant this session runs; "" when it has none
  std::string candidate;
  SessionState state = SessionState::Provisioning;
  std::string failure;
  std::string progress;  // the step under way while provisioning or injecting
  std::uint64_t seed = 0;
  VarValues vars;
  std::vector<std::string> hosts;
  std::string entry_host;
  WallTime created{};
  WallTime ready_at{};
  WallTime deadline{};
  WallTime ended_at{};
  WallTime graded_at{};
  WallTime remove_at{};
  std::chrono::seconds duration{0};
  std::chrono::seconds time_left{0};
  std::optional<double> score;  // once graded
  std::optional<bool> tampered;  // once graded; nullopt also when it could not be known
  int public_keys = 0;
  bool password = false;
  int hints_given = 0;
  int hints_total = 0;
  std::vector<int> given_hints;  // which (0-based), in order
  // The checks as their last run (precheck, progress, grade now, final) found them;
  // checks_total is 0 before any run (and for a session read back from the store).
  int checks_passing = 0;
  int checks_total = 0;
  // Made for the warm pool and not claimed yet (provisioning, injecting or warm).
  bool pooled = false;
  std::string scenario_digest;  // a pooled lab's: what it was made from
};

// A hint as the interviewer gave it (and the candidate's terminals showed it).
struct GivenHint {
  int number = 0;  // 1-based
  int of = 0;
  std::string text;
  double cost = 0;
};

// A rubric rating as the interviewer gave it.
struct GivenRating {
  std::string criterion;
  int level = 0;
  int of = 0;
  std::string meaning;  // what the level says
};

// How a candidate may log in to a session (for the gateway).
struct SessionAccess {
  // The scenario session the login reaches: recordings, notices and watchers go by it.
  // The same as the login's id, except for a plan's session, whose login reaches a part.
  std::string session_id;
  SessionState state = SessionState::Provisioning;
  // The candidate may log in and start commands now: ready, before the deadline, and
  // not ended. Time alone closes it, even while the session's work is busy.
  bool open = false;
  std::vector<std::string> public_keys;
  std::string password_hash;
  std::optional<Lab> lab;
  ScenarioPtr scenario;
  WallTime deadline{};
  // The hints given so far, "1 of 3: text", for the banner of a terminal opened later.
  std::vector<std::string> hints;
  // A plan's session: its parts, for the top of the banner ("part 1 of 3: ...").
  std::string plan_banner;
  // The candidate may ask for the next part from the lab (a plan's part in sequence, not
  // the last): the gateway then watches their output for the request.
  bool next_part = false;
  // Said instead of "this session is over" to a login while !open (a plan's next part
  // being prepared). Empty: the usual words.
  std::string closed_message;
};

// One check's result from an interviewer's grade-now run.
struct CheckOutcome {
  std::string name;
  std::string expect;  // "fix" | "guard"
  bool passed = false;
  int exit_code = -1;
  bool timed_out = false;
  std::chrono::milliseconds duration{0};
  std::string output;
};

// Called after a session changes state (metrics, logs), on the thread that changed it.
using StateChangeFn = std::function<void(const SessionView& view, SessionState before)>;

// Why a warm lab failed that was removed unused (to make room, or by the interviewer),
// and one made from a scenario text the library no longer has. Neither is the
// scenario's failure: the pool does not back off for them.
inline constexpr const char* kWarmLabRemoved = "a warm lab removed before any candidate had it";
inline constexpr const char* kWarmLabStale = "a warm lab made from an older text of its scenario, removed unused";

// A new session id: 10 characters of an alphabet without look-alikes (it is typed in ssh).
std::string new_session_id();
// Writes `text` to `file` whole or not at all: a reader never sees half a report.
Status write_file_atomically(const std::filesystem::path& file, const std::string& text);

class SessionEngine {
 public:
  SessionEngine(Runtime& runtime, Store& store, const Clock& clock, ScenarioLookup scenarios, EngineOptions options,
                NoticeFn notices, StateChangeFn on_change = {});
  ~SessionEngine();

  // Creates a session and starts bringing it to ready (or failed: the view says why).
  // NotFound for an unknown scenario, Conflict past max_live_sessions. Without a poster
  // it returns once the session is ready or failed; with one, at once (provisioning).
  // A warm session of the scenario, when there is one and the request does not pin what
  // only provisioning decides (a seed, lab files), is claimed instead: ready at once,
  // under its own id, for this candidate only.
  Result<SessionView> start(const SessionRequest& request);
  // The pooled sessions not claimed yet (provisioning, injecting, warm), by scenario,
  // and how many of them are warm.
  struct PooledCount {
    int pooled = 0;
    int warm = 0;
  };
  std::map<std::string, PooledCount> pooled_counts() const;
  // Time passes for every live session: warnings, progress checks, deadlines, removal.
  void tick();
  // Conflict unless ready.
  Result<SessionView> extend(const std::string& id, std::chrono::seconds by);
  // Ends access now; grading follows (inline, or posted). Conflict unless ready. `why`
  // is the timeline's entry.
  Result<SessionView> end(const std::string& id, const std::string& why = "ended early by the interviewer");
  // Gives hint `number` (1-based), or the next one not given yet: every open terminal
  // shows it and the report's events list it. Conflict unless ready, or when it was given.
  Result<GivenHint> give_hint(const std::string& id, std::optional<int> number);
  // The interviewer's judgement (session/assessment.h), during the session or after it,
  // until it is removed and after: each is an event on the timeline, and a report
  // written already is written again with it. A note: Invalid when empty or too long,
  // Conflict past kMaxNotesPerSession. A rating of a criterion of the session's rubric
  // (the latest counts): Invalid for a criterion or level the rubric does not have.
  Result<SessionEvent> add_note(const std::string& id, const std::string& text);
  Result<GivenRating> rate(const std::string& id, const std::string& criterion, int level);
  // Runs every check now without ending the session; the results join the timeline.
  // Conflict unless ready.
  Result<std::vector<CheckOutcome>> grade_now(const std::string& id);
  // Removes the hosts now. A ready session is ended without grading (failed, "removed
  // by the interviewer"); graded and failed ones skip the rest of their retention.
  // Conflict while provisioning, injecting or grading; a removed session stays removed.
  Result<SessionView> remove(const std::string& id);
  // A session in memory, or else as the store last saw it. NotFound if neither knows it.
  Result<SessionView> view(const std::string& id) const;
  // Every session in the store, oldest first (those in memory as they are now). A row
  // the store cannot read is left out and logged (EngineOptions::log_error).
  Result<std::vector<SessionView>> list() const;
  Result<SessionAccess> access(const std::string& id) const;
  // What happened so far, for a live view (the web console): the session's events and
  // every check run, oldest first. NotFound for an unknown session.
  struct Timeline {
    std::vector<SessionEvent> events;
    std::vector<CheckRunRecord> check_runs;
  };
  Result<Timeline> timeline(const std::string& id) const;
  // The report (JSON, Markdown); NotFound until the session is graded.
  Result<std::pair<std::string, std::string>> report(const std::string& id) const { return store_.report(id); }
  // After a restart: every session in the store that is not removed is loaded again and
  // resumes (see SessionMachine::recovered). Returns how many were recovered; a row the
  // store cannot read is logged and skipped, never a reason to resume nobody.
  Result<int> recover();
  // Sessions whose work is queued or running now.
  int busy_sessions() const;
  // The daemon is stopping: every script running now is killed and abandoned within a
  // few seconds, and its work ends without acting on a result (the store keeps the
  // session as of its last event; the next start resumes it).
  void shutdown();

 private:
  struct Session;
  using SessionPtr = std::shared_ptr<Session>;
  SessionPtr find(const std::string& id) const;
  // start()'s claim of a warm session: nullopt when none can serve `request`.
  Result<std::optional<SessionView>> claim_warm(const SessionRequest& request, const Scenario& written);
  // At the limit, a start removes the oldest warm lab (of another scenario) to make room.
  void make_room_from_pool();
  // Fails warm lab `id` with `why` (its hosts go), unless a start claimed it meanwhile.
  void evict_warm(const std::string& id, const std::string& why);
  // A warm lab waits paused: nothing runs in it to change what its baseline saw.
  Status pause_lab(Session& session);
  Status resume_lab(Session& session);
  Error not_loaded(const std::string& id) const;
  void run(const SessionPtr& session, std::vector<Action> actions);
  // tick()'s work for one session: a record that failed to save is saved first, and
  // only then do its actions and the time that passed go on.
  void resume(Session& session);
  // The disk watchdog: when a check is due, what a host wrote past max_disk_bytes, if any.
  std::optional<std::string> disk_over_limit(Session& session);
  // The lost-host watchdog: when a check is due, why a host of the lab is lost, if one is.
  std::optional<std::string> lost_host(Session& session);
  void carry_out(Session& session, std::vector<Action> actions);
  std::vector<Action> act(Session& session, const Action& action);
  // An action threw (a bug, bad_alloc): it counts as that action's failure.
  std::vector<Action> action_threw(Session& session, const Action& action, const std::string& what);
  std::vector<Action> remove_hosts(Session& session);
  std::vector<Action> provision(Session& session);
  std::vector<Action> inject(Session& session);
  std::vector<Action> grade(Session& session, const char* phase);
  // The final grading failed: again after a backoff, or the session fails (SessionMachine).
  std::vector<Action> grading_failed(Session& session, const std::string& reason);
  LabChanges lab_changes(Session& session);
  // What a report says, from the store and the recordings.
  ReportInput report_input(const StoredSession& stored, const Scenario& scenario, const SessionRecord& record,
                           const LabChanges* changes) const;
  // Stores the report, and writes it to report_dir when there is one.
  Status publish_report(const std::string& id, const Report& report);
  // The session's scenario as it runs it: in memory, or the catalog's with the seed's variant.
  ScenarioPtr scenario_of(const StoredSession& stored) const;
  // Adds an interviewer's event, then writes the session's report again if it has one.
  Status add_judgement(const StoredSession& stored, const Scenario& scenario, const SessionEvent& event);
  // Saves the record after an event and publishes it to readers (views, the gateway).
  // False when the store failed: the record stays in memory unsaved and unpublished,
  // nothing acts on it, and resume() saves it again after a backoff.
  bool persist(Session& session);
  // After an interviewer's change or a recovery: saves the record, then hands back the
  // actions to carry out, with any that still waited for an earlier save. Unavailable
  // while the store refuses; the actions then wait for resume().
  Result<std::vector<Action>> save_then(Session& session, std::vector<Action> actions);
  void log_error(const Session& session, const std::string& message) const;
  void log_error(const std::string& message) const;  // about no one session
  void note(Session& session, const std::string& kind, const std::string& detail);
  void set_progress(Session& session, std::string progress);
  // What the last check run found, for the views.
  void count_checks(Session& session, const std::vector<CheckResult>& results);
  // Carries out a GiveHint action: the terminals and the events hear of it.
  void give_hint_now(Session& session, int index);
  // Ends the candidate's access now (once): the gateway closes their terminals.
  void close_access(Session& session);
  // Scripts stop when the daemon stops; a progress run's also when the candidate's
  // access ends, so that the grading is not kept waiting behind it.
  ScriptRunner script_runner(const Session& session, bool progress_run = false) const;
  // The session's work lock, waiting as long as its work can take (work_wait()); not
  // owned when that ran out or the daemon is stopping.
  std::unique_lock<TimedLock> lock_work(Session& session) const;
  SessionView make_view(const Session& session) const;
  SessionView view_from_stored(const StoredSession& stored) const;

  Runtime& runtime_;
  Store& store_;
  const Clock& clock_;
  ScenarioLookup scenarios_;
  EngineOptions options_;
  NoticeFn notices_;
  StateChangeFn on_change_;
  mutable std::mutex sessions_mutex_;
  // A report is read, built and stored under this, so that a note written while a
  // grading stores its report is never lost between the two.
  std::mutex report_mutex_;
  std::map<std::string, SessionPtr> sessions_;
  std::atomic<bool> stopping_{false};
};

}  // namespace breakfix
