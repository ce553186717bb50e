#pragma once

// What a session is between daemon runs, as typed values: the state machine's whole state
// (SessionRecord), the vars its seed picked and how its candidate logs in. The session
// layer computes them, the store (breakfix/store.h) keeps them and owns how they are
// written down; neither sees the other's code.

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "breakfix/clock.h"

namespace breakfix {

//   provisioning -> injecting -> ready -> grading -> graded -> removed
//         \              \          \         \ (grading re-run after a restart)
//          +--------------+----------+---------> failed (with a reason) -> removed
// Warm: a pooled lab (sessions.warm), provisioned, injected and prechecked, that waits
// for its candidate without a clock; claiming it makes it ready.
enum class SessionState { Provisioning, Injecting, Warm, Ready, Grading, Graded, Failed, Removed };

inline constexpr SessionState kSessionStates[] = {SessionState::Provisioning, SessionState::Injecting,
                                                  SessionState::Warm,         SessionState::Ready,
                                                  SessionState::Grading,      SessionState::Graded,
                                                  SessionState::Failed,       SessionState::Removed};

// The names the API, the CLI and the store use.
inline const char* to_string(SessionState state) {
  switch (state) {
    case SessionState::Provisioning: return "provisioning";
    case SessionState::Injecting: return "injecting";
    case SessionState::Warm: return "warm";
    case SessionState::Ready: return "ready";
    case SessionState::Grading: return "grading";
    case SessionState::Graded: return "graded";
    case SessionState::Failed: return "failed";
    case SessionState::Removed: return "removed";
  }
  return "unknown";
}

// The state named `name`; nullopt for a name that is none.
inline std::optional<SessionState> session_state_from(std::string_view name) {
  for (SessionState state : kSessionStates) {
    if (name == to_string(state)) return state;
  }
  return std::nullopt;
}

struct SessionPolicy {
  std::chrono::seconds duration{90 * 60};          // from the scenario, or the session's override
  std::chrono::seconds retention{60 * 60};         // hosts kept after grading for inspection
  std::chrono::seconds progress_interval{2 * 60};  // quiet check runs for the timeline; 0: none
  std::vector<std::chrono::minutes> warnings = {std::chrono::minutes(15), std::chrono::minutes(5),
                                                std::chrono::minutes(1)};
  // The scenario's hints, in order: when each is given on its own after ready (none:
  // only when the interviewer gives it).
  std::vector<std::optional<std::chrono::seconds>> hints;
  // Made for the warm pool: once injected it waits, warm, until a start claims it.
  bool pooled = false;
  std::string scenario_digest;  // Scenario::digest of what a pooled lab was made from
};

// Everything the state machine (session/session_machine.h) knows; persisted as is.
struct SessionRecord {
  SessionState state = SessionState::Provisioning;
  std::string failure;        // why, when failed
  SessionPolicy policy;
  WallTime created{};
  WallTime ready_at{};        // the deadline counts from here
  WallTime deadline{};
  WallTime ended_at{};        // access ended (deadline or end early)
  WallTime graded_at{};
  WallTime remove_at{};       // end of retention
  WallTime next_progress{};   // next quiet check run
  std::set<int> warned_minutes;  // warnings already given for the current deadline
  // A grading or a removal that failed is tried again by tick() at retry_at, with a
  // backoff that grows with failed_attempts; 0 once it succeeds.
  int failed_attempts = 0;
  WallTime retry_at{};
  std::string last_error;  // why the last attempt failed
  std::set<int> hints_given;  // indexes into policy.hints
  // What the hosts' `unchanged:` paths held after the faults, by the var their guards
  // read (record_unchanged in session/grader.h).
  std::map<std::string, std::string> unchanged;
};

// Each variable's value for one session: {"PORT": "9000"}.
using VarValues = std::map<std::string, std::string>;

// How the candidate logs in: public keys in authorized_keys form, and the one-time
// password's hash (empty: no password).
struct LoginAccess {
  std::vector<std::string> public_keys;
  std::string password_hash;
};

}  // namespace breakfix
