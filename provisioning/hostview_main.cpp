// breakfix-hostview: the LXD backend's reader of labs' files and mounts on a member of an
// LXD cluster (docs/runtime.md, "Clustering"). The backend runs it, through LXD's exec
// API, in a privileged helper instance of breakfix's own on each member, which has the
// member's /proc attached read-only at /host/proc; the member's files are reached through
// /host/proc/<LXD's pid>/root. It does what host_tree.h and mount_table.h do on the
// daemon's own machine, and answers as hostview_protocol.h says. Linked statically: the
// helper's image has none of the daemon's libraries.

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "host_tree.h"
#include "hostview_protocol.h"
#include "mount_table.h"

namespace {

using breakfix::ErrorCode;
using breakfix::make_error;
using nlohmann::json;
namespace lxd = breakfix::lxd;
namespace hostview = breakfix::hostview;

void say(const json& line) {
  std::cout << line.dump() << '\n';
}

int fail(const breakfix::Error& error) {
  say(hostview::error_json(error));
  std::cout.flush();
  return 1;
}

int usage(const std::string& why) { return fail(make_error(ErrorCode::Invalid, "breakfix-hostview: " + why)); }

// A whole decimal number, or nothing.
bool number(const char* text, long long& out) {
  errno = 0;
  char* end = nullptr;
  out = std::strtoll(text, &end, 10);
  return errno == 0 && end != text && *end == '\0';
}

int tree(char** args) {
  long long max_bytes = 0, keep_bytes = 0;
  if (!number(args[2], max_bytes) || !number(args[3], keep_bytes) || max_bytes < 0 || keep_bytes < 0) {
    return usage("tree: MAX_BYTES and KEEP_BYTES are numbers");
  }
  auto ids = lxd::parse_idmap(args[4]);
  if (!ids) return fail(ids.error());
  breakfix::TreeReadOptions options;
  options.max_bytes = static_cast<std::uint64_t>(max_bytes);
  options.keep_bytes = static_cast<std::size_t>(keep_bytes);
  // Everything is read as if kept: the backend asks its own want of each record and drops
  // what it would not have read (LxdRuntime::read_tree).
  auto complete = lxd::read_host_tree(args[0], args[1], *ids, options,
                                      [](const breakfix::FileRecord&) { return breakfix::ReadWant::Keep; },
                                      [](breakfix::FileRecord record) {
                                        say(json{{"record", hostview::record_json(record)}});
                                        return true;
                                      });
  if (!complete) return fail(complete.error());
  say(json{{"end", {{"complete", *complete}}}});
  return 0;
}

int changes(char** args) {
  long long since = 0;
  if (!number(args[1], since)) return usage("changes: SINCE is a number");
  std::vector<std::string> image_paths;
  for (std::string line; std::getline(std::cin, line);) {
    if (line.empty()) continue;
    auto path = hostview::unhex(line);  // hex: a name may hold a newline
    if (!path) return usage("changes: the image's paths come hex-encoded, one a line");
    image_paths.push_back(std::move(*path));
  }
  std::sort(image_paths.begin(), image_paths.end());
  breakfix::Status walked = lxd::host_changes(args[0], image_paths, since, [](const breakfix::FsChange& change) {
    say(json{{"change", hostview::change_json(change)}});
  });
  if (!walked) return fail(walked.error());
  say(json{{"end", json::object()}});
  return 0;
}

int written(char** args) {
  long long since = 0;
  if (!number(args[1], since)) return usage("written: SINCE is a number");
  auto bytes = lxd::host_written_bytes(args[0], since);
  if (!bytes) return fail(bytes.error());
  say(json{{"end", {{"bytes", *bytes}}}});
  return 0;
}

// The table stays open until stdin ends; each line asks whether the mounts changed since
// it was opened. Flushed at once: the backend waits for each answer.
int mounts(char** args) {
  auto table = lxd::MountTable::open(args[0]);
  if (!table) return fail(table.error());
  auto text = (*table)->read();
  if (!text) return fail(text.error());
  say(json{{"mounts", *text}});
  std::cout.flush();
  for (std::string line; std::getline(std::cin, line);) {
    say(json{{"changed", (*table)->changed()}});
    std::cout.flush();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  const std::string command = argc > 1 ? argv[1] : "";
  char** args = argv + 2;
  const int count = argc - 2;
  if (command == "tree" && count == 5) return tree(args);
  if (command == "changes" && count == 2) return changes(args);
  if (command == "written" && count == 2) return written(args);
  if (command == "mounts" && count == 1) return mounts(args);
  return usage("usage: tree ROOT PATH MAX_BYTES KEEP_BYTES IDMAP | changes ROOT SINCE | written ROOT SINCE | "
               "mounts FILE");
}
