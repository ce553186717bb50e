#pragma once

// The scenario model: what a scenario author wrote in scenario.yaml, validated and
// with every default filled in. The loader (scenario_loader.h) is the only code that
// knows the YAML format; everything else reads these structs, which never change
// once loaded (scenarios are shared as shared_ptr<const Scenario>).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "breakfix/diagnostic.h"

namespace breakfix {

// customer: a ticket on the host, answered in a reply file; judged by the rubric, helped
// by checks on the reply.
enum class ScenarioKind { BreakFix, BugFix, Customer };
enum class Difficulty { Easy, Medium, Hard };
// none: no network at all; internal: a bridge of the session's own that reaches
// nothing but the session's hosts; outside: may reach beyond the machine.
enum class NetworkMode { None, Internal, Outside };
// fix: fails once the faults are in, passes once repaired. guard: passes throughout.
enum class CheckExpectation { Fix, Guard };
// What runs as a host's PID 1. default: the runtime's own init, a shell that sleeps and
// reaps orphans (services are started by `setup`, with init scripts). systemd: the
// host boots systemd, so labs can use units, timers and the journal; only the LXD
// backend runs such hosts (system containers), and a session of a scenario with one
// fails to start on a backend that cannot.
enum class HostInit { Default, Systemd };

const char* to_string(ScenarioKind kind);
const char* to_string(Difficulty difficulty);
const char* to_string(NetworkMode mode);
const char* to_string(CheckExpectation expectation);
const char* to_string(HostInit init);

// A bash script from the scenario and where it was written, so that a failing
// script can be reported against the line an author would edit.
struct Script {
  std::string text;
  SourcePosition where;
  std::chrono::seconds timeout{0};
  // The scenario's shell helpers (`lib:`), defined before the script runs; shared by
  // every script of the scenario. Null: none.
  std::shared_ptr<const std::string> lib = nullptr;
};

struct Resources {
  double cpus = 1.0;
  std::int64_t memory_bytes = 512LL * 1024 * 1024;
  std::int64_t pids = 512;
};

// A tmpfs the engine mounts in a host: a file system of bounded size (and inode count)
// whose pages count against the host's memory, so that a lab can fill a disk without
// touching the machine's.
struct Tmpfs {
  std::string path;             // absolute, normalized
  std::int64_t size_bytes = 0;
  std::int64_t inodes = 0;      // 0: the kernel's default (half the pages of RAM)
  std::uint32_t mode = 01777;   // of the mount's root directory
};

// A host's name: ^[a-z][a-z0-9-]{0,30}$. The loader checks scenarios with it, and the
// gateway checks the "<id>+<host>" a client asks for with it before keeping any state.
inline bool is_valid_host_name(std::string_view name) {
  if (name.empty() || name.size() > 31 || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

struct Host {
  std::string name;                   // also the container's hostname
  std::string image;                  // set when the host runs an existing image...
  std::filesystem::path build_context;  // ...or this directory (absolute) holds its Dockerfile
  bool entry = false;                 // where the candidate lands
  std::string user = "root";          // login user
  std::string workdir;                // where the login shell starts
  HostInit init = HostInit::Default;  // `init:`: what runs as PID 1
  Resources resources;
  std::vector<Tmpfs> tmpfs;
  // Capabilities beyond the set every host has ("SYS_PTRACE"), from grantable_capabilities().
  std::vector<std::string> capabilities;
  std::optional<Script> setup;        // runs as root after start, before the faults
  // Path patterns (path_glob.h) the candidate is expected to change: a bug-fix lab's
  // source tree or installed binary. Not tampering, though protected paths; still listed.
  std::vector<std::string> expected_changes;
  // Absolute paths (files, or trees of files) that must stay as the candidate found them:
  // hashed by the grader's tools after the faults, compared by a critical guard the
  // loader adds ("<host>: files that must not change").
  std::vector<std::string> unchanged;
};

// The `unchanged:` rule, written once for the loader's guard and the engine's record:
// a grader-tools command printing "sha256  path" for every file under the host's
// unchanged paths, sorted; the var that holds what it printed after the faults; the
// guard's name and script, which compare the two.
std::string unchanged_listing_command(const Host& host);
std::string unchanged_var(const Host& host);
std::string unchanged_check_name(const Host& host);
std::string unchanged_check_script(const Host& host);

// What a scenario may grant a host with `capabilities:`: each stays inside the host's own
// namespaces. SYS_ADMIN (which could unmount the grader's toolbox), DAC_READ_SEARCH
// (open_by_handle_at reaches the host's files), SYS_MODULE, SYS_TIME, MKNOD and the like
// are never granted, nor NET_ADMIN and NET_RAW (a host could then spoof addresses on
// its session's bridge).
const std::vector<std::string>& grantable_capabilities();

// A variable that takes one value per session, picked from the session's seed.
struct Var {
  std::string name;
  std::vector<std::string> choices;  // a range: [lo, hi] is expanded into its members
};

struct Fault {
  std::string name;
  std::string host;
  Script run;
};

struct Check {
  std::string name;
  std::string host;
  double weight = 1.0;
  CheckExpectation expect = CheckExpectation::Fix;
  bool serial = false;  // must not run alongside other checks
  // Also run every few minutes while the candidate works (the report's timeline). Off
  // for a check with side effects or one the candidate should not see run.
  bool progress = true;
  // A guard whose failure means harm (data lost, a service removed, security dropped):
  // while it fails the score is at most `cap`, whatever else passes.
  bool critical = false;
  double cap = 0;
  // A guard counts only beside the fix checks it protects (names of `expect: fix`
  // checks); empty: beside any passing fix check.
  std::vector<std::string> required_fixes;
  Script run;
};

struct SolutionStep {
  std::string host;
  Script run;
};

// Another way through the lab, applied by `scenario test` to a fresh lab with the faults
// in: a shortcut (what an impatient candidate would try) must score at most `max_score`
// and fail every check in `must_fail`; an alternative (another correct repair) must
// score 100%.
struct Attempt {
  std::string name;
  SolutionStep step;
  std::optional<double> max_score;
  std::vector<std::string> must_fail;
};

// Released in order by the interviewer (`session hint`), or on its own `after` the
// session became ready. Each one given takes `cost` (a fraction of 1) off the score.
struct Hint {
  std::optional<std::chrono::seconds> after;  // none: only when the interviewer gives it
  std::string text;
  double cost = 0;
};

// One thing the interviewer judges and the checks cannot (`rubric:`): "method",
// "communication". Rated on a scale of levels.size() levels; levels[0] describes level 1,
// the lowest. Ratings sit beside the checks' score in the report and never change it.
// Where a customer scenario's candidate writes their answer to the ticket. The grader
// reads it through the engine (never a tool in the lab) for the report.
struct Reply {
  std::string host;
  std::string path;  // absolute
};

struct RubricCriterion {
  std::string name;         // as an id: what `session rate ID NAME LEVEL` takes
  std::string description;  // what is judged; may be empty
  std::vector<std::string> levels;
};

// One way the lab is broken (`variants:`): what it sets replaces the scenario's own; what
// it leaves out is the scenario's. A session picks one from its seed (pick_variant).
struct Variant {
  std::string name;
  std::optional<Difficulty> difficulty;
  std::optional<std::vector<Fault>> faults;
  std::optional<std::vector<SolutionStep>> solution;
  std::optional<std::vector<Hint>> hints;
  std::optional<std::vector<Attempt>> shortcuts;
  std::optional<std::vector<Attempt>> alternatives;
};

struct Scenario {
  std::string id;
  std::string title;
  ScenarioKind kind = ScenarioKind::BreakFix;
  Difficulty difficulty = Difficulty::Medium;
  std::chrono::seconds duration{90 * 60};
  std::vector<std::string> tags;
  std::string description;
  std::vector<Var> vars;
  std::vector<Host> hosts;
  NetworkMode network = NetworkMode::None;
  std::vector<Fault> faults;
  std::vector<Check> checks;
  std::vector<SolutionStep> solution;
  std::vector<Hint> hints;
  std::vector<Attempt> shortcuts;
  std::vector<Attempt> alternatives;
  std::vector<RubricCriterion> rubric;
  std::optional<Reply> reply;  // customer scenarios
  std::vector<std::filesystem::path> lib_files;  // the `lib:` files read, in order
  std::vector<Variant> variants;
  // The variant this scenario is, once resolved (with_variant); "" for the scenario as
  // written, and always for one without variants.
  std::string variant;

  std::filesystem::path source_file;  // the scenario.yaml it came from
  // Of the file's text: a lab made from an older text of the scenario (a warm one) is
  // not handed out once the library has a newer one.
  std::string digest;
  SourcePosition id_position;         // where `id:` stands, for duplicate-id messages

  const Host& entry_host() const;
  const Host* find_host(std::string_view name) const;
  // Whether any host has `init: systemd` (and so needs a backend that boots systemd).
  bool needs_systemd() const;
  const RubricCriterion* find_criterion(std::string_view name) const;
};

using ScenarioPtr = std::shared_ptr<const Scenario>;

// The scenario as variant `index` makes it: the variant's faults, solution, hints,
// shortcuts, alternatives and difficulty in place of the scenario's, `variant` set, and
// no variants left. Null stays null; an index past the last is the scenario as written.
ScenarioPtr with_variant(const ScenarioPtr& scenario, std::size_t index);

}  // namespace breakfix
