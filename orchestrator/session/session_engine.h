#pragma once

// The session engine: keeps every session's state machine, carries out the actions it
// asks for on the runtime (LabProvisioner, ScriptRunner, grader), and writes the record
// to the store after every event, before the next action, so that a daemon killed at any
// moment resumes each session from the store (recover()).
//
// Threads: one thread drives the engine (the daemon's session loop; a test). Calls block
// while they work: start() provisions and injects before it returns.

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "breakfix/clock.h"
#include "breakfix/lab.h"
#include "breakfix/scenario.h"
#include "breakfix/store.h"
#include "session/session_machine.h"
#include "session/vars.h"

namespace breakfix {

struct SessionRequest {
  std::string scenario_id;
  std::string candidate;
  std::optional<std::uint64_t> seed;           // else random, recorded
  std::optional<std::chrono::seconds> duration;  // else the scenario's
};

struct EngineOptions {
  std::chrono::seconds retention{60 * 60};
  std::chrono::seconds progress_interval{2 * 60};
  LabOptions lab;
  // Also write each report as <dir>/<session>.json and .md (empty: the store only).
  std::filesystem::path report_dir;
};

// What the gateway needs to hear (warnings, end of access): session id and a line.
using NoticeFn = std::function<void(const std::string& session_id, const std::string& notice)>;
using ScenarioLookup = std::function<ScenarioPtr(const std::string& id)>;

struct SessionView {
  std::string id;
  std::string scenario_id;
  std::string candidate;
  SessionState state = SessionState::Provisioning;
  std::string failure;
  std::uint64_t seed = 0;
  VarValues vars;
  WallTime deadline{};
  std::chrono::seconds time_left{0};
};

class SessionEngine {
 public:
  SessionEngine(Runtime& runtime, Store& store, const Clock& clock, ScenarioLookup scenarios, EngineOptions options,
                NoticeFn notices);
  ~SessionEngine();
  SessionEngine(SessionEngine&&) noexcept;

  // Creates a session and brings it to ready (or failed: the view says why).
  // NotFound for an unknown scenario.
  Result<SessionView> start(const SessionRequest& request);
  // Time passes for every live session: warnings, progress checks, deadlines, removal.
  void tick();
  Result<SessionView> extend(const std::string& id, std::chrono::seconds by);
  Result<SessionView> end(const std::string& id);
  Result<SessionView> view(const std::string& id) const;
  // After a restart: every session in the store that is not removed is loaded again and
  // resumes (see SessionMachine::recovered). Returns how many were recovered.
  Result<int> recover();

 private:
  struct Session;
  void carry_out(Session& session, std::vector<Action> actions);
  std::vector<Action> provision(Session& session);
  std::vector<Action> inject(Session& session);
  std::vector<Action> grade(Session& session, const char* phase);
  void persist(Session& session, SessionState before);
  void note(Session& session, const std::string& kind, const std::string& detail);
  SessionView make_view(const Session& session) const;

  Runtime& runtime_;
  Store& store_;
  const Clock& clock_;
  ScenarioLookup scenarios_;
  EngineOptions options_;
  NoticeFn notices_;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
};

// SessionRecord <-> JSON (what the store keeps).
std::string record_to_json(const SessionRecord& record);
Result<SessionRecord> record_from_json(const std::string& json);

}  // namespace breakfix
