#pragma once

// Finds a fixed byte string in a stream that arrives in pieces, however the pieces split
// it: the gateway watches a terminal's output for a plan's "next part" request this way.
// Memory stays bounded by the marker's size whatever the stream's.

#include <string>
#include <string_view>
#include <utility>

namespace breakfix {

class MarkerScanner {
 public:
  explicit MarkerScanner(std::string marker) : marker_(std::move(marker)) {}

  // How many times the marker ends within `piece` (a marker that began in earlier
  // pieces counts once, when it ends).
  int feed(std::string_view piece) {
    if (marker_.empty() || done_) return 0;
    std::string text = tail_;
    text.append(piece);
    int found = 0;
    std::size_t after_last = 0;
    for (std::size_t at = text.find(marker_); at != std::string::npos; at = text.find(marker_, after_last)) {
      ++found;
      after_last = at + marker_.size();
    }
    // Only the bytes that could still begin a marker are kept.
    const std::size_t keep = marker_.size() - 1;
    const std::size_t from = std::max(after_last, text.size() > keep ? text.size() - keep : 0);
    tail_ = text.substr(from);
    return found;
  }

  // Stops looking (the request was made); feed() then finds nothing and keeps nothing.
  void finish() {
    done_ = true;
    tail_.clear();
  }
  bool done() const { return done_; }

 private:
  std::string marker_;
  std::string tail_;
  bool done_ = false;
};

}  // namespace breakfix
