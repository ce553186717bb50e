#pragma once

// A mount table held open (/proc/<pid>/mountinfo). The kernel marks an open table when
// its namespace's mounts change (poll says POLLPRI), so a mount made and undone between
// two reads still shows. The LXD backend holds a lab's init's table open while a
// grader's tool runs (docs/runtime.md, "The toolbox on LXD"): on this host itself, or
// through breakfix-hostview on an LXD cluster's member.

#include <memory>
#include <string>

#include "breakfix/error.h"

namespace breakfix::lxd {

class MountTable {
 public:
  // Failed, naming the file, when it cannot be opened (the process is gone).
  static Result<std::unique_ptr<MountTable>> open(const std::string& path);
  ~MountTable();
  MountTable(const MountTable&) = delete;
  MountTable& operator=(const MountTable&) = delete;

  // The whole table, from the start.
  Result<std::string> read();
  // Whether the mounts changed since the table was opened.
  bool changed();

 private:
  explicit MountTable(int fd) : fd_(fd) {}
  int fd_;
  bool changed_ = false;
};

}  // namespace breakfix::lxd
