#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace breakfix {

// Wall-clock time: session deadlines must survive a daemon restart, so they are points
// on the system clock, not on a monotonic one. Behind an interface so that the session
// engine's tests run a 90-minute session in milliseconds.
using WallTime = std::chrono::system_clock::time_point;

// Milliseconds since the Unix epoch: how the store and the records write a WallTime.
inline std::int64_t unix_ms(WallTime time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}
inline WallTime from_unix_ms(std::int64_t ms) {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::milliseconds(ms)));
}

class Clock {
 public:
  virtual ~Clock() = default;
  virtual WallTime now() const = 0;
};

class SystemClock : public Clock {
 public:
  WallTime now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to. Atomic: the engine's background work (a
// baseline listing, a session's worker) reads it while a test moves it.
class FakeClock : public Clock {
 public:
  explicit FakeClock(WallTime start = WallTime(std::chrono::hours(24 * 365 * 56))) : now_(start) {}
  WallTime now() const override { return now_.load(); }
  void advance(std::chrono::system_clock::duration by) { now_.store(now_.load() + by); }

 private:
  std::atomic<WallTime> now_;
};

}  // namespace breakfix
