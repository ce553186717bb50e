#include "breakfix/toolbox.h"

#include "breakfix/base_image.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "scratch_dir.h"
#include "tar_archive.h"

namespace breakfix {
namespace {

namespace fs = std::filesystem;

Status copy_executable(const fs::path& from, const fs::path& to, const std::string& package) {
  std::error_code ec;
  if (!fs::is_regular_file(from, ec)) {
    return make_error(ErrorCode::NotFound, from.string() + " is missing: the grader's toolbox is made from Debian's " +
                                               package + " (apt-get install " + package + ")");
  }
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::permissions(to, fs::perms(0755), ec);
  if (ec) return make_error(ErrorCode::Failed, "cannot copy " + from.string() + ": " + ec.message());
  return {};
}

// <root>/.breakfix/bin with bash, busybox and a link per applet.
Status lay_out_toolbox(const ToolboxOptions& options, const fs::path& root) {
  const fs::path bin = root / ".breakfix" / "bin";
  std::error_code ec;
  fs::create_directories(bin, ec);
  if (ec) return make_error(ErrorCode::Failed, "cannot make " + bin.string() + ": " + ec.message());
  if (Status copied = copy_executable(options.busybox, bin / "busybox", "busybox-static"); !copied) return copied;
  if (Status copied = copy_executable(options.bash, bin / "bash", "bash-static"); !copied) return copied;
  for (const std::string& applet : toolbox_applets()) {
    fs::create_symlink("busybox", bin / applet, ec);
    if (ec) return make_error(ErrorCode::Failed, "cannot link " + applet + ": " + ec.message());
  }
  return {};
}

std::string volume_name(const std::string& image_id) {
  // "sha256:0123..." -> breakfix-toolbox-0123456789ab: a new image gets a new volume, so a
  // rebuilt toolbox reaches new labs while running labs keep the one they mounted.
  const std::string hex = image_id.rfind("sha256:", 0) == 0 ? image_id.substr(7) : image_id;
  return "breakfix-toolbox-" + hex.substr(0, 12);
}

}  // namespace

const std::vector<std::string>& toolbox_applets() {
  static const std::vector<std::string> applets = {
      "[",        "awk",     "base64",    "basename", "cat",     "chmod",   "chown",   "cmp",    "cp",     "cut",
      "date",     "dd",      "diff",      "dirname",  "echo",    "egrep",   "env",     "expr",   "false",  "fgrep",
      "find",     "grep",    "head",      "id",       "ln",      "ls",      "md5sum",  "mkdir",  "mktemp", "mv",
      "od",       "printf",  "readlink",  "realpath", "rm",      "rmdir",   "sed",     "seq",    "sh",     "sha1sum",
      "sha256sum", "sha512sum", "sleep",  "sort",     "stat",    "tac",     "tail",    "tee",    "test",   "timeout",
      "touch",    "tr",      "true",      "uniq",     "wc",      "xargs",   "yes",
  };
  return applets;
}

const std::string& toolbox_functions() {
  static const std::string functions = [] {
    // Bash's own builtins are already the grader's (and a function would shadow them).
    static const std::vector<std::string> builtins = {"[", "echo", "false", "printf", "test", "true"};
    std::string text;
    for (const std::string& applet : toolbox_applets()) {
      if (std::find(builtins.begin(), builtins.end(), applet) != builtins.end()) continue;
      text += applet + "() { " + kToolboxBusybox + " " + applet + " \"$@\"; }; ";
    }
    return text;
  }();
  return functions;
}

Status build_toolbox_image(Runtime& runtime, const ToolboxOptions& options, const ProgressFn& progress) {
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  if (!options.rebuild) {
    auto built = image_already_built(runtime, options.tag, progress);
    if (!built) return built.error();
    if (*built) return {};
  }
  auto made = ScratchDir::make(options.work_dir, "breakfix-toolbox");
  if (!made) return made.error();
  const ScratchDir scratch = std::move(made.value());
  const fs::path root = scratch.path() / "root";
  const fs::path tarball = scratch.path() / "toolbox.tar";
  say("toolbox: static bash and busybox with " + std::to_string(toolbox_applets().size()) + " applets");
  if (Status laid = lay_out_toolbox(options, root); !laid) return laid;
  if (Status packed = archive::tar_root_filesystem(root, tarball, {}); !packed) return packed;
  const std::vector<std::string> changes = {"LABEL breakfix.managed=true", "LABEL breakfix.image=toolbox"};
  if (Status imported = runtime.import_image(tarball, options.tag, changes, {}); !imported) return imported;
  say(options.tag + " is ready");
  return {};
}

Result<std::string> ensure_toolbox_volume(Runtime& runtime, const ProgressFn& progress) {
  // One filler at a time in this process: two sessions starting together would both
  // find the volume missing and race to fill it.
  static std::mutex filling;
  static int fillers = 0;
  std::lock_guard lock(filling);
  auto image = runtime.image_id(kToolboxImageTag);
  if (!image) return image.error();
  if (!image->has_value()) {
    if (Status built = build_toolbox_image(runtime, ToolboxOptions{}, progress); !built) return built.error();
    image = runtime.image_id(kToolboxImageTag);
    if (!image) return image.error();
    if (!image->has_value()) return make_error(ErrorCode::Internal, std::string(kToolboxImageTag) + " vanished after its build");
  }
  const std::string volume = volume_name(**image);
  auto exists = runtime.has_volume(volume);
  if (!exists) return exists.error();
  if (*exists) return volume;
  // The engine makes and fills the volume when a container that mounts it is created
  // (the image's files at the mount point are copied in); the container never runs.
  if (progress) progress("filling volume " + volume + " from " + kToolboxImageTag);
  ContainerSpec filler;
  // A name of its own: another daemon on the same engine may be filling it too (the
  // engine copies into the volume only while it is empty, so both end with the same files).
  filler.name = volume + "-fill-" + std::to_string(::getpid()) + "-" + std::to_string(++fillers);
  filler.image = kToolboxImageTag;
  filler.hostname = "toolbox";
  filler.command = {kToolboxBusybox, "true"};
  VolumeMount mount = toolbox_mount(volume);
  mount.read_only = false;
  filler.volumes.push_back(mount);
  filler.labels = {{kLabelManaged, "true"}};
  auto id = runtime.create_container(filler);
  if (!id) return id.error();
  (void)runtime.remove_container(*id);
  return volume;
}

VolumeMount toolbox_mount(const std::string& volume) {
  VolumeMount mount;
  mount.volume = volume;
  mount.target = kToolboxDir;
  mount.read_only = true;
  mount.labels = {{kLabelManaged, "true"}, {kLabelToolbox, kToolboxImageTag}};
  return mount;
}

}  // namespace breakfix
