// The gateway's login limits (gateway/login_limiter.h): what an attacker from another
// address can and cannot do to a candidate, and what the limiter keeps in memory.

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gateway/login_limiter.h"

using namespace breakfix;
using namespace std::chrono_literals;

namespace {

struct FakeTime {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  LoginLimiter::Now function() {
    return [this] { return now; };
  }
};

LoginLimits limits() {
  LoginLimits l;
  l.free_failures = 3;
  l.max_failures = 5;
  l.window = 300s;
  l.first_delay = 1000ms;
  l.max_password_checks = 2;
  l.max_tracked = 100;
  return l;
}

}  // namespace

TEST_CASE("logins: an attacker's failures refuse the attacker and never the candidate's key") {
  FakeTime time;
  LoginLimiter limiter(limits(), time.function());
  for (int i = 0; i < 30; ++i) limiter.failed("127.0.0.2", "abcdefghij");
  // The attacker's own address is refused.
  CHECK_FALSE(limiter.admit("127.0.0.2", "abcdefghij", LoginMethod::Password).has_value());
  CHECK_FALSE(limiter.admit("127.0.0.2", "abcdefghij", LoginMethod::Key).has_value());
  // The candidate, from their own address: a key gets in at once, a password waits at most.
  CHECK(limiter.admit("127.0.0.1", "abcdefghij", LoginMethod::Key) == 0ms);
  auto password = limiter.admit("127.0.0.1", "abcdefghij", LoginMethod::Password);
  REQUIRE(password.has_value());
  CHECK(*password == 4000ms);  // 5 failures kept (the cap), 2 past the free ones: 1 s doubled twice
  // Other sessions are untouched.
  CHECK(limiter.admit("127.0.0.1", "klmnopqrst", LoginMethod::Password) == 0ms);
}

TEST_CASE("logins: delays double past the free failures and failures expire with the window") {
  FakeTime time;
  LoginLimiter limiter(limits(), time.function());
  std::vector<std::chrono::milliseconds> waits;
  for (int i = 0; i < 5; ++i) {
    waits.push_back(*limiter.admit("10.0.0.1", "s", LoginMethod::Password));
    limiter.failed("10.0.0.1", "s");
  }
  CHECK(waits == std::vector<std::chrono::milliseconds>{0ms, 0ms, 0ms, 1000ms, 2000ms});
  CHECK_FALSE(limiter.admit("10.0.0.1", "s", LoginMethod::Password).has_value());
  time.now += 301s;
  CHECK(limiter.admit("10.0.0.1", "s", LoginMethod::Password) == 0ms);
  CHECK(limiter.tracked_addresses() == 0);  // expired entries are dropped when looked at
}

TEST_CASE("logins: a success takes back the failure counted before the check") {
  FakeTime time;
  LoginLimiter limiter(limits(), time.function());
  for (int i = 0; i < 10; ++i) {
    limiter.failed("10.0.0.1", "s");
    limiter.succeeded("10.0.0.1", "s");
  }
  CHECK(limiter.admit("10.0.0.1", "s", LoginMethod::Password) == 0ms);
  CHECK(limiter.tracked_addresses() == 0);
  CHECK(limiter.tracked_sessions() == 0);
  limiter.failed("10.0.0.1", "");  // no session: only the address is counted
  CHECK(limiter.tracked_addresses() == 1);
  CHECK(limiter.tracked_sessions() == 0);
}

TEST_CASE("logins: memory is bounded however many addresses and sessions fail") {
  FakeTime time;
  LoginLimiter limiter(limits(), time.function());
  for (int i = 0; i < 10000; ++i) {
    time.now += 1ms;
    limiter.failed("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".1",
                   "session" + std::to_string(i));
  }
  CHECK(limiter.tracked_addresses() == 100);
  CHECK(limiter.tracked_sessions() == 100);
  // The newest are the ones kept: the last address still counts its failure.
  limiter.failed("10.39.15.1", "x");
  CHECK(limiter.tracked_addresses() == 100);
  for (int i = 0; i < 10; ++i) limiter.failed("10.39.15.1", "x");
  CHECK_FALSE(limiter.admit("10.39.15.1", "x", LoginMethod::Key).has_value());
}

TEST_CASE("logins: only so many passwords are hashed at once") {
  LoginLimiter limiter(limits());
  {
    auto first = limiter.password_slot();
    auto second = limiter.password_slot();
    CHECK(first);
    CHECK(second);
    CHECK_FALSE(limiter.password_slot());  // the third waits for nobody: refused
  }
  CHECK(limiter.password_slot());  // released with the slots

  // Many threads at once never hold more than the limit.
  std::atomic<int> holding{0}, most{0}, granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (auto slot = limiter.password_slot()) {
          granted++;
          const int now = ++holding;
          int seen = most.load();
          while (now > seen && !most.compare_exchange_weak(seen, now)) {
          }
          --holding;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(most.load() <= 2);
  CHECK(granted.load() > 0);
}

TEST_CASE("logins: usernames are logged escaped and cut short") {
  CHECK(loggable_username("abcdefghij+web") == "abcdefghij+web");
  CHECK(loggable_username("a\nb\x1b[2J\\") == "a\\x0ab\\x1b[2J\\x5c");
  const std::string huge(60000, 'x');
  const std::string logged = loggable_username(huge);
  CHECK(logged.size() < 100);
  CHECK(logged.find("(60000 bytes)") != std::string::npos);
}
