#include "session/session_machine.h"

#include <algorithm>

namespace breakfix {

using std::chrono::duration_cast;
using std::chrono::seconds;

std::chrono::seconds retry_delay(int failed_attempts) {
  const int doublings = std::clamp(failed_attempts - 1, 0, 5);
  return std::min(seconds(30) * (1 << doublings), seconds(10 * 60));
}

SessionMachine::SessionMachine(SessionPolicy policy, WallTime now) {
  record_.policy = std::move(policy);
  record_.created = now;
}

std::vector<Action> SessionMachine::start() { return {{ActionKind::Provision}}; }

std::vector<Action> SessionMachine::provisioned(WallTime) {
  if (record_.state != SessionState::Provisioning) return {};
  record_.state = SessionState::Injecting;
  return {{ActionKind::Inject}};
}

std::vector<Action> SessionMachine::injected(WallTime now) {
  if (record_.state != SessionState::Injecting) return {};
  if (record_.policy.pooled) {
    record_.state = SessionState::Warm;  // no clock, no access: it waits for a candidate
    return {};
  }
  return open(now);
}

Result<std::vector<Action>> SessionMachine::claimed(std::chrono::seconds duration, WallTime now) {
  if (record_.state != SessionState::Warm) {
    return make_error(ErrorCode::Conflict, std::string("only a warm session can be claimed; this one is ") +
                                               to_string(record_.state));
  }
  record_.policy.duration = duration;
  record_.policy.pooled = false;  // a candidate's now
  return open(now);
}

std::vector<Action> SessionMachine::open(WallTime now) {
  record_.state = SessionState::Ready;
  record_.ready_at = now;
  record_.deadline = now + record_.policy.duration;
  record_.warned_minutes.clear();
  record_.next_progress = now + record_.policy.progress_interval;
  std::vector<Action> actions = {{ActionKind::OpenAccess}};
  // A session shorter than a warning threshold starts inside it: no warning for that one.
  for (auto minutes : record_.policy.warnings) {
    if (record_.policy.duration <= minutes) record_.warned_minutes.insert(static_cast<int>(minutes.count()));
  }
  return actions;
}

std::vector<Action> SessionMachine::failed(const std::string& reason, WallTime now) {
  if (record_.state == SessionState::Removed || record_.state == SessionState::Failed) return {};
  const bool had_access = record_.state == SessionState::Ready;
  record_.state = SessionState::Failed;
  record_.failure = reason;
  record_.ended_at = now;
  std::vector<Action> actions;
  if (had_access) actions.push_back({ActionKind::EndAccess});
  actions.push_back({ActionKind::Remove});
  return actions;
}

std::vector<Action> SessionMachine::begin_grading(WallTime now) {
  record_.state = SessionState::Grading;
  record_.ended_at = now;
  return {{ActionKind::EndAccess}, {ActionKind::Grade}};
}

std::vector<Action> SessionMachine::tick(WallTime now) {
  std::vector<Action> actions;
  switch (record_.state) {
    case SessionState::Ready: {
      if (now >= record_.deadline) return begin_grading(now);
      const auto left = record_.deadline - now;
      // Only the tightest threshold crossed since the last tick is announced.
      int warn = 0;
      for (auto minutes : record_.policy.warnings) {
        const int m = static_cast<int>(minutes.count());
        if (left <= minutes && !record_.warned_minutes.count(m)) {
          record_.warned_minutes.insert(m);
          warn = warn == 0 ? m : std::min(warn, m);
        }
      }
      if (warn > 0) actions.push_back({ActionKind::Warn, warn});
      for (int i = 0; i < static_cast<int>(record_.policy.hints.size()); ++i) {
        const auto& after = record_.policy.hints[static_cast<std::size_t>(i)];
        if (after && now >= record_.ready_at + *after && record_.hints_given.insert(i).second) {
          actions.push_back({ActionKind::GiveHint, 0, i});
        }
      }
      if (record_.policy.progress_interval.count() > 0 && now >= record_.next_progress) {
        actions.push_back({ActionKind::ProgressCheck});
        // Skipped runs (the daemon was down) are not caught up: one run, then on schedule.
        while (record_.next_progress <= now) record_.next_progress += record_.policy.progress_interval;
      }
      return actions;
    }
    case SessionState::Grading:
      if (record_.failed_attempts > 0 && now >= record_.retry_at) actions.push_back({ActionKind::Grade});
      return actions;
    case SessionState::Graded:
    case SessionState::Failed:
      if (removal_due(now)) actions.push_back({ActionKind::Remove});
      return actions;
    default:
      return actions;
  }
}

Result<std::vector<Action>> SessionMachine::extend(seconds by, WallTime now) {
  if (record_.state != SessionState::Ready) {
    return make_error(ErrorCode::Conflict, std::string("cannot extend a session that is ") + to_string(record_.state));
  }
  if (by.count() <= 0) return make_error(ErrorCode::Invalid, "extend by a positive duration");
  record_.deadline += by;
  // Warnings whose threshold now lies ahead again will be given again when reached.
  const auto left = record_.deadline - now;
  for (auto it = record_.warned_minutes.begin(); it != record_.warned_minutes.end();) {
    it = left > std::chrono::minutes(*it) ? record_.warned_minutes.erase(it) : std::next(it);
  }
  return std::vector<Action>{};
}

Result<std::vector<Action>> SessionMachine::end_now(WallTime now) {
  if (record_.state != SessionState::Ready) {
    return make_error(ErrorCode::Conflict, std::string("cannot end a session that is ") + to_string(record_.state));
  }
  record_.deadline = now;
  return begin_grading(now);
}

Result<std::vector<Action>> SessionMachine::give_hint(std::optional<int> index) {
  if (record_.state != SessionState::Ready) {
    return make_error(ErrorCode::Conflict, std::string("cannot give a hint in a session that is ") + to_string(record_.state));
  }
  const int count = static_cast<int>(record_.policy.hints.size());
  if (!index) {
    for (int i = 0; i < count && !index; ++i) {
      if (!record_.hints_given.count(i)) index = i;
    }
    if (!index) {
      return make_error(ErrorCode::Conflict, count == 0 ? std::string("the scenario has no hints")
                                                        : "all " + std::to_string(count) + " hints were given");
    }
  }
  if (*index < 0 || *index >= count) {
    return make_error(ErrorCode::NotFound, "no hint " + std::to_string(*index + 1) + " (the scenario has " +
                                               std::to_string(count) + ")");
  }
  if (!record_.hints_given.insert(*index).second) {
    return make_error(ErrorCode::Conflict, "hint " + std::to_string(*index + 1) + " was given already");
  }
  return std::vector<Action>{{ActionKind::GiveHint, 0, *index}};
}

std::vector<Action> SessionMachine::graded(WallTime now) {
  if (record_.state != SessionState::Grading) return {};
  clear_retry();
  record_.state = SessionState::Graded;
  record_.graded_at = now;
  record_.remove_at = now + record_.policy.retention;
  if (record_.policy.retention.count() == 0) return {{ActionKind::Remove}};
  return {};
}

std::vector<Action> SessionMachine::removed(WallTime) {
  if (record_.state == SessionState::Graded || record_.state == SessionState::Failed) {
    record_.state = SessionState::Removed;
    clear_retry();
  }
  return {};
}

std::vector<Action> SessionMachine::grading_failed(const std::string& reason, WallTime now) {
  if (record_.state != SessionState::Grading) return {};
  schedule_retry(reason, now);
  if (record_.failed_attempts < kMaxGradingAttempts) return {};
  // Access has ended already; the hosts stay for the retention, as a graded session's do.
  record_.state = SessionState::Failed;
  record_.failure = "grading failed " + std::to_string(record_.failed_attempts) + " times: " + reason;
  clear_retry();
  record_.remove_at = now + record_.policy.retention;
  return {};
}

std::vector<Action> SessionMachine::removal_failed(const std::string& reason, WallTime now) {
  if (record_.state != SessionState::Graded && record_.state != SessionState::Failed) return {};
  schedule_retry(reason, now);
  return {};
}

void SessionMachine::schedule_retry(const std::string& reason, WallTime now) {
  ++record_.failed_attempts;
  record_.retry_at = now + retry_delay(record_.failed_attempts);
  record_.last_error = reason;
}

void SessionMachine::clear_retry() {
  record_.failed_attempts = 0;
  record_.retry_at = {};
  record_.last_error.clear();
}

bool SessionMachine::removal_due(WallTime now) const {
  if (record_.failed_attempts > 0) return now >= record_.retry_at;
  return now >= record_.remove_at;
}

std::vector<Action> SessionMachine::recovered(WallTime now) {
  switch (record_.state) {
    case SessionState::Provisioning:
    case SessionState::Injecting:
      return failed(std::string("interrupted while ") + to_string(record_.state) + " by a daemon restart", now);
    case SessionState::Warm:
      return {};  // its lab is whole and nobody's yet: it waits on
    case SessionState::Grading:
      return {{ActionKind::EndAccess}, {ActionKind::Grade}};
    case SessionState::Failed:
      return {{ActionKind::Remove}};  // its removal may not have finished
    case SessionState::Ready:
    case SessionState::Graded:
      return tick(now);
    case SessionState::Removed:
      return {};
  }
  return {};
}

std::chrono::seconds SessionMachine::time_left(WallTime now) const {
  if (record_.state != SessionState::Ready || now >= record_.deadline) return seconds(0);
  return duration_cast<seconds>(record_.deadline - now);
}

}  // namespace breakfix
