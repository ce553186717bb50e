#include "session/lab_changes.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "scenario/path_glob.h"
#include "session/text_diff.h"

namespace breakfix {
namespace {

using nlohmann::json;

// What a check relies on to tell the truth: the programs and libraries it runs, how they
// are loaded, how it becomes another user, and the toolbox. Each entry covers itself and
// everything below it. /bin, /sbin and /lib* are symlinks into /usr on Debian 12; they
// stay listed for images where they are not. Account data (/etc/passwd, /etc/group) is
// not here: labs repair it, and a check that reads it reads the system's real state.
constexpr std::string_view kProtected[] = {
    // the programs and libraries checks run
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
    // how programs are loaded and find names
    "/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/ld.so.cache", "/etc/nsswitch.conf",
    "/etc/alternatives",
    // how a check becomes another user (runuser, su, sudo)
    "/etc/pam.d", "/etc/pam.conf", "/etc/security", "/etc/environment", "/etc/sudoers", "/etc/sudoers.d",
    // the trusted toolbox's mount point
    "/.breakfix",
};

// What services and shells change by themselves: listed, but no diff is worth reading.
constexpr std::string_view kNoisy[] = {
    "/run/**", "/var/run/**", "/var/log/**", "/var/cache/**", "/**/__pycache__/**",
    "/**/.bash_history", "/**/.lesshst", "/**/.viminfo", "/**/.python_history", "/**/.psql_history",
    "/**/.mysql_history", "/**/.sqlite_history", "/**/.wget-hsts", "/**/.selected_editor", "/**/.local/share/nano/**",
};

// Grouping changed files by directory saves a request each (about 0.3 s), but never for
// these: their archives are the whole file system, or most of it.
constexpr std::string_view kNeverWhole[] = {"/", "/usr", "/usr/lib", "/usr/share", "/var", "/var/lib"};

bool under(std::string_view path, std::string_view prefix) {
  return path == prefix || (path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix &&
                            path[prefix.size()] == '/');
}

std::string parent_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string octal(std::uint32_t mode) {
  char text[16];
  std::snprintf(text, sizeof text, "%04o", mode);
  return text;
}

std::string size_text(std::uint64_t bytes) {
  if (bytes >= (1ULL << 30)) return std::to_string(bytes >> 30) + " GiB";
  if (bytes >= (1ULL << 20)) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= 1024) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

// What differs between a path at ready and now, "" when nothing does. Sets `unverified`
// when the contents could not be compared (too large to read whole) and nothing else differs.
std::string differences(const FileRecord& before, const FileRecord& now, bool& unverified) {
  std::vector<std::string> parts;
  if (before.type != now.type) {
    parts.push_back(std::string("type ") + to_string(before.type) + " -> " + to_string(now.type));
  } else {
    if (before.type == FileType::Regular || before.type == FileType::HardLink) {
      if (!before.sha256.empty() && !now.sha256.empty()) {
        if (before.sha256 != now.sha256) parts.push_back("content");
      } else if (before.size != now.size) {
        parts.push_back("content (" + size_text(before.size) + " -> " + size_text(now.size) + ")");
      } else {
        unverified = true;
      }
    }
    if (before.link_target != now.link_target) {
      parts.push_back(std::string(before.type == FileType::Symlink ? "target " : "links to ") + before.link_target +
                      " -> " + now.link_target);
    }
  }
  if (before.mode != now.mode) parts.push_back("mode " + octal(before.mode) + " -> " + octal(now.mode));
  if (before.uid != now.uid || before.gid != now.gid) {
    parts.push_back("owner " + std::to_string(before.uid) + ":" + std::to_string(before.gid) + " -> " +
                    std::to_string(now.uid) + ":" + std::to_string(now.gid));
  }
  if (before.xattrs != now.xattrs) parts.push_back("extended attributes (file capabilities)");
  std::string text;
  for (const std::string& part : parts) text += (text.empty() ? "" : ", ") + part;
  return text;
}

// Reads records of paths from containers through the engine's archives, a bounded number
// of requests at a time, within the host's byte budgets.
class Fetcher {
 public:
  Fetcher(Runtime& runtime, const ChangeLimits& limits) : runtime_(runtime), limits_(limits) {}

  // One container's paths to read and how: Hash to compare, Keep to compare and diff.
  // A path whose content matters only for a diff (created or deleted since ready) is
  // read only when it is small enough to diff: a 10 GB file costs its header.
  struct Side {
    std::string container;
    std::map<std::string, ReadWant> targets;
    std::set<std::string> diff_only;
    std::map<std::string, FileRecord> records;  // out: what was read
    std::map<std::string, std::string> failed;  // out: paths not read, and why
  };

  void fetch(std::vector<Side*> sides) {
    std::deque<Request> queue;
    for (Side* side : sides) plan(*side, queue);
    std::mutex mutex;
    std::vector<std::thread> workers;
    const std::size_t count = std::max<std::size_t>(1, std::min(limits_.parallel_requests, queue.size()));
    for (std::size_t i = 0; i < count; ++i) {
      workers.emplace_back([&] {
        for (;;) {
          Request request;
          {
            std::lock_guard lock(mutex);
            if (queue.empty()) return;
            request = std::move(queue.front());
            queue.pop_front();
          }
          std::vector<Request> retry = run(request);
          std::lock_guard lock(mutex);
          for (Request& again : retry) queue.push_back(std::move(again));
        }
      });
    }
    for (std::thread& worker : workers) worker.join();
  }

 private:
  struct Request {
    Side* side = nullptr;
    std::string root;              // what the engine archives
    std::set<std::string> paths;   // the targets in it
    bool single = false;           // a target of its own (no fallback left)
  };

  // Targets that share a directory are read with one archive of it.
  void plan(Side& side, std::deque<Request>& queue) {
    std::map<std::string, std::set<std::string>> by_parent;
    for (const auto& [path, want] : side.targets) by_parent[parent_of(path)].insert(path);
    std::vector<Request> groups;
    for (auto& [parent, paths] : by_parent) {
      const bool whole = paths.size() > 1 &&
                         std::find(std::begin(kNeverWhole), std::end(kNeverWhole), parent) == std::end(kNeverWhole);
      if (whole) {
        groups.push_back({&side, parent, std::move(paths), false});
      } else {
        for (const std::string& path : paths) groups.push_back({&side, path, {path}, true});
      }
    }
    // A group inside another's archive joins it (groups are sorted by root: ancestors first).
    std::vector<Request> merged;
    for (Request& group : groups) {
      auto host = std::find_if(merged.begin(), merged.end(), [&](const Request& outer) {
        return !outer.single && under(group.root, outer.root);
      });
      if (host == merged.end()) merged.push_back(std::move(group));
      else host->paths.insert(group.paths.begin(), group.paths.end());
    }
    for (Request& request : merged) queue.push_back(std::move(request));
  }

  // Reads one archive; returns the requests that must follow (a group cut short falls
  // back to its missing targets one by one).
  std::vector<Request> run(const Request& request) {
    Side& side = *request.side;
    std::uint64_t budget = 0;
    {
      std::lock_guard lock(mutex_);
      budget = bytes_ < limits_.max_read_bytes ? limits_.max_read_bytes - bytes_ : 0;
    }
    if (budget == 0) {
      fail(side, request.paths, "not compared: the host's read budget (" + size_text(limits_.max_read_bytes) + ") is spent");
      return {};
    }
    std::set<std::string> pending = request.paths;
    std::uint64_t streamed = 0;
    auto want = [&](const FileRecord& header) {
      streamed += 512 + static_cast<std::uint64_t>(std::max<std::int64_t>(header.size, 0));
      if (!pending.count(header.path)) return ReadWant::Skip;
      const bool diff_only = side.diff_only.count(header.path) > 0;
      ReadWant wanted = side.targets.at(header.path);
      if (wanted == ReadWant::Keep && !reserve(header)) wanted = diff_only ? ReadWant::Header : ReadWant::Hash;
      return wanted;
    };
    std::set<std::string> relink;  // hard links whose file came earlier in the archive, unread
    auto visit = [&](FileRecord record) {
      pending.erase(record.path);
      const bool more = !pending.empty();
      if (record.type == FileType::HardLink) {
        // Whether a name is a hard link in an archive depends on what else the archive
        // holds: the file's content is what counts, alone it is a regular file.
        if (record.sha256.empty() && !side.diff_only.count(record.path)) {
          relink.insert(record.path);
          return more;
        }
        record.type = FileType::Regular;
        record.link_target.clear();
      }
      std::lock_guard lock(mutex_);
      side.records[record.path] = std::move(record);
      return more;
    };
    TreeReadOptions options{std::min(budget, limits_.max_request_bytes), limits_.diff_file_bytes};
    auto read = runtime_.read_tree(side.container, request.root, options, want, visit);
    {
      std::lock_guard lock(mutex_);
      bytes_ += std::min(streamed, options.max_bytes);
    }
    if (!read) {
      // Gone since the engine listed it (a file a service rotated): absent, not an error.
      if (read.error().code != ErrorCode::NotFound) fail(side, pending, "not compared: " + read.error().message);
      return {};
    }
    if (*read) pending.clear();  // read to the end: what was not there is gone
    if (request.single) {
      fail(side, pending, "not compared: larger than the read limit of " + size_text(options.max_bytes));
      return {};
    }
    std::vector<Request> retry;
    pending.insert(relink.begin(), relink.end());
    for (const std::string& path : pending) retry.push_back({&side, path, {path}, true});
    return retry;
  }

  // Content is held for diffs within max_kept_bytes, for regular files small enough to diff.
  bool reserve(const FileRecord& header) {
    if (header.type != FileType::Regular || static_cast<std::uint64_t>(header.size) > limits_.diff_file_bytes) return false;
    std::lock_guard lock(mutex_);
    if (kept_ + static_cast<std::uint64_t>(header.size) > limits_.max_kept_bytes) return false;
    kept_ += static_cast<std::uint64_t>(header.size);
    return true;
  }

  void fail(Side& side, const std::set<std::string>& paths, const std::string& why) {
    std::lock_guard lock(mutex_);
    for (const std::string& path : paths) side.failed[path] = why;
  }

  Runtime& runtime_;
  const ChangeLimits& limits_;
  std::mutex mutex_;  // guards the sides' outputs and the counters
  std::uint64_t bytes_ = 0;
  std::uint64_t kept_ = 0;
};

// How a path stands at ready and now, from the two lists of changes.
struct Presence {
  std::optional<FsChangeKind> ready;  // in the baseline's list
  std::optional<FsChangeKind> now;    // in the list at the end
  // Against the image: a path in neither list is the image's own, at both times.
  bool existed() const { return ready ? *ready != FsChangeKind::Deleted : !now || *now != FsChangeKind::Added; }
  bool exists() const { return now ? *now != FsChangeKind::Deleted : !ready || *ready != FsChangeKind::Added; }
};

bool diffable(const FileRecord* record, const ChangeLimits& limits) {
  return !record || (record->type == FileType::Regular && !record->sha256.empty() &&
                     record->size <= static_cast<std::int64_t>(limits.diff_file_bytes) &&
                     record->head.size() == static_cast<std::size_t>(record->size));
}

// Fills `change`'s diff (or the reason there is none) from the records before and after
// (null: the file did not exist then). Only for regular files whose content changed.
void add_diff(PathChange& change, const FileRecord* before, const FileRecord* now, const ChangeLimits& limits) {
  const FileRecord* file = now ? now : before;
  if (!file || (file->type != FileType::Regular) || (before && now && before->type != now->type)) return;
  if (change.kind == ChangeKind::Modified && change.what.find("content") == std::string::npos) return;
  if (change.noisy) {
    change.no_diff = "log, runtime state or history";
  } else if (!diffable(before, limits) || !diffable(now, limits)) {
    const std::int64_t size = std::max(before ? before->size : 0, now ? now->size : 0);
    change.no_diff = size > static_cast<std::int64_t>(limits.diff_file_bytes)
                         ? "larger than " + size_text(limits.diff_file_bytes)
                         : "content not kept (the host's diff budget of " + size_text(limits.max_kept_bytes) + " is spent)";
  } else if (!looks_like_text(before ? before->head : "") || !looks_like_text(now ? now->head : "")) {
    change.no_diff = "binary";
  } else {
    TextDiff diff = unified_diff(before ? before->head : "", now ? now->head : "",
                                 before ? change.path + " (at ready)" : "/dev/null",
                                 now ? change.path + " (at the end)" : "/dev/null", limits.max_diff_bytes);
    change.diff = std::move(diff.text);
    if (diff.cut) change.no_diff = "diff cut at " + size_text(limits.max_diff_bytes);
  }
}

// Where to look: every path in either list of changes but the directories that only
// hold changes (a change to their own mode or owner beside those goes unseen).
std::vector<std::string> paths_to_examine(const std::map<std::string, Presence>& paths) {
  std::vector<std::string> out;
  for (auto it = paths.begin(); it != paths.end(); ++it) {
    const std::string inside = it->first + "/";
    auto next = paths.lower_bound(inside);
    if (next != paths.end() && next->first.rfind(inside, 0) == 0) continue;
    out.push_back(it->first);
  }
  // Protected paths first, so that the limits cut others.
  std::stable_partition(out.begin(), out.end(), [](const std::string& path) { return protected_path(path); });
  return out;
}

HostChanges compare_host(Runtime& runtime, const LabHost& live, const HostBaseline& baseline, const Host* spec,
                         const LabOptions& options, const std::string& session_id, const ChangeLimits& limits) {
  HostChanges result;
  result.host = live.name;
  std::map<std::string, Presence> paths;
  for (const FsChange& change : baseline.changes) paths[change.path].ready = change.kind;
  // The snapshot's reader is made while the engine lists the changes (both take a while).
  // It stays until the session is removed, with the rest of its objects: removing it here
  // would only make the interviewer wait longer for the report.
  auto reader = std::async(std::launch::async, [&] {
    return LabProvisioner(runtime, options).open_snapshot(session_id, live.name, baseline.snapshot_image);
  });
  std::size_t tracked = 0, protected_tracked = 0, dropped = 0;
  Status listed = runtime.container_changes(live.container_id, [&](const FsChange& change) {
    auto found = paths.find(change.path);
    if (found != paths.end()) {
      found->second.now = change.kind;
    } else if (protected_path(change.path) ? protected_tracked++ < limits.max_tracked_paths
                                           : tracked++ < limits.max_tracked_paths) {
      paths[change.path].now = change.kind;
    } else if (protected_path(change.path)) {
      ++result.protected_unexamined;
    } else {
      ++dropped;
    }
  });
  if (!listed) {
    result.error = "the engine could not list the host's changes: " + listed.error().message;
    return result;
  }
  if (!baseline.listed) {
    result.cut.push_back("the host's changes at ready were not listed (the daemon stopped first): files that setup "
                         "made and the candidate deleted are not shown");
  } else if (!baseline.complete) {
    result.cut.push_back("setup and the faults changed more than " + std::to_string(limits.max_baseline_paths) +
                         " paths; deletions among the others are not shown");
  }
  if (dropped > 0) {
    result.cut.push_back(std::to_string(dropped) + " more changed paths were not examined (over " +
                         std::to_string(limits.max_tracked_paths) + ")");
  }
  if (result.protected_unexamined > 0) {
    result.cut.push_back(std::to_string(result.protected_unexamined) +
                         " more changed paths under protected directories were not examined (over " +
                         std::to_string(limits.max_tracked_paths) + "): counted as tampering");
  }

  // What to read where. The snapshot says how each path was at ready (the lists only
  // say where to look); the live host how it is. A path the image has and setup did not
  // touch surely was there: a noisy one of those is not read unless it is compared.
  const std::vector<std::string> examined = paths_to_examine(paths);
  Fetcher::Side before, now;
  now.container = live.container_id;
  std::set<std::string> over_limit;
  std::size_t compared = 0;
  for (const std::string& path : examined) {
    const Presence& presence = paths[path];
    const bool noisy = noisy_path(path);
    const bool exists = presence.exists();
    const bool maybe_existed = presence.existed() || (!baseline.listed && presence.now == FsChangeKind::Added);
    const bool image_file = !presence.ready && presence.now != FsChangeKind::Added;
    const bool read_before = maybe_existed && !(noisy && image_file && !exists);
    const bool read_now = exists && (maybe_existed || !noisy);
    if (!read_before && !read_now) continue;
    if (compared++ >= limits.max_compared_paths) {
      over_limit.insert(path);
      continue;
    }
    // Created or deleted: read for its type and a diff only. Else compared: hashed.
    const bool deleted = read_before && !exists, created = read_now && !maybe_existed;
    const ReadWant wanted = noisy ? (deleted || created ? ReadWant::Header : ReadWant::Hash) : ReadWant::Keep;
    if (read_before) before.targets[path] = wanted;
    if (read_now) now.targets[path] = wanted;
    if (deleted) before.diff_only.insert(path);
    if (created) now.diff_only.insert(path);
  }
  if (!over_limit.empty()) {
    result.cut.push_back(std::to_string(over_limit.size()) + " changed paths were not compared (over " +
                         std::to_string(limits.max_compared_paths) + " per host)");
  }

  auto opened = reader.get();
  if (!opened) {
    result.error = "the snapshot taken at ready cannot be read: " + opened.error().message;
    return result;
  }
  before.container = *opened;
  Fetcher fetcher(runtime, limits);
  fetcher.fetch({&before, &now});

  auto record = [](const Fetcher::Side& side, const std::string& path) -> const FileRecord* {
    auto found = side.records.find(path);
    return found == side.records.end() ? nullptr : &found->second;
  };
  auto failure = [](const Fetcher::Side& side, const std::string& path) -> std::optional<std::string> {
    auto found = side.failed.find(path);
    if (found == side.failed.end()) return std::nullopt;
    return found->second;
  };
  for (const std::string& path : examined) {
    const Presence& presence = paths[path];
    std::optional<std::string> why = failure(before, path);
    if (!why) why = failure(now, path);
    if (over_limit.count(path)) why = "not compared: over the limit of changed paths per host";
    // Read whole: what the reads found is the truth (a path listed but gone by the time
    // it was read, a service's temporary file, is no change). Otherwise the lists say.
    const bool before_read = before.targets.count(path) && !failure(before, path) && !over_limit.count(path);
    const bool now_read = now.targets.count(path) && !failure(now, path) && !over_limit.count(path);
    const FileRecord* was = before_read ? record(before, path) : nullptr;
    const FileRecord* is = now_read ? record(now, path) : nullptr;
    const bool existed = before_read ? was != nullptr : presence.existed();
    const bool exists = now_read ? is != nullptr : presence.exists();
    if (!existed && !exists) continue;
    PathChange change;
    change.path = path;
    change.noisy = noisy_path(path);
    if (existed && exists) {
      if (!was || !is) {
        change.unverified = true;
        change.what = why.value_or("not compared");
      } else {
        bool unverified = false;
        change.what = differences(*was, *is, unverified);
        if (change.what.empty() && !unverified) continue;  // copied up, or changed and put back
        if (change.what.empty()) {
          change.unverified = true;
          change.what = "content not compared (" + size_text(is->size) + ", larger than the read limit)";
        }
      }
    } else {
      change.kind = exists ? ChangeKind::Created : ChangeKind::Deleted;
      if (why && !change.noisy) change.no_diff = *why;
    }
    if (const FileRecord* file = is ? is : was) change.type = to_string(file->type);
    // A side that existed but was not read (noisy, or over a limit) leaves nothing to diff.
    if ((was != nullptr) == existed && (is != nullptr) == exists && !change.unverified) add_diff(change, was, is, limits);
    if (spec) {
      change.expected = std::any_of(spec->expected_changes.begin(), spec->expected_changes.end(),
                                    [&](const std::string& pattern) { return path_glob_matches(pattern, path); });
    }
    change.tampering = protected_path(path) && !change.expected;
    result.changes.push_back(std::move(change));
  }
  std::sort(result.changes.begin(), result.changes.end(),
            [](const PathChange& a, const PathChange& b) { return a.path < b.path; });
  // Bounded for the report; tampering is never what the bound drops.
  if (result.changes.size() > limits.max_listed_paths) {
    std::stable_partition(result.changes.begin(), result.changes.end(), [](const PathChange& c) { return c.tampering; });
    const auto tampering = std::count_if(result.changes.begin(), result.changes.end(), [](const PathChange& c) { return c.tampering; });
    const std::size_t keep = std::max(limits.max_listed_paths, static_cast<std::size_t>(tampering));
    if (result.changes.size() > keep) {
      result.cut.push_back(std::to_string(result.changes.size() - keep) + " more changed paths are not listed (over " +
                           std::to_string(limits.max_listed_paths) + ")");
      result.changes.resize(keep);
    }
    std::sort(result.changes.begin(), result.changes.end(),
              [](const PathChange& a, const PathChange& b) { return a.path < b.path; });
  }
  return result;
}

}  // namespace

bool protected_path(std::string_view path) {
  return std::any_of(std::begin(kProtected), std::end(kProtected), [&](std::string_view root) { return under(path, root); });
}

bool noisy_path(std::string_view path) {
  return std::any_of(std::begin(kNoisy), std::end(kNoisy),
                     [&](std::string_view pattern) { return path_glob_matches(pattern, path); });
}

const char* to_string(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::Created: return "created";
    case ChangeKind::Modified: return "modified";
    case ChangeKind::Deleted: return "deleted";
  }
  return "modified";
}

bool HostChanges::tampered() const {
  return protected_unexamined > 0 ||
         std::any_of(changes.begin(), changes.end(), [](const PathChange& change) { return change.tampering; });
}

std::optional<bool> LabChanges::tampered() const {
  if (unchecked) return std::nullopt;
  bool unknown = false;
  for (const HostChanges& host : hosts) {
    if (host.tampered()) return true;
    unknown |= host.error.has_value();
  }
  if (unknown) return std::nullopt;
  return false;
}

Result<std::vector<HostBaseline>> snapshot_lab(Runtime& runtime, const Lab& lab, const LabOptions& options) {
  std::vector<std::future<Result<std::string>>> commits;
  for (const LabHost& host : lab.hosts) {
    commits.push_back(std::async(std::launch::async, [&runtime, &lab, &options, &host] {
      return LabProvisioner(runtime, options).snapshot_host(lab.session_id, host);
    }));
  }
  std::vector<HostBaseline> baselines;
  std::optional<Error> first_error;
  for (std::size_t i = 0; i < commits.size(); ++i) {
    auto image = commits[i].get();  // every commit is waited for, failed or not
    if (image) {
      HostBaseline baseline;
      baseline.host = lab.hosts[i].name;
      baseline.snapshot_image = *image;
      baselines.push_back(std::move(baseline));
    } else if (!first_error) {
      first_error = make_error(image.error().code, "snapshot of host " + lab.hosts[i].name + ": " + image.error().message);
    }
  }
  if (first_error) return *first_error;
  return baselines;
}

Status list_baseline_changes(Runtime& runtime, const Lab& lab, std::vector<HostBaseline>& baselines,
                             const ChangeLimits& limits) {
  for (HostBaseline& baseline : baselines) {
    const LabHost* host = lab.find(baseline.host);
    if (!host) return make_error(ErrorCode::Internal, "no host " + baseline.host + " in the lab");
    baseline.changes.clear();
    baseline.complete = true;
    Status listed = runtime.container_changes(host->container_id, [&](const FsChange& change) {
      if (baseline.changes.size() < limits.max_baseline_paths) baseline.changes.push_back(change);
      else baseline.complete = false;
    });
    if (!listed) return make_error(listed.error().code, "changes of host " + baseline.host + ": " + listed.error().message);
    baseline.listed = true;
  }
  return {};
}

LabChanges compare_lab(Runtime& runtime, const Lab& lab, const Scenario& scenario,
                       const std::vector<HostBaseline>& baselines, const LabOptions& options, const ChangeLimits& limits) {
  LabChanges changes;
  if (baselines.empty()) {
    changes.unchecked = "no baseline was recorded when the session became ready";
    return changes;
  }
  // The hosts side by side: each waits mostly on the engine.
  std::vector<std::future<HostChanges>> compared;
  for (const LabHost& host : lab.hosts) {
    compared.push_back(std::async(std::launch::async, [&, &host = host]() -> HostChanges {
      auto baseline = std::find_if(baselines.begin(), baselines.end(), [&](const HostBaseline& b) { return b.host == host.name; });
      if (baseline == baselines.end()) {
        HostChanges missing;
        missing.host = host.name;
        missing.error = "no baseline of this host";
        return missing;
      }
      return compare_host(runtime, host, *baseline, scenario.find_host(host.name), options, lab.session_id, limits);
    }));
  }
  std::size_t diff_bytes = 0;
  for (auto& host : compared) {
    HostChanges result = host.get();
    // The report's diffs are bounded as a whole too.
    for (PathChange& change : result.changes) {
      if (change.diff.empty()) continue;
      if (diff_bytes + change.diff.size() > limits.max_report_diff_bytes) {
        change.diff.clear();
        change.no_diff = "the report's diffs are over " + size_text(limits.max_report_diff_bytes);
      } else {
        diff_bytes += change.diff.size();
      }
    }
    changes.hosts.push_back(std::move(result));
  }
  return changes;
}

std::string baselines_to_json(const std::vector<HostBaseline>& baselines) {
  json hosts = json::array();
  for (const HostBaseline& baseline : baselines) {
    json changes = json::array();
    for (const FsChange& change : baseline.changes) changes.push_back({change.path, static_cast<int>(change.kind)});
    hosts.push_back({{"host", baseline.host}, {"snapshot", baseline.snapshot_image}, {"listed", baseline.listed},
                     {"complete", baseline.complete}, {"changes", changes}});
  }
  return hosts.dump();
}

Result<std::vector<HostBaseline>> baselines_from_json(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (!j.is_array()) return make_error(ErrorCode::Internal, "the stored baseline is not a JSON array");
  try {
    std::vector<HostBaseline> baselines;
    for (const json& host : j) {
      HostBaseline baseline;
      baseline.host = host.at("host").get<std::string>();
      baseline.snapshot_image = host.at("snapshot").get<std::string>();
      baseline.listed = host.at("listed").get<bool>();
      baseline.complete = host.at("complete").get<bool>();
      for (const json& change : host.at("changes")) {
        const int kind = change.at(1).get<int>();
        if (kind < 0 || kind > 2) return make_error(ErrorCode::Internal, "the stored baseline has a change of kind " + std::to_string(kind));
        baseline.changes.push_back({change.at(0).get<std::string>(), static_cast<FsChangeKind>(kind)});
      }
      baselines.push_back(std::move(baseline));
    }
    return baselines;
  } catch (const json::exception& error) {
    return make_error(ErrorCode::Internal, std::string("the stored baseline is incomplete: ") + error.what());
  }
}

}  // namespace breakfix
