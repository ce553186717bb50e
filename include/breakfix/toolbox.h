#pragma once

// The grader's own tools. A candidate is root in their lab: they can replace /bin/bash,
// put a fake `grep` on the PATH or add /etc/ld.so.preload. Every script breakfix runs in a
// lab (setup, faults, checks, progress runs, the kill of a timed-out exec) therefore runs
// under a static bash and a static busybox that live on a read-only volume mounted at
// kToolboxDir in every host. Static binaries load no library and read no ld.so.preload;
// the mount is read-only and hosts lack CAP_SYS_ADMIN, so it cannot be remounted,
// unmounted or covered. docs/security.md says what this stops and what it does not.
//
// The volume is filled once per toolbox image by the engine itself (a named volume
// copies the image's content at its first mount), so it works on any Docker engine,
// with the daemon on the host or in a container, and needs no path shared with the host.

#include <filesystem>
#include <string>
#include <vector>

#include "breakfix/runtime.h"

namespace breakfix {

inline constexpr const char* kToolboxImageTag = "breakfix/toolbox:bookworm";
inline constexpr const char* kToolboxDir = "/.breakfix";
inline constexpr const char* kToolboxBash = "/.breakfix/bin/bash";
inline constexpr const char* kToolboxBusybox = "/.breakfix/bin/busybox";
// The label that names the toolbox image a volume was filled from.
inline constexpr const char* kLabelToolbox = "breakfix.toolbox";

struct ToolboxOptions {
  std::string tag = kToolboxImageTag;
  // Debian's busybox-static and bash-static install these.
  std::filesystem::path busybox = "/bin/busybox";
  std::filesystem::path bash = "/bin/bash-static";
  std::filesystem::path work_dir = "/var/tmp";
  bool rebuild = false;  // build even when the image exists
};

// The busybox applets the toolbox puts on a check's PATH: text and file utilities whose
// answers a check relies on. Tools that are the lab's software (ps, su, df, ip, wget) are
// left out on purpose: a check that calls them tests the lab, and tamper evidence covers
// them.
const std::vector<std::string>& toolbox_applets();

// Shell functions, one per applet that is not a bash builtin ("grep() { /.breakfix/bin/
// busybox grep "$@"; }"), that a check's bash defines before the check: the check's own
// commands then run the toolbox's utilities, while the programs it starts keep the lab's
// PATH and tools (functions are not exported), so the lab's software behaves exactly as
// it does for the candidate.
const std::string& toolbox_functions();

// Builds kToolboxImageTag from this machine's static busybox and bash (a few MiB, about
// a second), unless it exists and !rebuild. NotFound names the Debian packages to
// install when the binaries are missing.
Status build_toolbox_image(Runtime& runtime, const ToolboxOptions& options, const ProgressFn& progress);

// The name of the volume that holds the current toolbox image's files, creating and
// filling it if needed (and building the image first if it is missing). Every lab host
// mounts it read-only at kToolboxDir.
Result<std::string> ensure_toolbox_volume(Runtime& runtime, const ProgressFn& progress);

// The mount a lab host gets for `volume`.
VolumeMount toolbox_mount(const std::string& volume);

}  // namespace breakfix
