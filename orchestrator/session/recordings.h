#pragma once

// A session's recordings on disk, the one place that lists them (the report, the API and
// through it `breakfix session replay`). The gateway writes, in <recordings_dir>/<session>/:
//
//   <unix second>-<n>.cast          a terminal (asciicast v2, gateway/asciicast.h)
//   <unix second>-<n>.<type>.jsonl  a command, sftp or scp channel (session/channel_record.h)
//
// <unix second> is when the channel opened and <n> the gateway's count of recordings
// since the daemon started, so the names order the recordings by time.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "session/channel_record.h"

namespace breakfix {

// "<unix second>-<n>.cast", or "<unix second>-<n>.<channel_type>.jsonl" for a channel record.
std::string recording_name(std::int64_t unix_second, int n, const std::string& channel_type = "");

bool is_terminal_recording(const std::string& name);  // a .cast
bool is_channel_record(const std::string& name);      // a .jsonl

// The names of every recording in `session_dir`, oldest first: by the second and the count
// in the name, then by name. A directory that does not exist has none. Other files are left out.
std::vector<std::string> list_recordings(const std::filesystem::path& session_dir);

// The channel records among `names` (as list_recordings gives them), read and parsed, in
// the same order. A file that cannot be read or parsed is left out (the daemon wrote it;
// a crash may have left it empty).
std::vector<ChannelRecord> read_channel_records(const std::filesystem::path& session_dir,
                                                const std::vector<std::string>& names);

}  // namespace breakfix
