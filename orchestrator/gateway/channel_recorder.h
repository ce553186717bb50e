#pragma once

// Writes the record of one channel that is not a terminal (a command, sftp, legacy scp) to
// its file as the channel runs, in the format of session/channel_record.h: the start line
// at once, each file operation when it completes, the end line with the exit status, the
// byte counts and a sample of the output. Every line is flushed when written, so a crash
// of the daemon loses only the end line of channels still open.
//
// Bounded: the output sample keeps the first kOutputHead and the last kOutputTail bytes of
// an exec's output (stdout and stderr as they interleaved), the command is cut at
// kMaxCommand bytes and at most kMaxOperations file operations are written (the rest are
// counted). sftp and scp channels keep no output: it is the files' contents.
//
// Threads: one (the connection's). No method throws: a failure to write stops the record.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "breakfix/error.h"
#include "breakfix/runtime.h"
#include "gateway/recording_budget.h"
#include "gateway/transfer_observer.h"
#include "session/channel_record.h"

namespace breakfix {

// The first and the last bytes of a stream, and how many went between them.
class OutputSample {
 public:
  OutputSample(std::size_t head_limit, std::size_t tail_limit) : head_limit_(head_limit), tail_limit_(tail_limit) {}
  void add(std::string_view bytes);
  const std::string& head() const { return head_; }
  // The last bytes; empty while everything fits in the head.
  std::string tail() const;
  std::uint64_t omitted() const;
  std::uint64_t total() const { return total_; }

 private:
  std::size_t head_limit_, tail_limit_;
  std::string head_;
  std::string tail_;  // grows to twice tail_limit_ before it is cut, so cutting is rare
  std::uint64_t total_ = 0;
};

class ChannelRecorder {
 public:
  static constexpr std::size_t kOutputHead = 16 * 1024;
  static constexpr std::size_t kOutputTail = 16 * 1024;
  static constexpr std::size_t kMaxCommand = 16 * 1024;
  static constexpr std::size_t kMaxOperations = 10000;

  // Creates `file` (never over an existing one; the directory is made) and writes the
  // start line from `start` (its type, host, user, command, connection, started).
  // `observer`, for sftp and scp, watches the bytes both ways and names the files.
  static Result<std::unique_ptr<ChannelRecorder>> create(const std::filesystem::path& file, ChannelRecord start,
                                                         std::unique_ptr<TransferObserver> observer);
  // Ends the record ("the connection closed") unless finish() did.
  ~ChannelRecorder();
  ChannelRecorder(const ChannelRecorder&) = delete;
  ChannelRecorder& operator=(const ChannelRecorder&) = delete;

  // Bytes from the client to the process, and from the process to the client (an
  // observer reads only stdout: stderr is not part of the protocol).
  void input(std::string_view bytes) noexcept;
  void output(OutputStream stream, std::string_view bytes) noexcept;
  // Writes the end line: `exit_status` when the process's came back, and why it ended.
  // Only the first call counts.
  void finish(std::optional<int> exit_status, const std::string& reason) noexcept;
  // Counts every line against `budget` from now on; past it the record stops (as a
  // record cut by a crash does: no end line).
  void set_budget(std::shared_ptr<RecordingBudget> budget) { budget_ = std::move(budget); }

 private:
  ChannelRecorder(std::FILE* file, ChannelRecord record, std::unique_ptr<TransferObserver> observer);
  void write_operations();
  void stop_observing() noexcept;
  void write_line(const std::string& line);
  double elapsed() const;

  std::FILE* file_;
  ChannelRecord record_;
  std::unique_ptr<TransferObserver> observer_;
  OutputSample output_{kOutputHead, kOutputTail};
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::uint64_t operations_ = 0;
  bool finished_ = false;
  std::shared_ptr<RecordingBudget> budget_;
};

}  // namespace breakfix
