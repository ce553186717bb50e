#pragma once

// The engine's list of a container's file system changes (GET /containers/{id}/changes),
// parsed as it streams in: a candidate who creates a million files makes the answer tens
// of megabytes, and none of it need be held at once. Internal to provisioning/.

#include <functional>
#include <string>
#include <string_view>

#include "breakfix/runtime.h"

namespace breakfix::docker {

// Feed the answer in pieces of any size; each complete {"Path": ..., "Kind": ...} goes
// to `visit` as soon as its closing brace arrives. Anything around the objects (the
// array's brackets and commas, or a `null` for no changes) is passed over.
class ChangesParser {
 public:
  explicit ChangesParser(std::function<void(const FsChange&)> visit) : visit_(std::move(visit)) {}

  // Internal when an object is not one the engine writes (no Path, an unknown Kind) or
  // longer than any path can make it.
  Status feed(std::string_view piece);
  // Internal when the answer stopped inside an object.
  Status finish() const;

 private:
  std::function<void(const FsChange&)> visit_;
  std::string object_;  // the object being read, from its '{'
  bool in_object_ = false;
  bool in_string_ = false;
  bool escaped_ = false;
};

}  // namespace breakfix::docker
