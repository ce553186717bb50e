#pragma once

// A mutex that can be waited for with a bound, as std::timed_mutex can, made of a
// std::mutex and a condition variable. std::timed_mutex::try_lock_for calls
// pthread_mutex_clocklock, which GCC 12's ThreadSanitizer does not intercept: it saw the
// lock taken by try_lock_for as never taken, and every unlock after it as a bug.
// Meets Lockable and TimedLockable, for std::lock_guard and std::unique_lock.

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace breakfix {

class TimedLock {
 public:
  void lock() {
    std::unique_lock guard(mutex_);
    released_.wait(guard, [this] { return !held_; });
    held_ = true;
  }
  bool try_lock() {
    std::lock_guard guard(mutex_);
    if (held_) return false;
    held_ = true;
    return true;
  }
  template <typename Rep, typename Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    std::unique_lock guard(mutex_);
    if (!released_.wait_for(guard, timeout, [this] { return !held_; })) return false;
    held_ = true;
    return true;
  }
  void unlock() {
    {
      std::lock_guard guard(mutex_);
      held_ = false;
    }
    released_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  bool held_ = false;
};

}  // namespace breakfix
