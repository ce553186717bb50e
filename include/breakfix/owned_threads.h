#pragma once

// Threads a server starts per connection, owned instead of detached: each is joined,
// the finished ones as new ones start and the rest by join_all() at shutdown, so that
// none outlives the objects it uses. A thread's function that throws is reported to
// `on_error` and ends that thread only, never the process. The HTTP API and the SSH
// gateway use it.

#include <condition_variable>
#include <exception>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>

namespace breakfix {

class OwnedThreads {
 public:
  using ErrorFn = std::function<void(const std::string& what)>;

  explicit OwnedThreads(ErrorFn on_error) : on_error_(std::move(on_error)) {}
  OwnedThreads(const OwnedThreads&) = delete;
  OwnedThreads& operator=(const OwnedThreads&) = delete;
  ~OwnedThreads() { join_all(); }

  // Runs `work` on a new thread. Threads that have finished are joined first, so the
  // list never holds more than the live ones and those ending now.
  void spawn(std::function<void()> work) {
    std::lock_guard lock(mutex_);
    reap_locked();
    threads_.emplace_front();
    auto self = threads_.begin();
    *self = std::thread([this, self, work = std::move(work)] {
      run(work);
      std::lock_guard done(mutex_);
      finished_.push_back(self);
      changed_.notify_all();
    });
  }

  // Threads started and not yet joined.
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return threads_.size();
  }

  // Waits for every thread; the caller has made sure they end (sockets shut down, a
  // stop flag set). Not from one of these threads.
  void join_all() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return finished_.size() == threads_.size(); });
    reap_locked();
  }

 private:
  void run(const std::function<void()>& work) const {
    try {
      work();
    } catch (const std::exception& error) {
      report(error.what());
    } catch (...) {
      report("an exception that is not a std::exception");
    }
  }
  void report(const std::string& what) const {
    if (!on_error_) return;
    try {
      on_error_(what);
    } catch (...) {  // the report itself failed (out of memory): nothing more to do
    }
  }
  // Joins the threads that said they are done (each says so as its last act).
  void reap_locked() {
    for (auto it : finished_) {
      it->join();
      threads_.erase(it);
    }
    finished_.clear();
  }

  ErrorFn on_error_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::list<std::thread> threads_;
  std::list<std::list<std::thread>::iterator> finished_;
};

}  // namespace breakfix
