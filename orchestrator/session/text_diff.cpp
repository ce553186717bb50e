#include "session/text_diff.h"

#include <dtl/dtl.hpp>

#include <sstream>
#include <vector>

namespace breakfix {
namespace {

constexpr const char* kNoNewline = "\\ No newline at end of file";

// Lines without their newlines; a last line that lacked one carries diff(1)'s marker on
// a line of its own, so that adding the final newline shows as a change.
std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t newline = text.find('\n', at);
    if (newline == std::string_view::npos) {
      lines.emplace_back(text.substr(at));
      lines.emplace_back(kNoNewline);
      break;
    }
    lines.emplace_back(text.substr(at, newline - at));
    at = newline + 1;
  }
  return lines;
}

}  // namespace

bool looks_like_text(std::string_view content) { return content.find('\0') == std::string_view::npos; }

TextDiff unified_diff(std::string_view before, std::string_view after, const std::string& before_label,
                      const std::string& after_label, std::size_t max_bytes) {
  const std::vector<std::string> a = lines_of(before);
  const std::vector<std::string> b = lines_of(after);
  TextDiff diff;
  if (a == b) return diff;
  dtl::Diff<std::string, std::vector<std::string>> engine(a, b);
  engine.onHuge();  // bounded memory for long files: the inputs are bounded by the caller anyway
  engine.compose();
  engine.composeUnifiedHunks();
  std::ostringstream hunks;
  engine.printUnifiedFormat(hunks);
  std::string body = hunks.str();
  // dtl numbers an empty side's range from 1; diff(1) says 0,0 (a created or deleted file).
  if (a.empty() && body.rfind("@@ -1,0 ", 0) == 0) body.replace(0, 8, "@@ -0,0 ");
  if (const std::size_t end = body.find(" @@\n"); b.empty() && end != std::string::npos && end >= 5 &&
                                                   body.compare(end - 5, 5, " +1,0") == 0) {
    body.replace(end - 5, 5, " +0,0");
  }
  std::string text = "--- " + before_label + "\n+++ " + after_label + "\n" + body;
  // dtl writes the marker as a removed or added line ("-\ No newline..."); diff(1) writes it bare.
  for (const char* marked : {"\n-\\ No newline", "\n+\\ No newline", "\n \\ No newline"}) {
    for (std::size_t at = 0; (at = text.find(marked, at)) != std::string::npos;) text.erase(at + 1, 1);
  }
  if (text.size() > max_bytes) {
    const std::size_t cut = max_bytes == 0 ? std::string::npos : text.rfind('\n', max_bytes - 1);
    text.resize(cut == std::string::npos ? 0 : cut + 1);
    diff.cut = true;
  }
  diff.text = std::move(text);
  return diff;
}

}  // namespace breakfix
