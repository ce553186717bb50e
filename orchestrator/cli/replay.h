#pragma once

// Plays an asciicast v2 recording (gateway/asciicast.h writes them) the way `asciinema
// play` does: the output events' data in order, with the recorded pauses between them.
// The player only computes and writes; the caller's sleep function does the waiting, so
// that a test plays an hour-long recording in no time and adds up what it was asked to sleep.

#include <chrono>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "breakfix/error.h"
#include "session/channel_record.h"

namespace breakfix::cli {

class AsciicastPlayer {
 public:
  // Called with each pause (never zero) before the output that follows it.
  using Sleep = std::function<void(std::chrono::microseconds)>;

  struct Options {
    double speed = 1.0;                                         // > 0; 2 plays twice as fast
    std::chrono::microseconds idle_limit = std::chrono::seconds(2);  // longest pause, in recorded time; 0: no cap
  };

  // `text` is a whole .cast file: a JSON object with "version": 2 on its first line, then
  // one [time, code, data] array per line (time in seconds since the start, code "o"
  // output, "i" input, "r" resize, "m" marker...; only "o" is played). Blank lines are
  // skipped; a time earlier than the one before counts as no pause. A last line that is
  // not JSON and has no newline is an event still being written: it is dropped and
  // truncated() says so. Any other bad line is an Invalid error whose message starts
  // "line N: " (1-based).
  static Result<AsciicastPlayer> parse(std::string_view text);

  // Writes every output event's data to `out` as is (UTF-8 passes through), calling
  // `sleep` before it with the pause since the previous output event (from the start for
  // the first): capped at options.idle_limit, then divided by options.speed (the order
  // `asciinema play -i` uses), rounded to microseconds; a pause that rounds to zero is not
  // slept. `out` is flushed before every sleep and at the end. Stops early if `out` fails.
  void play(std::ostream& out, const Sleep& sleep, const Options& options) const;

  int width() const { return width_; }    // from the header; 0 when it has none
  int height() const { return height_; }  // from the header; 0 when it has none
  const std::string& title() const { return title_; }
  std::size_t output_events() const { return frames_.size(); }
  bool truncated() const { return truncated_; }

 private:
  struct Frame {
    std::chrono::microseconds pause;  // recorded, since the previous output event
    std::string data;
  };

  int width_ = 0;
  int height_ = 0;
  std::string title_;
  std::vector<Frame> frames_;
  bool truncated_ = false;
};

// Shows a channel record (session/channel_record.h) for a person: lines starting "# "
// say what ran where, when and how it ended; a command's line starts "$ " and its output
// follows as recorded (its first and last parts, with a note of how much was left out
// between); each sftp or scp file operation is one line, "+SECONDS op PATH...: result".
void print_channel_record(std::ostream& out, const ChannelRecord& record);

}  // namespace breakfix::cli
