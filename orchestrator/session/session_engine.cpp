#include "session/session_engine.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <stdexcept>
#include <utility>

#include "session/assessment.h"
#include "session/grader.h"
#include "session/lab_preparation.h"
#include "session/recordings.h"
#include "session/lab_changes.h"
#include "session/report.h"
#include "session/ticket_reply.h"

namespace breakfix {
namespace {

using nlohmann::json;


std::vector<CheckRunRecord> to_records(const std::vector<CheckResult>& results, const char* phase, WallTime now) {
  std::vector<CheckRunRecord> records;
  for (const CheckResult& result : results) {
    records.push_back({now, phase, result.name, result.passed, result.run.exit_code, result.run.timed_out,
                       result.run.duration, result.run.output});
  }
  return records;
}

// A script that writes `file` (the toolbox's mkdir, cat and chmod: the lab's may be
// anything its scenario made them).
std::string install_file_script(const LabFile& file) {
  // The daemon's own constants; a path or content that would break the quoting is a bug.
  if (file.path.empty() || file.path[0] != '/' || file.path.find_first_of("'\n") != std::string::npos ||
      file.content.find("\nBREAKFIX_LAB_FILE_END\n") != std::string::npos ||
      file.content.rfind("BREAKFIX_LAB_FILE_END\n", 0) == 0) {
    throw std::invalid_argument("a lab file that cannot be written safely: " + file.path);
  }
  const std::string path = file.path;
  const std::string dir = std::filesystem::path(path).parent_path().string();
  char mode[8];
  std::snprintf(mode, sizeof mode, "%o", file.mode & 07777);
  // A quoted here-document: the content goes in byte for byte (it must not hold the marker line).
  return "mkdir -p '" + dir + "'\ncat > '" + path + "' <<'BREAKFIX_LAB_FILE_END'\n" + file.content +
         (file.content.empty() || file.content.back() != '\n' ? "\n" : "") + "BREAKFIX_LAB_FILE_END\nchmod " + mode +
         " '" + path + "'\n";
}

}  // namespace

std::string new_session_id() {
  static constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";  // no look-alikes: it is typed in ssh
  std::uint64_t value = random_seed();
  std::string id;
  for (int i = 0; i < 10; ++i, value >>= 5) id += kAlphabet[value & 31];
  return id;
}

Status write_file_atomically(const std::filesystem::path& file, const std::string& text) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  const std::filesystem::path partial = file.string() + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return make_error(ErrorCode::Failed, "cannot write " + partial.string());
  }
  std::filesystem::rename(partial, file, ec);
  if (ec) return make_error(ErrorCode::Failed, "cannot write " + file.string() + ": " + ec.message());
  return {};
}

struct SessionEngine::Session {
  // Who, which scenario, the vars and the logins; its record is the machine's, not stored.record.
  StoredSession stored;
  ScenarioPtr scenario;
  SessionMachine machine;
  std::optional<Lab> lab;
  std::optional<double> score;
  std::optional<bool> tampered;  // once graded
  std::string progress;
  std::future<void> baseline_listing;  // lists the hosts' changes at ready, then stores them
  WallTime next_disk_check{};          // the disk watchdog's (not stored: a restart measures at once)
  WallTime next_host_check{};          // the lost-host watchdog's (likewise)
  int lost_sightings = 0;              // looks in a row that found a host lost
  std::vector<LabFile> lab_files;      // the request's, until inject() installs them
  int checks_passing = 0;              // as the last run found them (for the live views)
  int checks_total = 0;

  // Held while the session's actions run; the machine, lab and stored are its.
  TimedLock work;
  // Work for this session is queued or running (tick() does not queue more); counted
  // by PendingWork.
  std::atomic<int> pending{0};
  // The store refused the record after an event: it is kept here, unsaved and
  // unpublished, with the actions that wait for it, until resume() saves it.
  struct Unsaved {
    bool waiting = false;
    std::vector<Action> actions;
    int failures = 0;
    WallTime retry_at{};
    std::string error;
  } unsaved;
  // The candidate's access has ended (deadline, end, removal); set without the work
  // lock, so that a busy session's access still ends on time.
  std::atomic<bool> access_closed{false};
  // A copy of the view taken after every event, for readers that must not wait.
  mutable std::mutex snapshot_mutex;
  SessionView snapshot;
  std::optional<Lab> lab_snapshot;  // the lab as of the last event, for the gateway
};

namespace {

// Live sessions count against sessions.max_sessions; a warm one holds a lab too.
bool is_live(SessionState state) {
  return state == SessionState::Provisioning || state == SessionState::Injecting || state == SessionState::Warm ||
         state == SessionState::Ready || state == SessionState::Grading;
}

// Work on a session that is busy waits this long for it before the caller hears Conflict.
// A ready session's work is a progress run or a grade-now, which ends within its grading
// budget whatever the lab does (grader.h); kExecSlack covers the kill and drain bounds
// of its execs. Before ready (a big image building) the wait is short: nothing the
// interviewer may do then needs the lock for long.
constexpr std::chrono::seconds kExecSlack{15};
constexpr std::chrono::seconds kEarlyWorkWait{10};

std::chrono::seconds work_wait(const ScenarioPtr& scenario) {
  return scenario ? grading_budget(*scenario) + kExecSlack : kEarlyWorkWait;
}

// One piece of a session's work, counted in `pending` from when it is queued until it
// ends, however it ends: returns, throws, or is dropped unrun by a pool that stops.
class PendingWork {
 public:
  explicit PendingWork(std::atomic<int>& pending) : pending_(pending) { ++pending_; }
  PendingWork(const PendingWork&) = delete;
  PendingWork& operator=(const PendingWork&) = delete;
  ~PendingWork() { --pending_; }

 private:
  std::atomic<int>& pending_;
};

// A work item that holds its session (and so its PendingWork) alive until it is done.
template <typename Fn>
WorkFn counted_work(const std::shared_ptr<void>& owner, std::atomic<int>& pending, Fn fn) {
  auto token = std::make_shared<PendingWork>(pending);
  return [owner, token, fn = std::move(fn)]() mutable { fn(); };
}

}  // namespace

SessionEngine::SessionEngine(Runtime& runtime, Store& store, const Clock& clock, ScenarioLookup scenarios,
                             EngineOptions options, NoticeFn notices, StateChangeFn on_change)
    : runtime_(runtime),
      store_(store),
      clock_(clock),
      scenarios_(std::move(scenarios)),
      options_(std::move(options)),
      notices_(std::move(notices)),
      on_change_(std::move(on_change)) {}

SessionEngine::~SessionEngine() = default;

SessionEngine::SessionPtr SessionEngine::find(const std::string& id) const {
  std::lock_guard lock(sessions_mutex_);
  auto found = sessions_.find(id);
  return found == sessions_.end() ? nullptr : found->second;
}

Error SessionEngine::not_loaded(const std::string& id) const {
  // Removed sessions leave memory but stay in the store: acting on one is a conflict.
  if (store_.get_session(id).ok()) return make_error(ErrorCode::Conflict, "session " + id + " is removed");
  return make_error(ErrorCode::NotFound, "no session " + id);
}

void SessionEngine::run(const SessionPtr& session, std::vector<Action> actions) {
  if (actions.empty()) return;
  WorkFn work = counted_work(session, session->pending, [this, session, actions = std::move(actions)]() mutable {
    std::lock_guard lock(session->work);
    carry_out(*session, std::move(actions));
  });
  if (options_.post) options_.post(std::move(work));
  else work();
}

Result<SessionView> SessionEngine::start(const SessionRequest& request) {
  ScenarioPtr written = scenarios_(request.scenario_id);
  if (!written) return make_error(ErrorCode::NotFound, "no scenario '" + request.scenario_id + "'");
  if (!request.pooled) {
    auto claimed = claim_warm(request, *written);
    if (!claimed) return claimed.error();
    if (claimed->has_value()) return std::move(**claimed);
    make_room_from_pool();
  }
  const std::uint64_t seed = request.seed.value_or(random_seed());
  // The session runs one variant of the scenario, picked from its seed like the vars.
  const ScenarioPtr scenario = scenario_for_seed(written, seed);
  SessionPolicy policy;
  policy.duration = request.duration.value_or(scenario->duration);
  policy.pooled = request.pooled;
  if (request.pooled) policy.scenario_digest = written->digest;
  policy.retention = options_.retention;
  policy.progress_interval = options_.progress_interval;
  for (const Hint& hint : scenario->hints) policy.hints.push_back(hint.after);
  const WallTime now = clock_.now();
  auto session = std::make_shared<Session>();
  session->scenario = scenario;
  session->lab_files = request.lab_files;
  session->machine = SessionMachine(policy, now);
  session->stored = {new_session_id(), scenario->id, request.candidate, seed, pick_vars(*scenario, seed),
                     session->machine.record(), {request.public_keys, request.password_hash}, now, now};
  {
    // The count and the insertion under one lock: two racing starts cannot both take the last place.
    std::lock_guard lock(sessions_mutex_);
    if (options_.max_live_sessions > 0) {
      int live = 0;
      for (const auto& [id, other] : sessions_) {
        std::lock_guard snapshot_lock(other->snapshot_mutex);
        if (is_live(other->snapshot.state)) ++live;
      }
      if (live >= options_.max_live_sessions) {
        return make_error(ErrorCode::Conflict, std::to_string(live) + " sessions are live, the limit is " +
                                                   std::to_string(options_.max_live_sessions) + " (sessions.max_sessions)");
      }
    }
    if (Status created = store_.create_session(session->stored); !created) return created.error();
    session->snapshot = make_view(*session);
    sessions_[session->stored.id] = session;
  }
  note(*session, "state", "provisioning");
  const std::string id = session->stored.id;
  run(session, session->machine.start());
  return view(id);
}

Result<std::optional<SessionView>> SessionEngine::claim_warm(const SessionRequest& request, const Scenario& written) {
  // A seed or lab files decide what provisioning does: a warm lab was made without them.
  if (request.seed || !request.lab_files.empty()) return std::optional<SessionView>();
  std::vector<std::pair<WallTime, SessionPtr>> warm;
  std::vector<std::string> stale;
  {
    std::lock_guard lock(sessions_mutex_);
    for (const auto& [id, session] : sessions_) {
      std::lock_guard snapshot_lock(session->snapshot_mutex);
      if (session->snapshot.state != SessionState::Warm || session->snapshot.scenario_id != written.id) continue;
      // Made from a definition the library no longer has: never handed out.
      if (session->snapshot.scenario_digest != written.digest) {
        stale.push_back(id);
        continue;
      }
      warm.emplace_back(session->snapshot.created, session);
    }
  }
  for (const std::string& id : stale) evict_warm(id, kWarmLabStale);
  // The oldest first: each waits its turn, none goes stale at the back.
  std::sort(warm.begin(), warm.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [created, session] : warm) {
    // One that is busy (a removal, another claim) is another start's or the pool's.
    std::unique_lock lock(session->work, std::try_to_lock);
    if (!lock || session->machine.state() != SessionState::Warm) continue;
    // A warm lab waits paused (nothing in it runs and changes what its baseline saw):
    // it runs again for its candidate, or it is no lab to give.
    if (Status resumed = resume_lab(*session); !resumed) {
      lock.unlock();
      evict_warm(session->stored.id, "a warm lab that could not be resumed: " + resumed.error().message);
      continue;
    }
    const WallTime now = clock_.now();
    SessionMachine claimed = session->machine;
    auto actions = claimed.claimed(request.duration.value_or(session->scenario->duration), now);
    if (!actions) continue;
    const LoginAccess access{request.public_keys, request.password_hash};
    // Stored first, whole: a pooled lab is either still warm or this candidate's.
    if (Status stored = store_.claim_session(session->stored.id, request.candidate, access, claimed.record(), now);
        !stored) {
      (void)pause_lab(*session);
      return stored.error();
    }
    {
      std::lock_guard snapshot_lock(session->snapshot_mutex);  // access() reads them under it
      session->stored.candidate = request.candidate;
      session->stored.access = access;
    }
    session->machine = std::move(claimed);
    note(*session, "claim", "a warm lab from the pool, claimed for " +
                                (request.candidate.empty() ? std::string("a candidate") : request.candidate));
    // Saved already by claim_session; a failure to save the event's snapshot queues the
    // actions for resume(), as after any event.
    if (auto ready = save_then(*session, std::move(*actions))) carry_out(*session, std::move(*ready));
    return std::optional<SessionView>(make_view(*session));
  }
  return std::optional<SessionView>();
}

Status SessionEngine::pause_lab(Session& session) {
  if (!session.lab) return {};
  for (const LabHost& host : session.lab->hosts) {
    if (Status paused = runtime_.pause_container(host.container_id); !paused) return paused;
  }
  return {};
}

Status SessionEngine::resume_lab(Session& session) {
  if (!session.lab) return make_error(ErrorCode::NotFound, "its hosts are not known");
  // One call a host on the way to a candidate (a claim answers in milliseconds); only
  // when it fails is the host looked at: one not paused (a restart resumed it) is fine.
  for (const LabHost& host : session.lab->hosts) {
    Status resumed = runtime_.unpause_container(host.container_id);
    if (resumed) continue;
    auto info = runtime_.inspect_container(host.container_id);
    if (!info || info->state != ContainerState::Running) return resumed;
  }
  return {};
}

void SessionEngine::evict_warm(const std::string& id, const std::string& why) {
  SessionPtr session = find(id);
  if (!session) return;
  std::unique_lock lock = lock_work(*session);
  // Only while still warm: a start may have claimed it since it was picked.
  if (!lock || session->machine.state() != SessionState::Warm) return;
  auto actions = save_then(*session, session->machine.failed(why, clock_.now()));
  if (actions) carry_out(*session, std::move(*actions));
}

void SessionEngine::make_room_from_pool() {
  if (options_.max_live_sessions <= 0) return;
  std::string oldest_warm;
  {
    std::lock_guard lock(sessions_mutex_);
    int live = 0;
    WallTime oldest{};
    for (const auto& [id, session] : sessions_) {
      std::lock_guard snapshot_lock(session->snapshot_mutex);
      if (!is_live(session->snapshot.state)) continue;
      ++live;
      if (session->snapshot.state == SessionState::Warm && (oldest_warm.empty() || session->snapshot.created < oldest)) {
        oldest_warm = id;
        oldest = session->snapshot.created;
      }
    }
    if (live < options_.max_live_sessions) return;
  }
  // A candidate waiting comes before a lab kept for one who may come: the pool refills
  // when there is room again.
  if (!oldest_warm.empty()) evict_warm(oldest_warm, kWarmLabRemoved);
}

std::map<std::string, SessionEngine::PooledCount> SessionEngine::pooled_counts() const {
  std::map<std::string, PooledCount> counts;
  std::lock_guard lock(sessions_mutex_);
  for (const auto& [id, session] : sessions_) {
    std::lock_guard snapshot_lock(session->snapshot_mutex);
    if (!session->snapshot.pooled) continue;
    PooledCount& count = counts[session->snapshot.scenario_id];
    ++count.pooled;
    if (session->snapshot.state == SessionState::Warm) ++count.warm;
  }
  return counts;
}

void SessionEngine::tick() {
  std::vector<SessionPtr> sessions;
  {
    std::lock_guard lock(sessions_mutex_);
    for (const auto& [id, session] : sessions_) sessions.push_back(session);
  }
  const WallTime now = clock_.now();
  for (const SessionPtr& session : sessions) {
    // The deadline ends access on time even while a progress run holds the session:
    // its grading follows when that work is done.
    bool past_deadline;
    {
      std::lock_guard lock(session->snapshot_mutex);
      past_deadline = session->snapshot.state == SessionState::Ready && now >= session->snapshot.deadline;
    }
    if (past_deadline) close_access(*session);
    // A session still busy with earlier work gets this tick's time at its next tick.
    if (session->pending.load() > 0) continue;
    {
      std::lock_guard lock(session->snapshot_mutex);
      if (session->snapshot.state == SessionState::Removed) continue;
    }
    WorkFn work = counted_work(session, session->pending, [this, session] {
      std::lock_guard lock(session->work);
      resume(*session);
    });
    if (options_.post) options_.post(std::move(work));
    else work();
  }
  // Removed sessions live on in the store only.
  std::lock_guard lock(sessions_mutex_);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    bool removed;
    {
      std::lock_guard snapshot_lock(it->second->snapshot_mutex);
      removed = it->second->snapshot.state == SessionState::Removed;
    }
    it = removed && it->second->pending.load() == 0 ? sessions_.erase(it) : std::next(it);
  }
}

Result<SessionView> SessionEngine::extend(const std::string& id, std::chrono::seconds by) {
  SessionPtr session = find(id);
  if (!session) return not_loaded(id);
  if (session->access_closed.load()) {
    return make_error(ErrorCode::Conflict, "session " + id + " has ended; its access cannot be extended");
  }
  std::unique_lock lock = lock_work(*session);
  if (!lock) return make_error(ErrorCode::Conflict, "session " + id + " is busy; try again");
  if (session->access_closed.load()) {
    return make_error(ErrorCode::Conflict, "session " + id + " has ended; its access cannot be extended");
  }
  auto actions = session->machine.extend(by, clock_.now());
  if (!actions) return actions.error();
  auto ready = save_then(*session, std::move(*actions));
  if (!ready) return ready.error();
  note(*session, "extend",
       "by " + std::to_string(by.count() / 60) + " min, deadline " + iso_time(session->machine.record().deadline));
  SessionView result = make_view(*session);
  lock.unlock();
  run(session, std::move(*ready));
  return result;
}

Result<GivenHint> SessionEngine::give_hint(const std::string& id, std::optional<int> number) {
  SessionPtr session = find(id);
  if (!session) return not_loaded(id);
  std::unique_lock lock = lock_work(*session);
  if (!lock) return make_error(ErrorCode::Conflict, "session " + id + " is busy; try again");
  if (session->access_closed.load()) {
    return make_error(ErrorCode::Conflict, "session " + id + " has ended; hints go to a candidate at work");
  }
  std::optional<int> index;
  if (number) index = *number - 1;
  auto actions = session->machine.give_hint(index);
  if (!actions) return actions.error();
  const int given = actions->front().hint;
  // Saved first: a hint the store does not know of would be given again after a restart.
  auto ready = save_then(*session, std::move(*actions));
  if (!ready) return ready.error();
  const Hint& hint = session->scenario->hints.at(static_cast<std::size_t>(given));
  GivenHint result{given + 1, static_cast<int>(session->scenario->hints.size()), hint.text, hint.cost};
  lock.unlock();
  run(session, std::move(*ready));
  return result;
}

Result<SessionView> SessionEngine::end(const std::string& id, const std::string& why) {
  SessionPtr session = find(id);
  if (!session) return not_loaded(id);
  std::vector<Action> actions;
  SessionView result;
  {
    // Access ends now, before waiting for whatever work holds the session.
    {
      std::lock_guard snapshot_lock(session->snapshot_mutex);
      if (session->snapshot.state != SessionState::Ready) {
        return make_error(ErrorCode::Conflict, std::string("cannot end a session that is ") +
                                                   to_string(session->snapshot.state));
      }
    }
    close_access(*session);
    std::unique_lock lock = lock_work(*session);
    if (!lock) return make_error(ErrorCode::Conflict, "session " + id + " is busy; try again");
    auto ended = session->machine.end_now(clock_.now());
    if (!ended) return ended.error();
    // Access is closed already; the grading waits for the save.
    auto ready = save_then(*session, std::move(*ended));
    if (!ready) return ready.error();
    actions = std::move(*ready);
    note(*session, "end", why);
    result = make_view(*session);
  }
  run(session, std::move(actions));
  return options_.post ? result : view(id);
}

Result<std::vector<CheckOutcome>> SessionEngine::grade_now(const std::string& id) {
  SessionPtr session = find(id);
  if (!session) return not_loaded(id);
  std::unique_lock lock = lock_work(*session);
  if (!lock) return make_error(ErrorCode::Conflict, "session " + id + " is busy; try again");
  if (session->machine.state() != SessionState::Ready || !session->lab || !session->scenario) {
    return make_error(ErrorCode::Conflict,
                      std::string("cannot grade a session that is ") + to_string(session->machine.state()) +
                          " (grade-now runs the checks of a ready session; the final grading follows its end)");
  }
  auto results = run_checks(script_runner(*session), *session->scenario);
  if (!results) return results.error();
  (void)store_.add_check_runs(id, to_records(*results, "manual", clock_.now()));
  count_checks(*session, *results);
  int passed = 0;
  std::vector<CheckOutcome> outcomes;
  for (const CheckResult& result : *results) {
    passed += result.passed ? 1 : 0;
    outcomes.push_back({result.name, result.expect == CheckExpectation::Fix ? "fix" : "guard", result.passed,
                        result.run.exit_code, result.run.timed_out, result.run.duration, result.run.output});
  }
  note(*session, "grade-now",
       std::to_string(passed) + " of " + std::to_string(results->size()) + " checks pass (asked by the interviewer)");
  return outcomes;
}

Result<SessionView> SessionEngine::remove(const std::string& id) {
  SessionPtr session = find(id);
  if (!session) {
    auto stored = view(id);
    if (!stored) return stored.error();
    if (stored->state == SessionState::Removed) return stored;
    return make_error(ErrorCode::Conflict, "session " + id + " is not loaded by this daemon");
  }
  std::unique_lock lock = lock_work(*session);
  if (!lock) return make_error(ErrorCode::Conflict, "session " + id + " is busy; try again");
  const SessionState state = session->machine.state();
  const WallTime now = clock_.now();
  std::vector<Action> actions;
  switch (state) {
    case SessionState::Ready:
      close_access(*session);
      actions = session->machine.failed("removed by the interviewer before the end (not graded)", now);
      break;
    case SessionState::Warm:
      actions = session->machine.failed(kWarmLabRemoved, now);
      break;
    case SessionState::Graded:
    case SessionState::Failed:
      actions = {{ActionKind::Remove}};
      break;
    case SessionState::Removed:
      return make_view(*session);
    default:
      return make_error(ErrorCode::Conflict, std::string("cannot remove a session that is ") + to_string(state) +
                                                 "; try again when it is ready, graded or failed");
  }
  auto ready = save_then(*session, std::move(actions));
  if (!ready) return ready.error();
  note(*session, "remove", "hosts removed by the interviewer");
  carry_out(*session, std::move(*ready));
  return make_view(*session);
}

Result<SessionView> SessionEngine::view(const std::string& id) const {
  if (SessionPtr session = find(id)) {
    std::lock_guard lock(session->snapshot_mutex);
    SessionView view = session->snapshot;
    view.time_left = view.state == SessionState::Ready && clock_.now() < view.deadline
                         ? std::chrono::duration_cast<std::chrono::seconds>(view.deadline - clock_.now())
                         : std::chrono::seconds(0);
    return view;
  }
  auto stored = store_.get_session(id);
  if (!stored) return stored.error();
  return view_from_stored(*stored);
}

Result<std::vector<SessionView>> SessionEngine::list() const {
  auto stored = store_.list_sessions({});
  if (!stored) return stored.error();
  for (const Error& damaged : stored->damaged) log_error(damaged.message);
  std::vector<SessionView> views;
  for (const StoredSession& entry : stored->sessions) {
    if (find(entry.id)) {
      auto live = view(entry.id);
      if (live) views.push_back(*live);
    } else {
      views.push_back(view_from_stored(entry));
    }
  }
  return views;
}

Result<SessionEngine::Timeline> SessionEngine::timeline(const std::string& id) const {
  if (!find(id)) {
    if (auto stored = store_.get_session(id); !stored) return stored.error();
  }
  Timeline timeline;
  auto events = store_.events(id);
  if (!events) return events.error();
  timeline.events = std::move(*events);
  auto runs = store_.check_runs(id);
  if (!runs) return runs.error();
  timeline.check_runs = std::move(*runs);
  return timeline;
}

Result<SessionAccess> SessionEngine::access(const std::string& id) const {
  SessionPtr session = find(id);
  if (!session) return make_error(ErrorCode::NotFound, "no live session " + id);
  std::lock_guard lock(session->snapshot_mutex);
  SessionAccess access;
  access.session_id = id;
  access.state = session->snapshot.state;
  access.open = access.state == SessionState::Ready && !session->access_closed.load() &&
                clock_.now() < session->snapshot.deadline;
  access.public_keys = session->stored.access.public_keys;
  access.password_hash = session->stored.access.password_hash;
  access.scenario = session->scenario;
  access.deadline = session->snapshot.deadline;
  access.lab = session->lab_snapshot;
  if (session->scenario) {
    const auto& hints = session->scenario->hints;
    for (int index : session->snapshot.given_hints) {
      if (index < 0 || static_cast<std::size_t>(index) >= hints.size()) continue;
      access.hints.push_back(std::to_string(index + 1) + " of " + std::to_string(hints.size()) + ": " +
                             hints[static_cast<std::size_t>(index)].text);
    }
  }
  return access;
}

int SessionEngine::busy_sessions() const {
  std::lock_guard lock(sessions_mutex_);
  int busy = 0;
  for (const auto& [id, session] : sessions_) busy += session->pending.load() > 0 ? 1 : 0;
  return busy;
}

void SessionEngine::shutdown() {
  stopping_ = true;
  // An image build under way (a session provisioning) would otherwise hold its worker
  // for as long as the build is silent.
  runtime_.cancel_long_calls();
}

std::unique_lock<TimedLock> SessionEngine::lock_work(Session& session) const {
  // In slices, so that a daemon that is stopping does not wait out a whole budget.
  const auto give_up = std::chrono::steady_clock::now() + work_wait(session.scenario);
  std::unique_lock lock(session.work, std::defer_lock);
  while (!stopping_ && std::chrono::steady_clock::now() < give_up) {
    if (lock.try_lock_for(std::chrono::milliseconds(200))) break;
  }
  return lock;
}

ScriptRunner SessionEngine::script_runner(const Session& session, bool progress_run) const {
  // The session's vars, and what the unchanged: guards compare against.
  VarValues vars = session.stored.vars;
  for (const auto& [name, listing] : session.machine.record().unchanged) vars[name] = listing;
  if (!progress_run) return ScriptRunner(runtime_, *session.lab, std::move(vars), [this] { return stopping_.load(); });
  return ScriptRunner(runtime_, *session.lab, std::move(vars),
                      [this, &session] { return stopping_.load() || session.access_closed.load(); });
}

void SessionEngine::close_access(Session& session) {
  if (session.access_closed.exchange(true)) return;
  if (notices_) notices_(session.stored.id, "time is up");
}

Result<int> SessionEngine::recover() {
  auto stored = store_.list_sessions({SessionState::Removed});
  if (!stored) return stored.error();
  // A row that cannot be read cannot be resumed; every other session still is.
  for (const Error& damaged : stored->damaged) log_error("not resumed: " + damaged.message);
  int recovered = 0;
  for (const StoredSession& entry : stored->sessions) {
    if (find(entry.id)) continue;
    ScenarioPtr scenario = scenario_for_seed(scenarios_(entry.scenario_id), entry.seed);
    auto session = std::make_shared<Session>();
    session->stored = entry;
    session->scenario = scenario;
    session->machine = SessionMachine(entry.record);
    // Its hosts are found again by their labels; without them (or its scenario) it cannot go on.
    auto lab = LabProvisioner(runtime_, options_.lab).find_lab(entry.id);
    if (lab) session->lab = *lab;
    session->snapshot = make_view(*session);
    session->lab_snapshot = session->lab;
    {
      std::lock_guard lock(sessions_mutex_);
      sessions_[entry.id] = session;
    }
    note(*session, "recovered", std::string("daemon restarted; session was ") + to_string(session->machine.state()));
    std::vector<Action> actions = session->machine.recovered(clock_.now());
    if (session->machine.state() == SessionState::Warm && scenario &&
        scenario->digest != session->machine.record().policy.scenario_digest) {
      actions = session->machine.failed(kWarmLabStale, clock_.now());
    }
    const bool needs_lab = session->machine.state() == SessionState::Ready ||
                           session->machine.state() == SessionState::Grading ||
                           session->machine.state() == SessionState::Warm;
    if (needs_lab && (!scenario || !session->lab)) {
      actions = session->machine.failed(!scenario ? "scenario " + entry.scenario_id + " is no longer loaded"
                                                  : "its hosts are gone from the engine",
                                        clock_.now());
    }
    if (auto ready = save_then(*session, std::move(actions))) run(session, std::move(*ready));
    ++recovered;
  }
  return recovered;
}

void SessionEngine::resume(Session& session) {
  if (session.unsaved.waiting) {
    if (clock_.now() < session.unsaved.retry_at || !persist(session)) return;
    carry_out(session, std::exchange(session.unsaved.actions, {}));
    return;
  }
  std::vector<Action> actions = session.machine.tick(clock_.now());
  if (auto lost = lost_host(session)) {
    // Nothing of the lab can be graded or reached: the session fails, saying why; the
    // other sessions go on.
    note(session, "lost", *lost);
    log_error(session, *lost);
    close_access(session);
    actions = session.machine.failed(*lost, clock_.now());
  } else if (auto over = disk_over_limit(session)) {
    // Access ends and the grading runs, as at `session end`: the work done so far counts.
    note(session, "disk", *over + "; the session ends now");
    log_error(session, *over);
    close_access(session);
    if (auto ended = session.machine.end_now(clock_.now())) actions = std::move(*ended);
  }
  carry_out(session, std::move(actions));
}

std::optional<std::string> SessionEngine::lost_host(Session& session) {
  const WallTime now = clock_.now();
  const SessionState state = session.machine.state();
  if (options_.host_check_interval.count() == 0 || (state != SessionState::Ready && state != SessionState::Warm) ||
      !session.lab || now < session.next_host_check) {
    return std::nullopt;
  }
  session.next_host_check = now + options_.host_check_interval;
  std::optional<std::string> lost;
  for (const LabHost& host : session.lab->hosts) {
    auto info = runtime_.inspect_container(host.container_id);
    if (info && !info->lost.empty()) {
      lost = "host " + host.name + " is lost: " + info->lost;
    } else if (!info && info.error().code == ErrorCode::NotFound) {
      lost = "host " + host.name + " is gone: it was removed outside breakfix (" + info.error().message + ")";
    } else if (!info) {
      // Any other error (the engine itself does not answer) is not the lab's: said, and
      // looked at again next time.
      log_error(session, "looking at host " + host.name + " failed: " + info.error().message);
    }
    if (lost) break;
  }
  // Two looks in a row, an interval apart: one missed heartbeat of a cluster member, seen
  // once, fails no session.
  session.lost_sightings = lost ? session.lost_sightings + 1 : 0;
  if (session.lost_sightings < 2) return std::nullopt;
  return lost;
}

std::optional<std::string> SessionEngine::disk_over_limit(Session& session) {
  const WallTime now = clock_.now();
  if (options_.max_disk_bytes == 0 || session.machine.state() != SessionState::Ready || !session.lab ||
      now < session.next_disk_check) {
    return std::nullopt;
  }
  session.next_disk_check = now + options_.disk_check_interval;
  for (const LabHost& host : session.lab->hosts) {
    auto bytes = runtime_.writable_layer_bytes(host.container_id);
    if (!bytes) {
      log_error(session, "measuring the disk of host " + host.name + " failed: " + bytes.error().message);
      continue;
    }
    if (*bytes > options_.max_disk_bytes) {
      constexpr std::uint64_t kMiB = 1024 * 1024;
      return "host " + host.name + " wrote " + std::to_string(*bytes / kMiB) + " MiB to its disk, over the limit of " +
             std::to_string(options_.max_disk_bytes / kMiB) + " MiB (sessions.max_disk_mib)";
    }
  }
  return std::nullopt;
}

void SessionEngine::carry_out(Session& session, std::vector<Action> actions) {
  // Actions may produce more actions (provisioned -> inject); all run in order.
  for (std::size_t i = 0; i < actions.size(); ++i) {
    // Stopping: the store keeps the session as of its last event; the next start resumes it.
    if (stopping_) return;
    std::vector<Action> next;
    try {
      next = act(session, actions[i]);
    } catch (const std::exception& error) {
      next = action_threw(session, actions[i], error.what());
    }
    // Stopping cut the action short (its exec was cancelled): the result is not the
    // lab's, so nothing of it is saved; the next start resumes from the last event.
    if (stopping_) return;
    actions.insert(actions.end(), next.begin(), next.end());
    if (!persist(session)) {
      // Nothing acts on a record the store does not have: what follows waits for the save.
      session.unsaved.actions.insert(session.unsaved.actions.begin(),
                                     actions.begin() + static_cast<std::ptrdiff_t>(i) + 1, actions.end());
      return;
    }
  }
}

std::vector<Action> SessionEngine::act(Session& session, const Action& action) {
  switch (action.kind) {
    case ActionKind::Provision: return provision(session);
    case ActionKind::Inject: return inject(session);
    case ActionKind::OpenAccess: note(session, "access", "candidate access opened"); return {};
    case ActionKind::Warn: {
      const int minutes = action.minutes_left;
      const std::string text = std::to_string(minutes) + (minutes == 1 ? " minute left" : " minutes left");
      note(session, "warning", text);
      if (notices_) notices_(session.stored.id, text);
      return {};
    }
    case ActionKind::ProgressCheck: grade(session, "progress"); return {};
    case ActionKind::EndAccess:
      note(session, "access", "candidate access ended");
      close_access(session);
      return {};
    case ActionKind::Grade: return grade(session, "final");
    case ActionKind::Remove: return remove_hosts(session);
    case ActionKind::GiveHint: give_hint_now(session, action.hint); return {};
  }
  return {};
}

void SessionEngine::give_hint_now(Session& session, int index) {
  const auto& hints = session.scenario->hints;
  if (index < 0 || static_cast<std::size_t>(index) >= hints.size()) return;
  const Hint& hint = hints[static_cast<std::size_t>(index)];
  const std::string number = std::to_string(index + 1) + " of " + std::to_string(hints.size());
  char cost[48] = "";
  if (hint.cost > 0) std::snprintf(cost, sizeof cost, " (costs %.0f%% of the score)", hint.cost * 100);
  note(session, "hint", number + cost + ": " + hint.text);
  if (notices_) notices_(session.stored.id, "hint " + number + ": " + hint.text);
}

std::vector<Action> SessionEngine::action_threw(Session& session, const Action& action, const std::string& what) {
  const std::string reason = std::string("internal error: ") + what;
  log_error(session, reason);
  note(session, "error", reason);
  const WallTime now = clock_.now();
  switch (action.kind) {
    case ActionKind::Provision:
    case ActionKind::Inject: return session.machine.failed(reason, now);
    case ActionKind::Grade: return grading_failed(session, reason);
    case ActionKind::Remove: return session.machine.removal_failed(reason, now);
    default: return {};
  }
}

std::vector<Action> SessionEngine::remove_hosts(Session& session) {
  Status removed = LabProvisioner(runtime_, options_.lab).remove_session(session.stored.id);
  if (removed) return session.machine.removed(clock_.now());
  const std::string reason = "removing the hosts failed: " + removed.error().message;
  std::vector<Action> next = session.machine.removal_failed(reason, clock_.now());
  note(session, "error", reason + " (again at " + iso_time(session.machine.record().retry_at) + ")");
  return next;
}

std::vector<Action> SessionEngine::provision(Session& session) {
  set_progress(session, "creating " + std::to_string(session.scenario->hosts.size()) + " host(s)");
  auto lab = LabProvisioner(runtime_, options_.lab)
                 .provision(*session.scenario, session.stored.id,
                            [&](std::string_view line) { set_progress(session, std::string(line)); });
  if (!lab) return session.machine.failed("provisioning failed: " + lab.error().message, clock_.now());
  session.lab = *lab;
  return session.machine.provisioned(clock_.now());
}

std::vector<Action> SessionEngine::inject(Session& session) {
  const ScriptRunner runner = script_runner(session);
  auto fail = [&](const std::string& reason) { return session.machine.failed(reason, clock_.now()); };
  // breakfix's own files first: setup and faults may use them, and the `unchanged:`
  // hashes and the baseline then include them, so they are never the candidate's change.
  for (const LabFile& file : session.lab_files) {
    for (const LabHost& host : session.lab->hosts) {
      set_progress(session, "installing " + file.path + " on " + host.name);
      auto installed = runner.run(host.name, {install_file_script(file), {}, std::chrono::seconds(30)},
                                  {ScriptTools::Grader, {}});
      if (!installed) return fail("installing " + file.path + " on " + host.name + ": " + installed.error().message);
      if (!installed->succeeded()) {
        return fail("installing " + file.path + " on " + host.name + ": " + describe_run(*installed));
      }
    }
  }
  LabPreparation preparation(runner, *session.scenario);
  if (auto failed = preparation.run_all([&](const std::string& step) { set_progress(session, step); })) {
    return fail(failed->summary());
  }
  session.machine.set_unchanged(preparation.unchanged());
  set_progress(session, "precheck: proving the faults bite");
  // Tamper evidence (lab_changes.h): the hosts' snapshots are taken while the precheck
  // runs, whose checks leave no trace.
  auto snapshots = std::async(std::launch::async, [&] { return snapshot_lab(runtime_, *session.lab, options_.lab); });
  auto results = run_checks(script_runner(session), *session.scenario);
  auto baselines = snapshots.get();
  set_progress(session, "");
  if (!results) return fail("precheck: " + results.error().message);
  (void)store_.add_check_runs(session.stored.id, to_records(*results, "precheck", clock_.now()));
  count_checks(session, *results);
  if (auto problems = precheck_problems(*results); !problems.empty()) return fail(problems.front().message);
  // Without a snapshot the grading could not tell tampering apart: not ready, then.
  if (!baselines) return fail("baseline: " + baselines.error().message);
  if (Status stored = store_.put_baseline(session.stored.id, baselines_to_json(*baselines)); !stored) {
    return fail("baseline: " + stored.error().message);
  }
  // The hosts' lists of changes follow in the background: the engine takes most of a
  // second per host over them, too long to keep the candidate waiting.
  session.baseline_listing = std::async(
      std::launch::async, [&runtime = runtime_, &store = store_, id = session.stored.id, lab = *session.lab,
                           listed = std::move(*baselines)]() mutable {
        if (list_baseline_changes(runtime, lab, listed)) (void)store.put_baseline(id, baselines_to_json(listed));
      });
  std::vector<Action> next = session.machine.injected(clock_.now());
  if (session.machine.state() == SessionState::Warm) {
    if (Status paused = pause_lab(session); !paused) {
      return session.machine.failed("a warm lab could not be paused: " + paused.error().message, clock_.now());
    }
  }
  return next;
}

std::vector<Action> SessionEngine::grade(Session& session, const char* phase) {
  const bool final = std::string(phase) == "final";
  if (!session.lab) return final ? session.machine.failed("grading: the session has no hosts", clock_.now()) : std::vector<Action>{};
  // A final grading tried again after a failure says so in the timeline.
  if (final && session.machine.record().failed_attempts > 0) {
    note(session, "grading", "attempt " + std::to_string(session.machine.record().failed_attempts + 1) + " of " +
                                 std::to_string(kMaxGradingAttempts) + " (the last failed: " +
                                 session.machine.record().last_error + ")");
  }
  // What the candidate changed, before the final checks run (their traces are not the candidate's).
  LabChanges changes;
  if (final) changes = lab_changes(session);
  auto results = run_checks(script_runner(session, !final), *session.scenario,
                            final ? CheckSelection::All : CheckSelection::Progress);
  if (!results && !final && session.access_closed.load()) {
    note(session, "progress", "progress run stopped: the candidate's access ended");
    return {};
  }
  if (!results) {
    const std::string reason = std::string(phase) + " checks could not run: " + results.error().message;
    note(session, "error", reason);
    return final ? grading_failed(session, reason) : std::vector<Action>{};
  }
  // Results are stored before anything is removed (Remove only follows graded()).
  count_checks(session, *results);
  if (Status stored = store_.add_check_runs(session.stored.id, to_records(*results, phase, clock_.now())); !stored) {
    const std::string reason = "storing check results failed: " + stored.error().message;
    note(session, "error", reason);
    return final ? grading_failed(session, reason) : std::vector<Action>{};
  }
  if (!final) return {};
  Report report;
  {
    // The events read and the report stored as one step: a note written meanwhile waits.
    std::lock_guard report_lock(report_mutex_);
    SessionRecord graded = session.machine.record();
    graded.state = SessionState::Graded;
    // A customer scenario's reply, read while the hosts are certainly there.
    std::optional<ReplyText> reply;
    if (session.scenario->reply) reply = read_reply(runtime_, *session.lab, *session.scenario->reply);
    ReportInput input = report_input(session.stored, *session.scenario, graded, &changes);
    input.reply = reply ? &*reply : nullptr;
    report = build_report(input);
    if (Status stored = publish_report(session.stored.id, report); !stored) {
      const std::string reason = "storing the report failed: " + stored.error().message;
      note(session, "error", reason);
      return grading_failed(session, reason);
    }
  }
  char score[16];
  std::snprintf(score, sizeof score, "%.0f%%", report.score * 100);
  note(session, "graded", std::string("score ") + score);
  session.score = report.score;
  session.tampered = changes.tampered();
  return session.machine.graded(clock_.now());
}

ReportInput SessionEngine::report_input(const StoredSession& stored, const Scenario& scenario,
                                        const SessionRecord& record, const LabChanges* changes) const {
  auto runs = store_.check_runs(stored.id);
  auto events = store_.events(stored.id);
  ReportInput input{stored.id, &scenario, stored.candidate, stored.seed, stored.vars, record,
                    runs ? *runs : std::vector<CheckRunRecord>{}, events ? *events : std::vector<SessionEvent>{},
                    {}, {}, changes};
  if (!options_.recordings_dir.empty()) {
    const std::filesystem::path dir = options_.recordings_dir / stored.id;
    const std::vector<std::string> names = list_recordings(dir);
    std::copy_if(names.begin(), names.end(), std::back_inserter(input.recordings), is_terminal_recording);
    input.channels = read_channel_records(dir, names);
  }
  return input;
}

Status SessionEngine::publish_report(const std::string& id, const Report& report) {
  if (Status stored = store_.put_report(id, report.json, report.markdown); !stored) return stored;
  if (!options_.report_dir.empty()) {
    for (const auto& [extension, text] : {std::pair{".json", &report.json}, std::pair{".md", &report.markdown}}) {
      if (Status written = write_file_atomically(options_.report_dir / (id + extension), *text); !written) {
        log_error("session " + id + ": " + written.error().message);  // the store has it; the file is a convenience
      }
    }
  }
  return {};
}

ScenarioPtr SessionEngine::scenario_of(const StoredSession& stored) const {
  if (SessionPtr session = find(stored.id)) return session->scenario;
  return scenario_for_seed(scenarios_(stored.scenario_id), stored.seed);
}

Status SessionEngine::add_judgement(const StoredSession& stored, const Scenario& scenario, const SessionEvent& event) {
  std::lock_guard lock(report_mutex_);
  if (event.kind == kNoteEvent) {
    auto events = store_.events(stored.id);
    if (!events) return events.error();
    const auto notes = std::count_if(events->begin(), events->end(), [](const SessionEvent& e) { return e.kind == kNoteEvent; });
    if (static_cast<std::size_t>(notes) >= kMaxNotesPerSession) {
      return make_error(ErrorCode::Conflict, "session " + stored.id + " has " + std::to_string(notes) +
                                                 " notes, the most a session keeps");
    }
  }
  if (Status added = store_.add_event(stored.id, event); !added) return added;
  auto existing = store_.report(stored.id);
  if (!existing) return {};  // no report yet: the grading's will have the event
  auto facts = grading_facts_from_report(existing->first);
  if (!facts) {
    log_error("session " + stored.id + ": the report was not written again: " + facts.error().message);
    return {};
  }
  SessionRecord record = stored.record;
  record.state = SessionState::Graded;  // what the report describes, whatever came after
  ReportInput input = report_input(stored, scenario, record, &facts->changes);
  input.reply = facts->reply ? &*facts->reply : nullptr;
  if (Status published = publish_report(stored.id, build_report(input)); !published) {
    log_error("session " + stored.id + ": the report was not written again: " + published.error().message);
  }
  return {};
}

Result<SessionEvent> SessionEngine::add_note(const std::string& id, const std::string& text) {
  if (std::string problem = note_problem(text); !problem.empty()) return make_error(ErrorCode::Invalid, "text: " + problem);
  auto stored = store_.get_session(id);
  if (!stored) return stored.error();
  ScenarioPtr scenario = scenario_of(*stored);
  if (!scenario) return make_error(ErrorCode::Conflict, "scenario " + stored->scenario_id + " is no longer loaded");
  const SessionEvent event{clock_.now(), kNoteEvent, text};
  if (Status added = add_judgement(*stored, *scenario, event); !added) return added.error();
  return event;
}

Result<GivenRating> SessionEngine::rate(const std::string& id, const std::string& criterion_name, int level) {
  auto stored = store_.get_session(id);
  if (!stored) return stored.error();
  ScenarioPtr scenario = scenario_of(*stored);
  if (!scenario) return make_error(ErrorCode::Conflict, "scenario " + stored->scenario_id + " is no longer loaded");
  const RubricCriterion* criterion = scenario->find_criterion(criterion_name);
  if (!criterion) {
    std::string known;
    for (const RubricCriterion& each : scenario->rubric) known += (known.empty() ? "" : ", ") + each.name;
    return make_error(ErrorCode::Invalid, "criterion: '" + criterion_name + "' is not in the rubric of scenario " +
                                              scenario->id + (known.empty() ? ", which has none" : " (" + known + ")"));
  }
  const int of = static_cast<int>(criterion->levels.size());
  if (level < 1 || level > of) {
    return make_error(ErrorCode::Invalid, "level: " + criterion->name + " is rated from 1 to " + std::to_string(of) +
                                              ", not " + std::to_string(level));
  }
  if (Status added = add_judgement(*stored, *scenario, {clock_.now(), kRatingEvent, rating_detail(*criterion, level)});
      !added) {
    return added.error();
  }
  return GivenRating{criterion->name, level, of, criterion->levels[static_cast<std::size_t>(level - 1)]};
}

LabChanges SessionEngine::lab_changes(Session& session) {
  set_progress(session, "comparing the hosts with how they were at ready");
  if (session.baseline_listing.valid()) session.baseline_listing.get();
  std::vector<HostBaseline> baselines;
  auto stored = store_.baseline(session.stored.id);
  if (stored) {
    auto parsed = baselines_from_json(*stored);
    if (parsed) baselines = std::move(*parsed);
    else note(session, "error", parsed.error().message);
  } else if (stored.error().code != ErrorCode::NotFound) {
    note(session, "error", "reading the baseline failed: " + stored.error().message);
  }
  LabChanges changes = compare_lab(runtime_, *session.lab, *session.scenario, baselines, options_.lab);
  set_progress(session, "");
  for (const HostChanges& host : changes.hosts) {
    std::string paths;
    for (const PathChange& change : host.changes) {
      if (change.tampering) paths += (paths.empty() ? "" : ", ") + change.path;
    }
    if (!paths.empty()) note(session, "tampering", "host " + host.host + ": " + paths);
    if (host.error) note(session, "error", "host " + host.host + ": " + *host.error);
  }
  return changes;
}

bool SessionEngine::persist(Session& session) {
  const WallTime now = clock_.now();
  if (Status saved = store_.update_session(session.stored.id, session.machine.record(), now); !saved) {
    Session::Unsaved& unsaved = session.unsaved;
    unsaved.waiting = true;
    ++unsaved.failures;
    unsaved.retry_at = now + retry_delay(unsaved.failures);
    unsaved.error = "saving session " + session.stored.id + " failed: " + saved.error().message +
                    " (its last change waits; saved again at " + iso_time(unsaved.retry_at) + ")";
    log_error(session, unsaved.error);
    return false;
  }
  if (session.unsaved.failures > 0) {
    note(session, "error", "saving the session failed " + std::to_string(session.unsaved.failures) +
                               " time(s) (" + session.unsaved.error + "); saved now");
  }
  session.unsaved.waiting = false;
  session.unsaved.failures = 0;
  // The snapshot holds what the store has: its state is the one before this event.
  SessionView snapshot = make_view(session);
  SessionState before;
  {
    std::lock_guard lock(session.snapshot_mutex);
    before = session.snapshot.state;
    session.snapshot = snapshot;
    session.lab_snapshot = session.lab;
  }
  const SessionState after = snapshot.state;
  if (after != before && on_change_) on_change_(snapshot, before);
  if (after != before) {
    note(session, "state", std::string(to_string(after)) +
                               (after == SessionState::Failed ? ": " + session.machine.record().failure : ""));
  }
  return true;
}

Result<std::vector<Action>> SessionEngine::save_then(Session& session, std::vector<Action> actions) {
  std::vector<Action>& waiting = session.unsaved.actions;
  waiting.insert(waiting.end(), actions.begin(), actions.end());
  if (!persist(session)) return make_error(ErrorCode::Unavailable, session.unsaved.error);
  return std::exchange(waiting, {});
}

void SessionEngine::log_error(const Session& session, const std::string& message) const {
  if (options_.log_error) options_.log_error(session.stored.id, message);
}

void SessionEngine::log_error(const std::string& message) const {
  if (options_.log_error) options_.log_error("", message);
}

std::vector<Action> SessionEngine::grading_failed(Session& session, const std::string& reason) {
  std::vector<Action> next = session.machine.grading_failed(reason, clock_.now());
  const SessionRecord& record = session.machine.record();
  if (record.state == SessionState::Grading) {
    note(session, "error", "grading attempt " + std::to_string(record.failed_attempts) + " of " +
                               std::to_string(kMaxGradingAttempts) + " failed; again at " + iso_time(record.retry_at));
  }
  return next;
}

void SessionEngine::note(Session& session, const std::string& kind, const std::string& detail) {
  (void)store_.add_event(session.stored.id, {clock_.now(), kind, detail});
}

void SessionEngine::count_checks(Session& session, const std::vector<CheckResult>& results) {
  int passing = 0;
  for (const CheckResult& result : results) passing += result.passed ? 1 : 0;
  std::lock_guard lock(session.snapshot_mutex);
  session.checks_passing = session.snapshot.checks_passing = passing;
  session.checks_total = session.snapshot.checks_total = static_cast<int>(results.size());
}

void SessionEngine::set_progress(Session& session, std::string progress) {
  std::lock_guard lock(session.snapshot_mutex);
  session.progress = progress;
  session.snapshot.progress = std::move(progress);
}

SessionView SessionEngine::make_view(const Session& session) const {
  const SessionRecord& record = session.machine.record();
  SessionView view;
  view.checks_passing = session.checks_passing;
  view.checks_total = session.checks_total;
  view.pooled = record.policy.pooled && (record.state == SessionState::Provisioning ||
                                         record.state == SessionState::Injecting || record.state == SessionState::Warm);
  view.scenario_digest = record.policy.scenario_digest;
  view.id = session.stored.id;
  view.scenario_id = session.stored.scenario_id;
  view.candidate = session.stored.candidate;
  view.state = record.state;
  view.failure = record.failure;
  view.progress = session.progress;
  view.seed = session.stored.seed;
  view.vars = session.stored.vars;
  if (session.scenario) {
    view.scenario_title = session.scenario->title;
    view.variant = session.scenario->variant;
    for (const Host& host : session.scenario->hosts) {
      view.hosts.push_back(host.name);
      if (host.entry) view.entry_host = host.name;
    }
  }
  view.created = record.created;
  view.ready_at = record.ready_at;
  view.deadline = record.deadline;
  view.ended_at = record.ended_at;
  view.graded_at = record.graded_at;
  view.remove_at = record.remove_at;
  view.duration = record.policy.duration;
  view.time_left = session.machine.time_left(clock_.now());
  view.score = session.score;
  view.tampered = session.tampered;
  view.public_keys = static_cast<int>(session.stored.access.public_keys.size());
  view.password = !session.stored.access.password_hash.empty();
  view.hints_given = static_cast<int>(record.hints_given.size());
  view.given_hints.assign(record.hints_given.begin(), record.hints_given.end());
  view.hints_total = static_cast<int>(record.policy.hints.size());
  return view;
}

SessionView SessionEngine::view_from_stored(const StoredSession& stored) const {
  Session session;
  session.stored = stored;
  session.scenario = scenario_for_seed(scenarios_(stored.scenario_id), stored.seed);
  session.machine = SessionMachine(stored.record);
  if (auto report = store_.report(stored.id)) {
    const json parsed = json::parse(report->first, nullptr, false);
    if (parsed.is_object() && parsed.contains("score") && parsed["score"].is_number()) session.score = parsed["score"].get<double>();
    if (parsed.is_object() && parsed.contains("tampering") && parsed["tampering"].is_object() &&
        parsed["tampering"].value("tampered", json()).is_boolean()) {
      session.tampered = parsed["tampering"]["tampered"].get<bool>();
    }
  }
  return make_view(session);
}

}  // namespace breakfix
