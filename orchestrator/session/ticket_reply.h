#pragma once

// A customer scenario's answer: the file the candidate wrote their reply to the ticket
// in (Scenario::reply), read at grading through the engine's archive of the host, never
// a tool in the lab, so that the report shows what was written whatever the candidate
// did to the host's programs.

#include <cstddef>
#include <optional>
#include <string>

#include "breakfix/lab.h"
#include "breakfix/runtime.h"
#include "breakfix/scenario.h"

namespace breakfix {

// A reply is an e-mail, not an attachment: the report keeps this much of it.
inline constexpr std::size_t kMaxReplyBytes = 64 * 1024;

struct ReplyText {
  std::string host;
  std::string path;
  std::optional<std::string> text;  // none: not written (absent, or not a regular file)
  bool cut = false;                 // longer than kMaxReplyBytes: `text` is its beginning
  std::string problem;              // why it could not be read ("" when it was, or is absent)
};

ReplyText read_reply(Runtime& runtime, const Lab& lab, const Reply& reply);

}  // namespace breakfix
