#include "scenario/path_glob.h"

#include <vector>

namespace breakfix {
namespace {

constexpr std::size_t kMaxDoubleStars = 4;

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t at = 1;  // past the leading '/'
  while (at <= path.size()) {
    const std::size_t slash = path.find('/', at);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (end > at) parts.push_back(path.substr(at, end - at));
    at = end + 1;
  }
  return parts;
}

// '*' and '?' within one component: the classic greedy match with one backtrack point.
bool component_matches(std::string_view pattern, std::string_view name) {
  std::size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p, ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// Whether pattern[p..] matches path[n..]. Each (p, n) is decided once (`memo`: 0 unknown,
// 1 no, 2 yes), so a deep path the candidate made costs pattern x path steps, not an
// exponential number of ways to split it among the '**'s.
bool matches_from(const std::vector<std::string_view>& pattern, std::size_t p, const std::vector<std::string_view>& path,
                  std::size_t n, std::vector<char>& memo) {
  char& known = memo[p * (path.size() + 1) + n];
  if (known) return known == 2;
  bool result;
  if (p == pattern.size()) {
    result = n == path.size();
  } else if (pattern[p] == "**") {
    result = matches_from(pattern, p + 1, path, n, memo) || (n < path.size() && matches_from(pattern, p, path, n + 1, memo));
  } else {
    result = n < path.size() && component_matches(pattern[p], path[n]) && matches_from(pattern, p + 1, path, n + 1, memo);
  }
  known = result ? 2 : 1;
  return result;
}

}  // namespace

std::string path_glob_problem(std::string_view pattern) {
  const std::string quoted = "'" + std::string(pattern) + "'";
  if (pattern.empty() || pattern.front() != '/') return "must be an absolute path such as /srv/app/** (got " + quoted + ")";
  if (pattern.size() > 4096) return "is longer than any path";
  for (const char c : pattern) {
    if (static_cast<unsigned char>(c) < 0x20) return "must not contain control characters";
  }
  if (pattern.size() > 1 && pattern.back() == '/') return "must not end with '/' (write " + std::string(pattern.substr(0, pattern.size() - 1)) + "/** for a directory and what is in it)";
  std::size_t double_stars = 0;
  for (std::string_view part : components(pattern)) {
    if (part == "." || part == "..") return "must not contain '.' or '..' components (got " + quoted + ")";
    if (part == "**") {
      ++double_stars;
    } else if (part.find("**") != std::string_view::npos) {
      return "'**' must stand alone between slashes, as in /srv/**/*.c (got " + quoted + ")";
    }
  }
  if (pattern.find("//") != std::string_view::npos) return "must not contain '//' (got " + quoted + ")";
  if (double_stars > kMaxDoubleStars) return "has more than " + std::to_string(kMaxDoubleStars) + " '**' components";
  if (path_glob_matches(pattern, "/usr/bin/su") && path_glob_matches(pattern, "/etc/pam.d/su") &&
      path_glob_matches(pattern, "/srv/x")) {
    return quoted + " matches every path, which would hide any tampering; name what the candidate is expected to change";
  }
  return "";
}

bool path_glob_matches(std::string_view pattern, std::string_view path) {
  const std::vector<std::string_view> wanted = components(pattern);
  const std::vector<std::string_view> parts = components(path);
  std::vector<char> memo((wanted.size() + 1) * (parts.size() + 1), 0);
  return matches_from(wanted, 0, parts, 0, memo);
}

}  // namespace breakfix
