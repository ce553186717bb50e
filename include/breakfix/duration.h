#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace breakfix {

// Parses the human durations used in scenarios and on the command line: one or more
// <integer><unit> parts with units h, m, s in that order, each at most once:
// "45s", "30m", "1h", "1h30m", "2m30s". Returns nullopt for anything else, including
// a bare number (which unit would it be?) and overflow.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

// The inverse of parse_duration, in the shortest form: 5400s -> "1h30m", 0s -> "0s".
std::string format_duration(std::chrono::seconds duration);

}  // namespace breakfix
