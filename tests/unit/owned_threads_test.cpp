// OwnedThreads: every thread is joined, finished ones as new ones start, and one that
// throws is reported and ends alone.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <vector>

#include "breakfix/owned_threads.h"

using namespace breakfix;
using namespace std::chrono_literals;

TEST_CASE("OwnedThreads joins every thread, reaps the finished ones and reports a throw") {
  std::vector<std::string> errors;
  std::mutex errors_mutex;
  std::atomic<int> ran{0};
  {
    OwnedThreads threads([&](const std::string& what) {
      std::lock_guard lock(errors_mutex);
      errors.push_back(what);
    });
    for (int i = 0; i < 20; ++i) threads.spawn([&] { ++ran; });
    threads.join_all();
    CHECK(ran.load() == 20);
    CHECK(threads.size() == 0);

    threads.spawn([] { throw std::runtime_error("connection broke"); });
    threads.join_all();
    CHECK(errors == std::vector<std::string>{"connection broke"});

    // A thread still running is waited for: join_all returns only after it ends.
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<bool> ended{false};
    threads.spawn([&] {
      released.wait();
      std::this_thread::sleep_for(20ms);
      ended = true;
    });
    CHECK(threads.size() == 1);
    release.set_value();
    threads.join_all();
    CHECK(ended.load());

    // Finished threads do not pile up while the server keeps going.
    for (int i = 0; i < 50; ++i) threads.spawn([] {});
    std::this_thread::sleep_for(500ms);  // they have all ended (not joined yet)
    threads.spawn([&] { ++ran; });       // joins them first
    CHECK(threads.size() <= 1);
  }  // the destructor joins the last one
  CHECK(ran.load() == 21);
}
