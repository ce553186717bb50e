#pragma once

// Patterns of absolute paths, as a scenario's `expected_changes` names what a candidate
// may change: '*' matches any characters within one path component, '?' one character,
// and '**' standing as a whole component matches any number of components, none
// included: "/srv/app/**" is /srv/app and everything below it. Nothing else is special.

#include <string>
#include <string_view>

namespace breakfix {

// Why `pattern` is not one (a sentence for an author), or "" when it is.
std::string path_glob_problem(std::string_view pattern);

// Whether `path` (absolute, normalized) matches `pattern` (a valid one).
bool path_glob_matches(std::string_view pattern, std::string_view path);

}  // namespace breakfix
