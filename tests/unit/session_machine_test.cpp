// The session lifecycle on a fake clock: a 90-minute session runs here in milliseconds.

#include <doctest/doctest.h>

#include <algorithm>

#include "session/session_machine.h"

using namespace breakfix;
using namespace std::chrono_literals;

namespace {

// Drives a machine through time in steps, collecting the actions with their minute.
struct Timeline {
  SessionMachine& machine;
  FakeClock& clock;
  std::vector<std::pair<int, Action>> actions;  // (minutes since ready, action)
  WallTime ready;

  void run_until(std::chrono::seconds end, std::chrono::seconds step = 30s) {
    while (clock.now() - ready < end) {
      clock.advance(step);
      for (const Action& action : machine.tick(clock.now())) {
        actions.emplace_back(static_cast<int>(std::chrono::duration_cast<std::chrono::minutes>(clock.now() - ready).count()), action);
      }
    }
  }
  std::vector<int> warnings() const {
    std::vector<int> out;
    for (const auto& [minute, action] : actions) {
      if (action.kind == ActionKind::Warn) out.push_back(action.minutes_left);
    }
    return out;
  }
  int count(ActionKind kind) const {
    int n = 0;
    for (const auto& [minute, action] : actions) n += action.kind == kind;
    return n;
  }
};

SessionMachine ready_session(FakeClock& clock, SessionPolicy policy = {}) {
  SessionMachine machine(policy, clock.now());
  CHECK(machine.start() == std::vector<Action>{{ActionKind::Provision}});
  clock.advance(20s);
  CHECK(machine.provisioned(clock.now()) == std::vector<Action>{{ActionKind::Inject}});
  clock.advance(5s);
  CHECK(machine.injected(clock.now()) == std::vector<Action>{{ActionKind::OpenAccess}});
  CHECK(machine.state() == SessionState::Ready);
  return machine;
}

}  // namespace

TEST_CASE("A 90-minute session warns at 15, 5 and 1 minutes, checks progress, grades at the deadline, then retains") {
  FakeClock clock;
  SessionMachine machine = ready_session(clock);
  const WallTime ready = clock.now();
  CHECK(machine.record().deadline == ready + 90min);
  CHECK(machine.time_left(ready) == 90min);

  Timeline timeline{machine, clock, {}, ready};
  timeline.run_until(90min);
  CHECK(timeline.warnings() == std::vector<int>{15, 5, 1});
  for (const auto& [minute, action] : timeline.actions) {
    if (action.kind == ActionKind::Warn) CHECK(minute == 90 - action.minutes_left);  // on time
  }
  CHECK(timeline.count(ActionKind::ProgressCheck) == 44);  // every 2 minutes before the deadline
  CHECK(timeline.actions.back().second == Action{ActionKind::Grade});
  CHECK(timeline.actions[timeline.actions.size() - 2].second == Action{ActionKind::EndAccess});
  CHECK(machine.state() == SessionState::Grading);
  CHECK(machine.record().ended_at == ready + 90min);

  clock.advance(10s);
  CHECK(machine.graded(clock.now()).empty());
  CHECK(machine.state() == SessionState::Graded);
  CHECK(machine.record().remove_at == clock.now() + 60min);
  Timeline retention{machine, clock, {}, ready};
  retention.run_until(90min + 10s + 60min, 60s);
  CHECK(retention.count(ActionKind::Remove) >= 1);
  machine.removed(clock.now());
  CHECK(machine.state() == SessionState::Removed);
  CHECK(machine.tick(clock.now() + 24h).empty());
}

TEST_CASE("Extending moves the deadline and gives passed warnings again when they come round") {
  FakeClock clock;
  SessionMachine machine = ready_session(clock);
  const WallTime ready = clock.now();
  Timeline timeline{machine, clock, {}, ready};
  timeline.run_until(80min);
  CHECK(timeline.warnings() == std::vector<int>{15});
  REQUIRE(machine.extend(15min, clock.now()).ok());
  CHECK(machine.record().deadline == ready + 105min);
  CHECK(machine.time_left(clock.now()) == 25min);
  timeline.run_until(105min);
  CHECK(timeline.warnings() == std::vector<int>{15, 15, 5, 1});
  CHECK(machine.state() == SessionState::Grading);
  CHECK(machine.record().ended_at == ready + 105min);
}

TEST_CASE("Ending early grades at once, a session not ready cannot be extended or ended") {
  FakeClock clock;
  SessionMachine machine = ready_session(clock);
  clock.advance(30min);
  auto ended = machine.end_now(clock.now());
  REQUIRE(ended.ok());
  CHECK(*ended == std::vector<Action>{{ActionKind::EndAccess}, {ActionKind::Grade}});
  CHECK(machine.state() == SessionState::Grading);
  CHECK(machine.extend(10min, clock.now()).error().code == ErrorCode::Conflict);
  CHECK(machine.end_now(clock.now()).error().code == ErrorCode::Conflict);

  SessionMachine fresh({}, clock.now());
  CHECK(fresh.extend(10min, clock.now()).error().code == ErrorCode::Conflict);
  SessionMachine other = ready_session(clock);
  CHECK(other.extend(0s, clock.now()).error().code == ErrorCode::Invalid);
}

TEST_CASE("A failure at any step fails the session with its reason and removes the hosts") {
  FakeClock clock;
  SessionMachine provisioning({}, clock.now());
  CHECK(provisioning.failed("image missing", clock.now()) == std::vector<Action>{{ActionKind::Remove}});
  CHECK(provisioning.state() == SessionState::Failed);
  CHECK(provisioning.record().failure == "image missing");

  SessionMachine injecting({}, clock.now());
  injecting.provisioned(clock.now());
  CHECK(injecting.failed("fault did not take effect: checkout answers 200", clock.now()) ==
        std::vector<Action>{{ActionKind::Remove}});
  CHECK(injecting.injected(clock.now()).empty());  // a late event changes nothing

  SessionMachine ready = ready_session(clock);
  CHECK(ready.failed("engine lost", clock.now()) == std::vector<Action>{{ActionKind::EndAccess}, {ActionKind::Remove}});
  ready.removed(clock.now());
  CHECK(ready.state() == SessionState::Removed);
}

TEST_CASE("A short session skips warnings it starts inside, progress checks can be turned off") {
  FakeClock clock;
  SessionPolicy policy;
  policy.duration = 10min;
  policy.progress_interval = 0s;
  SessionMachine machine = ready_session(clock, policy);
  Timeline timeline{machine, clock, {}, clock.now()};
  timeline.run_until(10min);
  CHECK(timeline.warnings() == std::vector<int>{5, 1});
  CHECK(timeline.count(ActionKind::ProgressCheck) == 0);
  CHECK(machine.state() == SessionState::Grading);
}

TEST_CASE("After a restart each state resumes correctly from its stored record") {
  FakeClock clock;
  auto restart = [&](const SessionMachine& before) { return SessionMachine(before.record()); };

  SessionMachine provisioning({}, clock.now());
  SessionMachine recovered = restart(provisioning);
  CHECK(recovered.recovered(clock.now()) == std::vector<Action>{{ActionKind::Remove}});
  CHECK(recovered.state() == SessionState::Failed);
  CHECK(recovered.record().failure == "interrupted while provisioning by a daemon restart");

  SessionMachine injecting({}, clock.now());
  injecting.provisioned(clock.now());
  recovered = restart(injecting);
  recovered.recovered(clock.now());
  CHECK(recovered.record().failure == "interrupted while injecting by a daemon restart");

  // Ready, and the daemon was down across the deadline: grading starts on recovery.
  SessionMachine ready = ready_session(clock);
  const WallTime deadline = ready.record().deadline;
  clock.advance(95min);
  recovered = restart(ready);
  CHECK(recovered.recovered(clock.now()) == std::vector<Action>{{ActionKind::EndAccess}, {ActionKind::Grade}});
  CHECK(recovered.state() == SessionState::Grading);

  // Ready, deadline still ahead: it stays ready with the same wall-clock deadline.
  SessionMachine early = ready_session(clock);
  clock.advance(10min);
  recovered = restart(early);
  auto actions = recovered.recovered(clock.now());
  CHECK(recovered.state() == SessionState::Ready);
  CHECK(recovered.record().deadline == early.record().deadline);
  CHECK(recovered.time_left(clock.now()) == 80min);
  CHECK(std::count(actions.begin(), actions.end(), Action{ActionKind::ProgressCheck}) == 1);  // one, not five caught up
  (void)deadline;

  // Grading was interrupted: it runs again.
  SessionMachine grading = ready_session(clock);
  REQUIRE(grading.end_now(clock.now()).ok());
  recovered = restart(grading);
  CHECK(recovered.recovered(clock.now()) == std::vector<Action>{{ActionKind::EndAccess}, {ActionKind::Grade}});
  CHECK(recovered.state() == SessionState::Grading);

  // Graded and retention over while down: removal; failed: removal again (idempotent).
  SessionMachine graded = ready_session(clock);
  REQUIRE(graded.end_now(clock.now()).ok());
  graded.graded(clock.now());
  clock.advance(61min);
  recovered = restart(graded);
  CHECK(recovered.recovered(clock.now()) == std::vector<Action>{{ActionKind::Remove}});
  SessionMachine failed_session({}, clock.now());
  failed_session.failed("x", clock.now());
  CHECK(restart(failed_session).recovered(clock.now()) == std::vector<Action>{{ActionKind::Remove}});
  SessionMachine removed_session = restart(failed_session);
  removed_session.removed(clock.now());
  CHECK(restart(removed_session).recovered(clock.now()).empty());
}

TEST_CASE("A final grading that fails is tried again with backoff, then fails the session and keeps its hosts") {
  FakeClock clock;
  SessionMachine machine = ready_session(clock);
  REQUIRE(machine.end_now(clock.now()).ok());
  CHECK(machine.grading_failed("store down", clock.now()).empty());
  CHECK(machine.state() == SessionState::Grading);
  CHECK(machine.record().failed_attempts == 1);
  CHECK(machine.record().last_error == "store down");
  CHECK(machine.tick(clock.now() + 29s).empty());  // not before the backoff
  CHECK(machine.tick(clock.now() + 30s) == std::vector<Action>{{ActionKind::Grade}});
  clock.advance(30s);
  machine.grading_failed("store down", clock.now());
  CHECK(machine.record().retry_at == clock.now() + 60s);  // doubled
  for (int attempt = 3; attempt < kMaxGradingAttempts; ++attempt) machine.grading_failed("store down", clock.now());
  CHECK(machine.state() == SessionState::Grading);
  machine.grading_failed("store down", clock.now());
  CHECK(machine.state() == SessionState::Failed);
  CHECK(machine.record().failure == "grading failed 5 times: store down");
  // The interviewer can still look at the hosts for the retention.
  CHECK(machine.tick(clock.now() + 59min).empty());
  CHECK(machine.tick(clock.now() + 60min) == std::vector<Action>{{ActionKind::Remove}});

  SessionMachine recovered(machine.record());
  CHECK(recovered.graded(clock.now()).empty());  // a late result changes nothing
}

TEST_CASE("A removal that fails is tried again from tick, backing off to 10 minutes, for as long as it fails") {
  FakeClock clock;
  SessionMachine machine({}, clock.now());
  CHECK(machine.failed("image missing", clock.now()) == std::vector<Action>{{ActionKind::Remove}});
  std::vector<std::chrono::seconds> waits;
  for (int attempt = 1; attempt <= 8; ++attempt) {
    machine.removal_failed("engine down", clock.now());
    const auto wait = std::chrono::duration_cast<std::chrono::seconds>(machine.record().retry_at - clock.now());
    waits.push_back(wait);
    CHECK(machine.tick(clock.now() + wait - 1s).empty());
    clock.advance(wait);
    CHECK(machine.tick(clock.now()) == std::vector<Action>{{ActionKind::Remove}});
  }
  CHECK(waits == std::vector<std::chrono::seconds>{30s, 60s, 120s, 240s, 480s, 600s, 600s, 600s});
  machine.removed(clock.now());
  CHECK(machine.state() == SessionState::Removed);
  CHECK(machine.record().failed_attempts == 0);

  // A graded session's removal backs off the same way, and not before its retention.
  SessionMachine graded = ready_session(clock);
  REQUIRE(graded.end_now(clock.now()).ok());
  graded.graded(clock.now());
  CHECK(graded.tick(clock.now()).empty());
  clock.advance(graded.record().policy.retention);
  CHECK(graded.tick(clock.now()) == std::vector<Action>{{ActionKind::Remove}});
  graded.removal_failed("engine down", clock.now());
  CHECK(graded.tick(clock.now()).empty());
  CHECK(graded.tick(clock.now() + 30s) == std::vector<Action>{{ActionKind::Remove}});
}

TEST_CASE("Timed hints are given once at their time after ready, the interviewer's in order, each once") {
  FakeClock clock;
  SessionPolicy policy;
  policy.hints = {std::chrono::seconds(10 * 60), std::nullopt, std::chrono::seconds(20 * 60)};
  SessionMachine machine = ready_session(clock, policy);
  const WallTime ready = clock.now();
  Timeline timeline{machine, clock, {}, ready};
  timeline.run_until(15min);
  REQUIRE(timeline.count(ActionKind::GiveHint) == 1);
  // The interviewer's next: the first not given, hint 2 (index 1), which has no time.
  auto next = machine.give_hint(std::nullopt);
  REQUIRE(next.ok());
  CHECK(*next == std::vector<Action>{{ActionKind::GiveHint, 0, 1}});
  CHECK(machine.give_hint(1).error().code == ErrorCode::Conflict);
  CHECK(machine.give_hint(7).error().code == ErrorCode::NotFound);
  REQUIRE(machine.give_hint(2).ok());  // ahead of its time
  timeline.run_until(25min);
  CHECK(timeline.count(ActionKind::GiveHint) == 1);  // not again at 20 minutes
  CHECK(machine.give_hint(std::nullopt).error().message == "all 3 hints were given");
  CHECK(machine.record().hints_given == std::set<int>{0, 1, 2});
  REQUIRE(machine.end_now(clock.now()).ok());
  CHECK(machine.give_hint(std::nullopt).error().code == ErrorCode::Conflict);
}
