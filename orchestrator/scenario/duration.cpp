#include "breakfix/duration.h"

#include <charconv>
#include <limits>

namespace breakfix {

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  // Units in the only order allowed; `next_unit` moves forward past each one used.
  static constexpr std::string_view kUnits = "hms";
  static constexpr std::int64_t kSecondsPerUnit[] = {3600, 60, 1};
  // Far beyond any sensible lab, far below overflow.
  static constexpr std::int64_t kMaxSeconds = 366LL * 24 * 3600;

  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t next_unit = 0;
  const char* at = text.data();
  const char* end = text.data() + text.size();
  while (at != end) {
    std::int64_t amount = 0;
    auto [after_number, ec] = std::from_chars(at, end, amount);
    if (ec != std::errc() || after_number == at || after_number == end) return std::nullopt;
    const std::size_t unit = kUnits.find(*after_number, next_unit);
    if (unit == std::string_view::npos) return std::nullopt;
    if (amount < 0 || amount > kMaxSeconds / kSecondsPerUnit[unit]) return std::nullopt;
    total += amount * kSecondsPerUnit[unit];
    if (total > kMaxSeconds) return std::nullopt;
    next_unit = unit + 1;
    at = after_number + 1;
  }
  return std::chrono::seconds(total);
}

std::string format_duration(std::chrono::seconds duration) {
  std::int64_t seconds = duration.count();
  if (seconds <= 0) return "0s";
  std::string text;
  if (seconds >= 3600) text += std::to_string(seconds / 3600) + "h";
  if (seconds % 3600 >= 60) text += std::to_string(seconds % 3600 / 60) + "m";
  if (seconds % 60 != 0) text += std::to_string(seconds % 60) + "s";
  return text;
}

}  // namespace breakfix
