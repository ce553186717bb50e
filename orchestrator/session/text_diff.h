#pragma once

// Unified diffs of a file's text before and after, for the report's changes section.
// The diff itself is Debian's libdtl (the O(NP) algorithm of Wu, Manber and Myers); this
// wraps it with the bounds a report needs.

#include <cstddef>
#include <string>
#include <string_view>

namespace breakfix {

// Whether `content` reads as text: it has no NUL byte (git's rule). Empty is text.
bool looks_like_text(std::string_view content);

struct TextDiff {
  std::string text;  // "--- a\n+++ b\n@@ -1,3 +1,3 @@\n ..." ("" when the lines are the same)
  bool cut = false;  // longer than max_bytes: cut at a line boundary
};

// The unified diff (3 lines of context) from `before` to `after`, labelled `before_label`
// and `after_label`, at most `max_bytes` long. A last line without a newline is followed
// by diff(1)'s "\ No newline at end of file" line, which the hunk counts include.
TextDiff unified_diff(std::string_view before, std::string_view after, const std::string& before_label,
                      const std::string& after_label, std::size_t max_bytes);

}  // namespace breakfix
