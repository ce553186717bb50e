#pragma once

// The record of one SSH channel that is not a terminal: a command run as `ssh ID 'cmd'`,
// an sftp session (OpenSSH 9's scp included) or a legacy `scp -O`. The gateway writes it
// as it happens (gateway/channel_recorder.h); the report and `breakfix session replay`
// read it back. This file is the one place that knows the file's format:
//
//   <recordings_dir>/<session>/<unix second>-<n>.<type>.jsonl, JSON Lines, one object each:
//   {"event":"start", "version":1, "type":"exec"|"sftp"|"scp", "host", "user", "command",
//    "started" (ISO-8601), "started_ms" (Unix ms), "connection":{"number","from","opened"},
//    "terminal" (the .cast of an exec with a TTY; absent otherwise)}
//   {"event":"file", "elapsed" (s since the start), "op", "path", ...}   one per operation
//   {"event":"end", "elapsed", "reason", "exit_status" (absent when none came back),
//    "bytes_in", "bytes_out", "output" | "output_head" + "output_tail" + "output_omitted",
//    "operations_omitted"}
//
// Text from the candidate (commands, paths, output) may be any bytes: it is written with
// invalid UTF-8 replaced by U+FFFD, so every line stays valid JSON.

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "breakfix/clock.h"
#include "breakfix/error.h"

namespace breakfix {

// One thing done to a file through sftp or scp.
struct FileOperation {
  // "upload", "download", "list", "mkdir", "rmdir", "remove", "rename", "symlink",
  // "hardlink", "setstat", "error" (the peer reported one), "unparsed" (the observer gave up).
  std::string op;
  std::string path;
  std::string to;    // rename: the new name; symlink, hardlink: what the link points to
  std::string name;  // scp: the name the protocol carried (with directories under -r)
  std::optional<std::uint64_t> bytes;  // upload: written; download: read
  std::string attributes;              // "mode 0644, uid 0, gid 0, size 12, mtime ..."
  std::optional<bool> ok;              // empty: no answer was seen before the channel ended
  std::string error;
  double elapsed = 0;  // seconds since the channel started
};

struct ChannelRecord {
  std::string file;  // the record's file name (not written in it)
  std::string type;  // "exec", "sftp" or "scp"
  std::string host;
  std::string user;
  std::string command;  // exec and scp: as the client sent it; sftp: empty
  std::string terminal;  // an exec with a TTY: its asciicast recording's file name
  int connection = 0;    // the gateway's count of connections since the daemon started
  std::string from;      // the client's address
  WallTime connection_opened{};
  WallTime started{};

  // From the end line; `ended` is false while the channel runs (or if the daemon died).
  bool ended = false;
  double duration = 0;  // seconds
  std::string end_reason;  // "exited", "the client closed the channel", "the session ended", ...
  std::optional<int> exit_status;
  std::uint64_t bytes_in = 0;   // from the client to the process
  std::uint64_t bytes_out = 0;  // from the process to the client
  std::string output;           // the whole output when it fit, else its first part
  std::string output_tail;      // the last part, when some was left out between
  std::uint64_t output_omitted = 0;
  std::vector<FileOperation> operations;
  std::uint64_t operations_omitted = 0;
};

// The lines of a record, each with its newline. `elapsed` values come from the caller.
std::string channel_start_line(const ChannelRecord& record);
std::string file_operation_line(const FileOperation& operation);
std::string channel_end_line(const ChannelRecord& record);

// An operation's own fields, as both the record and the report write them: "op", "path",
// and "to", "name", "bytes", "attributes", "error" when set, "ok" (null when unknown).
nlohmann::json file_operation_fields(const FileOperation& operation);

// Reads a record back. A last line without a newline (still being written) is ignored;
// a first line that is not a start line is an Invalid error. Never throws.
Result<ChannelRecord> parse_channel_record(std::string_view text, const std::string& file_name);

// `text` cut to at most `bytes` bytes (and "..." added) without splitting a UTF-8 sequence.
std::string cut_text(std::string_view text, std::size_t bytes);


}  // namespace breakfix
