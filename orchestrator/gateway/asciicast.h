#pragma once

// An asciicast v2 recording (https://docs.asciinema.org/manual/asciicast/v2/): a JSON
// header line, then one JSON array per event, [seconds, "o" | "i" | "r", data]. Each
// event is written and flushed as it happens, so a crash loses nothing already shown; `asciinema play` and `breakfix session replay` play it.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "breakfix/error.h"
#include "gateway/recording_budget.h"

namespace breakfix {

class AsciicastWriter {
 public:
  ~AsciicastWriter();
  static Result<std::unique_ptr<AsciicastWriter>> create(const std::filesystem::path& file, int columns, int rows,
                                                         const std::string& title, const std::string& term);
  void output(std::string_view data) { event("o", data, pending_output_); }
  void input(std::string_view data) { event("i", data, pending_input_); }
  void resize(int columns, int rows);
  void flush();
  // Counts every event against `budget` from now on; past it, one notice event closes
  // the recording and nothing more is written.
  void set_budget(std::shared_ptr<RecordingBudget> budget) { budget_ = std::move(budget); }

 private:
  AsciicastWriter() = default;
  // Bytes of an incomplete UTF-8 sequence wait in `pending` for the rest of it.
  void event(const char* kind, std::string_view data, std::string& pending);
  void write_line(const std::string& line);

  std::FILE* file_ = nullptr;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_flush_;
  std::string pending_output_, pending_input_;
  std::shared_ptr<RecordingBudget> budget_;
  bool stopped_ = false;  // by the budget
};

// How many bytes at the end of `data` start a UTF-8 sequence that is not complete yet.
std::size_t incomplete_utf8_suffix(std::string_view data);

}  // namespace breakfix
