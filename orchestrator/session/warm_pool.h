#pragma once

// The warm pool (sessions.warm: {SCENARIO: N}): keeps N labs of each scenario
// provisioned, injected and prechecked, so that a start answers ready at once
// (SessionEngine::start claims one). Each pooled lab is an ordinary engine session made
// with SessionRequest::pooled: it counts against the limits, shows in lists, metrics and
// gc as any session does, survives a restart warm, and once claimed is one candidate's
// for good; the pool only ever makes new ones.
//
// refill() runs from the daemon's tick. A scenario whose pooled labs keep failing is
// refilled after a backoff (30 s, doubling, at most 10 minutes), so that a broken
// scenario is not provisioned over and over; the status says why.

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "breakfix/clock.h"
#include "session/session_engine.h"

namespace breakfix {

struct WarmPoolStatus {
  std::string scenario_id;
  int target = 0;
  int pooled = 0;  // made for the pool and not claimed yet (preparing or warm)
  int warm = 0;    // of those, ready to claim
  int failures = 0;  // pooled labs that failed in a row
  std::string last_error;
};

class WarmPool {
 public:
  WarmPool(SessionEngine& engine, const Clock& clock, const std::map<std::string, int>& targets);

  // Starts what each scenario lacks (those in backoff wait); never more than the target.
  void refill();
  std::vector<WarmPoolStatus> status() const;

 private:
  struct Pool {
    int target = 0;
    std::vector<std::string> sessions;  // the pool's sessions not yet seen warm or gone
    int failures = 0;
    WallTime retry_at{};
    std::string last_error;
  };
  // What became of the sessions this pool made: warm ones clear the failures, failed
  // ones count and start the backoff.
  void follow(Pool& pool);

  SessionEngine& engine_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  std::map<std::string, Pool> pools_;
};

}  // namespace breakfix
