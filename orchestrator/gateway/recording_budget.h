#pragma once

// How much a session's recordings may hold on disk: bytes and files, shared by every
// connection and channel of the session, so that a candidate who runs
// `cat /dev/urandom` in a terminal, or opens channel after channel, cannot fill the
// host's disk. Past either limit nothing more is recorded for the session: the writers
// (AsciicastWriter, ChannelRecorder) stop, each after one closing marker line, and the
// session's terminals are told once (on_exhausted). The candidate's work goes on.
//
// Threads: any; each session's budget is shared by its connections' threads.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace breakfix {

struct RecordingLimits {
  std::uint64_t max_bytes = 512ull * 1024 * 1024;  // per session, all its recordings
  int max_files = 2000;                            // per session: one per channel
};

class RecordingBudget {
 public:
  RecordingBudget(RecordingLimits limits, std::uint64_t bytes_used, int files_used, std::function<void()> on_exhausted)
      : limits_(limits), bytes_(bytes_used), files_(files_used), on_exhausted_(std::move(on_exhausted)) {}

  // Whether `bytes` more may be written; all or nothing. The first refusal calls
  // on_exhausted; once refused, every later call is refused too.
  bool take_bytes(std::uint64_t bytes);
  // Whether one more recording file may be created.
  bool take_file();
  bool exhausted() const { return exhausted_.load(); }

 private:
  void exhaust();

  const RecordingLimits limits_;
  std::atomic<std::uint64_t> bytes_;
  std::atomic<int> files_;
  std::atomic<bool> exhausted_{false};
  std::function<void()> on_exhausted_;
};

// The budgets of every session, made on first use from what the session's directory
// already holds (so a daemon restart does not grant a session its limits again).
class RecordingBudgets {
 public:
  RecordingBudgets(RecordingLimits limits, std::filesystem::path recordings_dir)
      : limits_(limits), dir_(std::move(recordings_dir)) {}
  // `on_exhausted` is used when this call makes the budget.
  std::shared_ptr<RecordingBudget> for_session(const std::string& session_id, std::function<void()> on_exhausted);
  const RecordingLimits& limits() const { return limits_; }

 private:
  const RecordingLimits limits_;
  const std::filesystem::path dir_;
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<RecordingBudget>> budgets_;
};

// The line every writer ends with when the budget stops it, in the terminal's words.
inline constexpr const char* kRecordingLimitNotice =
    "this session's recordings reached their size limit: what follows is not recorded";

}  // namespace breakfix
