#pragma once

// The report's part about channels outside terminals (session/channel_record.h): each
// command with its exit status, each sftp or scp session with its file operations, in
// time order. JSON for tools, a Markdown table for people; the output itself stays in the
// record, for `breakfix session replay`.
//
// Bounded, whatever the candidate did: a command is cut at kReportCommand bytes (JSON) or
// kMarkdownCommand (Markdown), at most kOperationsPerChannel operations of a channel are
// listed (the rest counted), and the Markdown table stops at kMarkdownRows rows.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "breakfix/clock.h"
#include "session/channel_record.h"

namespace breakfix {

constexpr std::size_t kReportCommand = 4096;
constexpr std::size_t kMarkdownCommand = 200;
constexpr std::size_t kOperationsPerChannel = 100;
constexpr std::size_t kMarkdownRows = 500;

// [{"file", "type", "host", "user", "connection": {"number", "from", "opened"}, "started",
//   "ended" (null while open), "duration_s", "end_reason", "command", "exit_status" (null
//   when none came back), "bytes_in", "bytes_out", "terminal"?, "operations": [{"time",
//   "op", "path", "to"?, "name"?, "bytes"?, "attributes"?, "ok" (null: no answer), "error"?}],
//   "operations_omitted"}]
nlohmann::json channel_timeline_json(const std::vector<ChannelRecord>& channels);

// "## Commands and file transfers" and its table, times as minutes since `ready`.
std::string channel_timeline_markdown(const std::vector<ChannelRecord>& channels, WallTime ready,
                                      const std::string& session_id);

}  // namespace breakfix
