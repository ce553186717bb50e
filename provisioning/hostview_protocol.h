#pragma once

// What breakfix-hostview (hostview_main.cpp) prints and the LXD backend reads back: one
// JSON object a line. The helper runs on each member of an LXD cluster, where the lab's
// files and its init's mount table are (docs/runtime.md, "Clustering"); the backend runs
// it there through LXD's exec API and reads its answer as if it had read the host itself.
//
//   breakfix-hostview tree ROOT PATH MAX_BYTES KEEP_BYTES IDMAP   {"record":...}*   then {"end":{"complete":B}}
//   breakfix-hostview changes ROOT SINCE   (stdin: the image's paths, hex, one a line)
//                                                                 {"change":...}*   then {"end":{}}
//   breakfix-hostview written ROOT SINCE                          {"end":{"bytes":N}}
//   breakfix-hostview mounts FILE (a mountinfo)                   {"mounts":TEXT}, then a {"changed":B} for
//                                                                 each line read on stdin, until its end
//   any command, on failure                                       {"error":{"code":N,"message":TEXT}}, exit 1
//
// Whatever came from the lab (paths, link targets, a file's first bytes, extended
// attributes) may be any bytes, which JSON strings cannot hold: such fields are hex.
// Kept free of libarchive and the engine: the helper is linked statically.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "breakfix/error.h"
#include "breakfix/runtime.h"

namespace breakfix::hostview {

std::string hex(std::string_view bytes);
// Invalid unless `text` is an even number of hex digits.
Result<std::string> unhex(std::string_view text);

nlohmann::json record_json(const FileRecord& record);
Result<FileRecord> record_of(const nlohmann::json& json);

nlohmann::json change_json(const FsChange& change);
Result<FsChange> change_of(const nlohmann::json& json);

nlohmann::json error_json(const Error& error);
// The helper's error, its message after `what`; Internal if `json` is not one.
Error error_of(const nlohmann::json& json, const std::string& what);

// A line of the helper's output: an object, or Internal naming what it is.
Result<nlohmann::json> parse_line(std::string_view line, const std::string& what);

}  // namespace breakfix::hostview
