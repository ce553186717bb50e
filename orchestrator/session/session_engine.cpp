#include "session/session_engine.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "session/grader.h"
#include "session/report.h"
#include "session/script_runner.h"

namespace breakfix {
namespace {

using nlohmann::json;

std::int64_t ms(WallTime time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}
WallTime from_ms(std::int64_t value) { return WallTime(std::chrono::milliseconds(value)); }

SessionState state_from(const std::string& text) {
  for (SessionState state : {SessionState::Provisioning, SessionState::Injecting, SessionState::Ready,
                             SessionState::Grading, SessionState::Graded, SessionState::Failed, SessionState::Removed}) {
    if (text == to_string(state)) return state;
  }
  return SessionState::Failed;
}

std::string new_session_id() {
  static constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";  // no look-alikes: it is typed in ssh
  std::uint64_t value = random_seed();
  std::string id;
  for (int i = 0; i < 10; ++i, value >>= 5) id += kAlphabet[value & 31];
  return id;
}

// Writes `text` to `file` whole or not at all: a reader never sees half a report.
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

std::vector<CheckRunRecord> to_records(const std::vector<CheckResult>& results, const char* phase, WallTime now) {
  std::vector<CheckRunRecord> records;
  for (const CheckResult& result : results) {
    records.push_back({now, phase, result.name, result.passed, result.run.exit_code, result.run.timed_out,
                       result.run.duration, result.run.output});
  }
  return records;
}

}  // namespace

std::string record_to_json(const SessionRecord& r) {
  json warnings = json::array();
  for (int minutes : r.warned_minutes) warnings.push_back(minutes);
  json policy_warnings = json::array();
  for (auto minutes : r.policy.warnings) policy_warnings.push_back(minutes.count());
  return json{{"state", to_string(r.state)},
              {"failure", r.failure},
              {"duration_s", r.policy.duration.count()},
              {"retention_s", r.policy.retention.count()},
              {"progress_interval_s", r.policy.progress_interval.count()},
              {"warnings_min", policy_warnings},
              {"created_ms", ms(r.created)},
              {"ready_at_ms", ms(r.ready_at)},
              {"deadline_ms", ms(r.deadline)},
              {"ended_at_ms", ms(r.ended_at)},
              {"graded_at_ms", ms(r.graded_at)},
              {"remove_at_ms", ms(r.remove_at)},
              {"next_progress_ms", ms(r.next_progress)},
              {"warned_min", warnings}}
      .dump();
}

Result<SessionRecord> record_from_json(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(ErrorCode::Internal, "stored session record is not JSON");
  try {
    SessionRecord r;
    r.state = state_from(j.at("state").get<std::string>());
    r.failure = j.at("failure").get<std::string>();
    r.policy.duration = std::chrono::seconds(j.at("duration_s").get<std::int64_t>());
    r.policy.retention = std::chrono::seconds(j.at("retention_s").get<std::int64_t>());
    r.policy.progress_interval = std::chrono::seconds(j.at("progress_interval_s").get<std::int64_t>());
    r.policy.warnings.clear();
    for (const json& minutes : j.at("warnings_min")) r.policy.warnings.emplace_back(minutes.get<int>());
    r.created = from_ms(j.at("created_ms").get<std::int64_t>());
    r.ready_at = from_ms(j.at("ready_at_ms").get<std::int64_t>());
    r.deadline = from_ms(j.at("deadline_ms").get<std::int64_t>());
    r.ended_at = from_ms(j.at("ended_at_ms").get<std::int64_t>());
    r.graded_at = from_ms(j.at("graded_at_ms").get<std::int64_t>());
    r.remove_at = from_ms(j.at("remove_at_ms").get<std::int64_t>());
    r.next_progress = from_ms(j.at("next_progress_ms").get<std::int64_t>());
    for (const json& minutes : j.at("warned_min")) r.warned_minutes.insert(minutes.get<int>());
    return r;
  } catch (const json::exception& error) {
    return make_error(ErrorCode::Internal, std::string("stored session record is incomplete: ") + error.what());
  }
}

struct SessionEngine::Session {
  StoredSession stored;
  ScenarioPtr scenario;
  VarValues vars;
  SessionMachine machine;
  std::optional<Lab> lab;
};

SessionEngine::SessionEngine(Runtime& runtime, Store& store, const Clock& clock, ScenarioLookup scenarios,
                             EngineOptions options, NoticeFn notices)
    : runtime_(runtime),
      store_(store),
      clock_(clock),
      scenarios_(std::move(scenarios)),
      options_(options),
      notices_(std::move(notices)) {}

SessionEngine::~SessionEngine() = default;
SessionEngine::SessionEngine(SessionEngine&&) noexcept = default;

Result<SessionView> SessionEngine::start(const SessionRequest& request) {
  ScenarioPtr scenario = scenarios_(request.scenario_id);
  if (!scenario) return make_error(ErrorCode::NotFound, "no scenario '" + request.scenario_id + "'");
  SessionPolicy policy;
  policy.duration = request.duration.value_or(scenario->duration);
  policy.retention = options_.retention;
  policy.progress_interval = options_.progress_interval;
  const WallTime now = clock_.now();
  const std::uint64_t seed = request.seed.value_or(random_seed());
  auto session = std::make_unique<Session>(Session{{}, scenario, pick_vars(*scenario, seed), SessionMachine(policy, now), {}});
  session->stored = {new_session_id(), scenario->id, request.candidate, seed, json(session->vars).dump(),
                     record_to_json(session->machine.record()), to_string(SessionState::Provisioning), now, now};
  if (Status created = store_.create_session(session->stored); !created) return created.error();
  Session& ref = *session;
  sessions_[ref.stored.id] = std::move(session);
  note(ref, "state", "provisioning");
  carry_out(ref, ref.machine.start());
  return make_view(ref);
}

void SessionEngine::tick() {
  for (auto& [id, session] : sessions_) carry_out(*session, session->machine.tick(clock_.now()));
}

Result<SessionView> SessionEngine::extend(const std::string& id, std::chrono::seconds by) {
  auto found = sessions_.find(id);
  if (found == sessions_.end()) return make_error(ErrorCode::NotFound, "no session " + id);
  Session& session = *found->second;
  const SessionState before = session.machine.state();
  auto actions = session.machine.extend(by, clock_.now());
  if (!actions) return actions.error();
  persist(session, before);
  note(session, "extend", "by " + std::to_string(by.count() / 60) + " min, deadline " + iso_time(session.machine.record().deadline));
  return make_view(session);
}

Result<SessionView> SessionEngine::end(const std::string& id) {
  auto found = sessions_.find(id);
  if (found == sessions_.end()) return make_error(ErrorCode::NotFound, "no session " + id);
  Session& session = *found->second;
  const SessionState before = session.machine.state();
  auto actions = session.machine.end_now(clock_.now());
  if (!actions) return actions.error();
  persist(session, before);
  note(session, "end", "ended early by the interviewer");
  carry_out(session, *actions);
  return make_view(session);
}

Result<SessionView> SessionEngine::view(const std::string& id) const {
  auto found = sessions_.find(id);
  if (found == sessions_.end()) return make_error(ErrorCode::NotFound, "no session " + id);
  return make_view(*found->second);
}

Result<int> SessionEngine::recover() {
  auto stored = store_.list_sessions({to_string(SessionState::Removed)});
  if (!stored) return stored.error();
  int recovered = 0;
  for (const StoredSession& entry : *stored) {
    if (sessions_.count(entry.id)) continue;
    auto record = record_from_json(entry.record_json);
    if (!record) return record.error();
    ScenarioPtr scenario = scenarios_(entry.scenario_id);
    auto session = std::make_unique<Session>(Session{entry, scenario, {}, SessionMachine(*record), {}});
    const json vars = json::parse(entry.vars_json, nullptr, false);
    if (vars.is_object()) {
      for (const auto& [name, value] : vars.items()) {
        if (value.is_string()) session->vars[name] = value.get<std::string>();
      }
    }
    Session& ref = *session;
    sessions_[entry.id] = std::move(session);
    // Its hosts are found again by their labels; without them (or its scenario) it cannot go on.
    auto lab = LabProvisioner(runtime_, options_.lab).find_lab(entry.id);
    if (lab) ref.lab = *lab;
    note(ref, "recovered", std::string("daemon restarted; session was ") + to_string(ref.machine.state()));
    std::vector<Action> actions = ref.machine.recovered(clock_.now());
    const bool needs_lab = ref.machine.state() == SessionState::Ready || ref.machine.state() == SessionState::Grading;
    if (needs_lab && (!scenario || !ref.lab)) {
      actions = ref.machine.failed(!scenario ? "scenario " + entry.scenario_id + " is no longer loaded"
                                             : "its hosts are gone from the engine",
                                   clock_.now());
    }
    persist(ref, state_from(entry.state));
    carry_out(ref, actions);
    ++recovered;
  }
  return recovered;
}

void SessionEngine::carry_out(Session& session, std::vector<Action> actions) {
  // Actions may produce more actions (provisioned -> inject); all run in order.
  for (std::size_t i = 0; i < actions.size(); ++i) {
    const SessionState before = session.machine.state();
    std::vector<Action> next;
    switch (actions[i].kind) {
      case ActionKind::Provision: next = provision(session); break;
      case ActionKind::Inject: next = inject(session); break;
      case ActionKind::OpenAccess: note(session, "access", "candidate access opened"); break;
      case ActionKind::Warn:
        note(session, "warning", std::to_string(actions[i].minutes_left) + " minutes left");
        if (notices_) notices_(session.stored.id, std::to_string(actions[i].minutes_left) + " minutes left");
        break;
      case ActionKind::ProgressCheck: grade(session, "progress"); break;
      case ActionKind::EndAccess:
        note(session, "access", "candidate access ended");
        if (notices_) notices_(session.stored.id, "time is up");
        break;
      case ActionKind::Grade: next = grade(session, "final"); break;
      case ActionKind::Remove: {
        Status removed = LabProvisioner(runtime_, options_.lab).remove_session(session.stored.id);
        if (removed) next = session.machine.removed(clock_.now());
        else note(session, "error", "removing the hosts failed: " + removed.error().message);
        break;
      }
    }
    persist(session, before);
    actions.insert(actions.end(), next.begin(), next.end());
  }
}

std::vector<Action> SessionEngine::provision(Session& session) {
  auto lab = LabProvisioner(runtime_, options_.lab).provision(*session.scenario, session.stored.id, nullptr);
  if (!lab) return session.machine.failed("provisioning failed: " + lab.error().message, clock_.now());
  session.lab = *lab;
  return session.machine.provisioned(clock_.now());
}

std::vector<Action> SessionEngine::inject(Session& session) {
  const ScriptRunner runner(runtime_, *session.lab, session.vars);
  auto fail = [&](const std::string& reason) { return session.machine.failed(reason, clock_.now()); };
  for (const Host& host : session.scenario->hosts) {
    if (!host.setup) continue;
    auto run = runner.run(host.name, *host.setup);
    if (!run) return fail("setup of host " + host.name + ": " + run.error().message);
    if (!run->succeeded()) return fail("setup of host " + host.name + " failed (exit " + std::to_string(run->exit_code) + ")");
  }
  for (const Fault& fault : session.scenario->faults) {
    auto run = runner.run(fault.host, fault.run);
    if (!run) return fail("fault '" + fault.name + "': " + run.error().message);
    if (!run->succeeded()) return fail("fault '" + fault.name + "' failed (exit " + std::to_string(run->exit_code) + ")");
  }
  auto results = run_checks(runner, *session.scenario);
  if (!results) return fail("precheck: " + results.error().message);
  (void)store_.add_check_runs(session.stored.id, to_records(*results, "precheck", clock_.now()));
  for (const CheckResult& result : *results) {
    if (result.expect == CheckExpectation::Fix && result.passed) return fail("fault did not take effect: " + result.name);
    if (result.expect == CheckExpectation::Guard && !result.passed) return fail("guard fails before the fix: " + result.name);
  }
  return session.machine.injected(clock_.now());
}

std::vector<Action> SessionEngine::grade(Session& session, const char* phase) {
  const bool final = std::string(phase) == "final";
  if (!session.lab) return final ? session.machine.failed("grading: the session has no hosts", clock_.now()) : std::vector<Action>{};
  const ScriptRunner runner(runtime_, *session.lab, session.vars);
  auto results = run_checks(runner, *session.scenario);
  if (!results) {
    note(session, "error", std::string(phase) + " checks could not run: " + results.error().message);
    // A final grading that cannot run stays in grading: recover() or the next attempt re-runs it.
    return {};
  }
  // Results are stored before anything is removed (Remove only follows graded()).
  if (Status stored = store_.add_check_runs(session.stored.id, to_records(*results, phase, clock_.now())); !stored) {
    note(session, "error", "storing check results failed: " + stored.error().message);
    return {};
  }
  if (!final) return {};
  auto runs = store_.check_runs(session.stored.id);
  auto events = store_.events(session.stored.id);
  ReportInput input{session.stored.id, session.scenario.get(), session.stored.candidate, session.stored.seed, session.vars,
                    session.machine.record(), runs ? *runs : std::vector<CheckRunRecord>{},
                    events ? *events : std::vector<SessionEvent>{}};
  input.record.state = SessionState::Graded;
  const Report report = build_report(input);
  if (Status stored = store_.put_report(session.stored.id, report.json, report.markdown); !stored) {
    note(session, "error", "storing the report failed: " + stored.error().message);
    return {};
  }
  if (!options_.report_dir.empty()) {
    for (const auto& [extension, text] : {std::pair{".json", &report.json}, std::pair{".md", &report.markdown}}) {
      if (Status written = write_file_atomically(options_.report_dir / (session.stored.id + extension), *text); !written) {
        note(session, "error", written.error().message);  // the store has it; the file is a convenience
      }
    }
  }
  char score[16];
  std::snprintf(score, sizeof score, "%.0f%%", report.score * 100);
  note(session, "graded", std::string("score ") + score);
  return session.machine.graded(clock_.now());
}

void SessionEngine::persist(Session& session, SessionState before) {
  const SessionState after = session.machine.state();
  session.stored.state = to_string(after);
  (void)store_.update_session(session.stored.id, session.stored.state, record_to_json(session.machine.record()), clock_.now());
  if (after != before) {
    note(session, "state", std::string(to_string(after)) +
                               (after == SessionState::Failed ? ": " + session.machine.record().failure : ""));
  }
}

void SessionEngine::note(Session& session, const std::string& kind, const std::string& detail) {
  (void)store_.add_event(session.stored.id, {clock_.now(), kind, detail});
}

SessionView SessionEngine::make_view(const Session& session) const {
  const SessionRecord& record = session.machine.record();
  return {session.stored.id, session.stored.scenario_id, session.stored.candidate, record.state, record.failure,
          session.stored.seed, session.vars, record.deadline, session.machine.time_left(clock_.now())};
}

}  // namespace breakfix
