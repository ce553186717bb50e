#pragma once

// Tamper evidence and the candidate's changes (docs/architecture.md, "Tamper evidence").
//
// When a session becomes ready, each host's file system is recorded from the engine's
// side alone: a snapshot image of each host (a commit, taken while the precheck runs), and
// just after ready, in the background, the host's list of changes against its image (what
// setup and the faults did: the engine walks the whole image for it, about 0.6 s of its
// CPU per host on Docker 20.10, too slow to wait for). At the end the list is taken again,
// and each path in either list is compared, snapshot against live, through the engine's
// archives of both. The snapshot is the truth about ready; the first list only says where
// to look for what setup made and the candidate deleted. Nothing that runs in a host is
// asked anything: the candidate is root there and may have replaced any tool.
//
// A change under a path the grader relies on (executables, libraries, the loader's and
// PAM's configuration, sudoers: protected_path()) that the scenario does not expect
// (Host::expected_changes) is tampering. Every change is listed, with a unified diff for
// text files; logs, runtime state and shell histories (noisy_path()) without one.
//
// Everything is bounded by ChangeLimits whatever the candidate made: a million files or
// one of 10 GB cost the daemon the same memory, and the report says what a bound cut. A
// protected path that could not be compared within the bounds counts as tampering.
//
// Threads: each function may be called from any thread; they block on the engine.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "breakfix/lab.h"
#include "breakfix/runtime.h"
#include "breakfix/scenario.h"

namespace breakfix {

struct ChangeLimits {
  std::size_t max_baseline_paths = 100000;  // changes recorded per host at ready
  std::size_t max_tracked_paths = 20000;    // changed paths examined per host, protected and others each
  std::size_t max_compared_paths = 2000;  // paths per host whose content is read
  std::uint64_t max_read_bytes = 1ULL << 30;           // archive bytes read per host
  std::uint64_t max_request_bytes = 64ULL << 20;       // archive bytes read per request
  std::size_t diff_file_bytes = 128 * 1024;            // text files larger than this get no diff
  std::size_t max_diff_bytes = 64 * 1024;              // one file's diff is cut here
  std::size_t max_kept_bytes = 32ULL << 20;            // file content held for diffs per host and side
  std::size_t max_listed_paths = 1000;                 // paths per host in the report
  std::size_t max_report_diff_bytes = 1 << 20;         // diffs in the whole report
  std::size_t parallel_requests = 4;                   // archive requests at once (each waits on a helper process)
};

// One host as it was when its session became ready.
struct HostBaseline {
  std::string host;
  std::string snapshot_image;     // the host's file system at ready (an image id)
  bool listed = false;            // whether `changes` was recorded (it is, just after ready)
  std::vector<FsChange> changes;  // what setup and the faults changed, against the host's image
  bool complete = true;           // false: more changes than max_baseline_paths; the rest unknown
};

// Whether tampering with `path` could fool the grader; documented in docs/scenario-format.md.
bool protected_path(std::string_view path);
// Whether `path` is a log, runtime state, a cache or a shell history: listed, no diff.
bool noisy_path(std::string_view path);

// The part of a baseline that must be taken before the candidate gets in: a snapshot
// image of every host of the lab, taken at once (the precheck may run meanwhile).
// Returns a baseline per host, not yet `listed`.
Result<std::vector<HostBaseline>> snapshot_lab(Runtime& runtime, const Lab& lab, const LabOptions& options);
// The part that may follow just after ready: each host's changes against its image. A
// candidate quick enough to delete a file setup made before the engine has listed it
// hides that deletion, nothing else: every state at ready is read from the snapshot.
Status list_baseline_changes(Runtime& runtime, const Lab& lab, std::vector<HostBaseline>& baselines,
                             const ChangeLimits& limits = {});

enum class ChangeKind { Created, Modified, Deleted };
const char* to_string(ChangeKind kind);

struct PathChange {
  std::string path;
  ChangeKind kind = ChangeKind::Modified;
  std::string type;       // "file", "directory", "symlink", ... as it is now (or was); "" if not read
  std::string what;       // for Modified: "content", "mode 0755 -> 4755", "owner 0:0 -> 1000:1000", ...
  bool tampering = false; // a protected path the scenario does not expect to change
  bool expected = false;  // matches the host's expected_changes
  bool noisy = false;     // noisy_path()
  bool unverified = false;  // could not be compared within the limits (`what` says why)
  std::string diff;       // unified diff of a text file
  std::string no_diff;    // why a file has none: "binary", "larger than 128 KiB", ...
};

struct HostChanges {
  std::string host;
  std::optional<std::string> error;  // the comparison could not be made: why (then nothing else is known)
  std::vector<PathChange> changes;   // by path
  std::vector<std::string> cut;      // what the limits left out, one sentence each
  std::size_t protected_unexamined = 0;  // changed protected paths over max_tracked_paths: tampering
  bool tampered() const;
};

struct LabChanges {
  std::optional<std::string> unchecked;  // why there is no comparison at all (no baseline)
  std::vector<HostChanges> hosts;
  // true: some host was tampered with; false: every host was compared and none was;
  // nullopt: not known (no baseline, or a comparison failed and none showed tampering).
  std::optional<bool> tampered() const;
};

// At the end: compares each host of the lab with its baseline. Each host's reader of its
// snapshot is created and removed here.
LabChanges compare_lab(Runtime& runtime, const Lab& lab, const Scenario& scenario,
                       const std::vector<HostBaseline>& baselines, const LabOptions& options,
                       const ChangeLimits& limits = {});

// A lab's baselines <-> JSON (what the store keeps).
std::string baselines_to_json(const std::vector<HostBaseline>& baselines);
Result<std::vector<HostBaseline>> baselines_from_json(const std::string& json);

}  // namespace breakfix
