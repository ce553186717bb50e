#pragma once

// A Store that hands every call to a real one, except the calls `fail` picks, which
// fail as a full disk or a locked database would: to prove that the engine survives a
// failing store at any step.

#include <functional>
#include <mutex>
#include <set>
#include <string>

#include "breakfix/store.h"

namespace breakfix::testing {

class FlakyStore : public Store {
 public:
  explicit FlakyStore(Store& inner) : inner_(inner) {}

  // Asked before each call with the method and the call's number (1-based, counting
  // every method): true fails that call.
  std::function<bool(const std::string& method, int call)> fail;

  int calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

  Status create_session(const StoredSession& session) override {
    if (failing("create_session")) return injected();
    return inner_.create_session(session);
  }
  Status update_session(const std::string& id, const SessionRecord& record, WallTime now) override {
    if (failing("update_session")) return injected();
    return inner_.update_session(id, record, now);
  }
  Status claim_session(const std::string& id, const std::string& candidate, const LoginAccess& access,
                       const SessionRecord& record, WallTime now) override {
    if (failing("claim_session")) return injected();
    return inner_.claim_session(id, candidate, access, record, now);
  }
  Result<StoredSession> get_session(const std::string& id) override {
    if (failing("get_session")) return injected();
    return inner_.get_session(id);
  }
  // Sessions listed as damaged rows, as a store whose row cannot be read lists them.
  std::set<std::string> damaged;

  Result<SessionList> list_sessions(const std::vector<SessionState>& except_states) override {
    if (failing("list_sessions")) return injected();
    auto list = inner_.list_sessions(except_states);
    if (!list) return list;
    std::erase_if(list->sessions, [&](const StoredSession& session) {
      if (!damaged.count(session.id)) return false;
      list->damaged.push_back(make_error(ErrorCode::Failed, "session " + session.id + ": record_json.state: damaged"));
      return true;
    });
    return list;
  }
  Status add_event(const std::string& session_id, const SessionEvent& event) override {
    if (failing("add_event")) return injected();
    return inner_.add_event(session_id, event);
  }
  Result<std::vector<SessionEvent>> events(const std::string& session_id) override {
    if (failing("events")) return injected();
    return inner_.events(session_id);
  }
  Status add_check_runs(const std::string& session_id, const std::vector<CheckRunRecord>& runs) override {
    if (failing("add_check_runs")) return injected();
    return inner_.add_check_runs(session_id, runs);
  }
  Result<std::vector<CheckRunRecord>> check_runs(const std::string& session_id) override {
    if (failing("check_runs")) return injected();
    return inner_.check_runs(session_id);
  }
  Status put_baseline(const std::string& session_id, const std::string& json) override {
    if (failing("put_baseline")) return injected();
    return inner_.put_baseline(session_id, json);
  }
  Result<std::string> baseline(const std::string& session_id) override {
    if (failing("baseline")) return injected();
    return inner_.baseline(session_id);
  }
  Status put_report(const std::string& session_id, const std::string& json, const std::string& markdown) override {
    if (failing("put_report")) return injected();
    return inner_.put_report(session_id, json, markdown);
  }
  Result<std::pair<std::string, std::string>> report(const std::string& session_id) override {
    if (failing("report")) return injected();
    return inner_.report(session_id);
  }
  Status create_plan_session(const StoredPlanSession& session) override {
    if (failing("create_plan_session")) return injected();
    return inner_.create_plan_session(session);
  }
  Status update_plan_session(const std::string& id, const PlanSessionRecord& record, WallTime now) override {
    if (failing("update_plan_session")) return injected();
    return inner_.update_plan_session(id, record, now);
  }
  Result<StoredPlanSession> get_plan_session(const std::string& id) override {
    if (failing("get_plan_session")) return injected();
    return inner_.get_plan_session(id);
  }
  Result<std::vector<StoredPlanSession>> list_plan_sessions(std::vector<Error>* damaged_rows) override {
    if (failing("list_plan_sessions")) return injected();
    return inner_.list_plan_sessions(damaged_rows);
  }

 private:
  bool failing(const std::string& method) {
    std::lock_guard lock(mutex_);
    ++calls_;
    return fail && fail(method, calls_);
  }
  static Error injected() { return make_error(ErrorCode::Unavailable, "injected store failure: database is locked"); }

  Store& inner_;
  mutable std::mutex mutex_;
  int calls_ = 0;
};

}  // namespace breakfix::testing
