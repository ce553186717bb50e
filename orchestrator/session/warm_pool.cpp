#include "session/warm_pool.h"

#include "session/session_machine.h"

namespace breakfix {

WarmPool::WarmPool(SessionEngine& engine, const Clock& clock, const std::map<std::string, int>& targets)
    : engine_(engine), clock_(clock) {
  for (const auto& [scenario_id, target] : targets) pools_[scenario_id].target = target;
}

void WarmPool::follow(Pool& pool) {
  for (auto it = pool.sessions.begin(); it != pool.sessions.end();) {
    auto view = engine_.view(*it);
    const SessionState state = view ? view->state : SessionState::Removed;
    if (state == SessionState::Provisioning || state == SessionState::Injecting) {
      ++it;
      continue;
    }
    if ((state == SessionState::Failed || state == SessionState::Removed) && view && !view->failure.empty() &&
        view->failure != kWarmLabRemoved && view->failure != kWarmLabStale) {
      // It failed on the way to warm (a failed lab's hosts go at once: it may be removed already).
      ++pool.failures;
      pool.last_error = view->failure;
      pool.retry_at = clock_.now() + retry_delay(pool.failures);
    } else if (state != SessionState::Failed && state != SessionState::Removed) {
      pool.failures = 0;  // warm (or claimed already): the scenario provisions
      pool.last_error.clear();
    }
    it = pool.sessions.erase(it);
  }
}

void WarmPool::refill() {
  const auto pooled = engine_.pooled_counts();
  std::lock_guard lock(mutex_);
  for (auto& [scenario_id, pool] : pools_) {
    follow(pool);
    if (pool.failures > 0 && clock_.now() < pool.retry_at) continue;
    auto have = pooled.find(scenario_id);
    int missing = pool.target - (have == pooled.end() ? 0 : have->second.pooled);
    // After a failure, one at a time until one turns warm again.
    if (pool.failures > 0) missing = std::min(missing, pool.sessions.empty() ? 1 : 0);
    for (; missing > 0; --missing) {
      SessionRequest request;
      request.scenario_id = scenario_id;
      request.pooled = true;
      auto started = engine_.start(request);
      if (!started) {
        // The limit (the pool waits for room), or a scenario that is gone from the library.
        pool.last_error = started.error().message;
        break;
      }
      pool.sessions.push_back(started->id);
    }
  }
}

std::vector<WarmPoolStatus> WarmPool::status() const {
  const auto pooled = engine_.pooled_counts();
  std::vector<WarmPoolStatus> result;
  std::lock_guard lock(mutex_);
  for (const auto& [scenario_id, pool] : pools_) {
    auto count = pooled.find(scenario_id);
    if (pool.target == 0 && count == pooled.end()) continue;
    WarmPoolStatus status;
    status.scenario_id = scenario_id;
    status.target = pool.target;
    if (count != pooled.end()) {
      status.pooled = count->second.pooled;
      status.warm = count->second.warm;
    }
    status.failures = pool.failures;
    status.last_error = pool.last_error;
    result.push_back(std::move(status));
  }
  return result;
}

}  // namespace breakfix
