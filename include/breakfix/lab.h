#pragma once

// A session's lab: the containers (hosts) and network made from a scenario. The
// LabProvisioner builds it on a Runtime and takes it down; it is the only code that
// names runtime objects after sessions, so that removal and garbage collection can
// find everything again by label.

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "breakfix/runtime.h"
#include "breakfix/scenario.h"

namespace breakfix {

struct LabHost {
  std::string name;          // the scenario's host name
  std::string container_id;
  std::string container_name;
  bool entry = false;
};

struct Lab {
  std::string session_id;
  std::string network;  // empty with network: none
  std::vector<LabHost> hosts;

  const LabHost* find(std::string_view host_name) const;
  const LabHost& entry() const;
};

struct LabOptions {
  bool allow_outside_network = false;  // daemon config: may scenarios ask for network: outside?
};

struct GarbageReport {
  std::vector<std::string> containers;  // names removed (or, dry run, to remove)
  std::vector<std::string> networks;
  std::vector<std::string> images;      // sessions' snapshots (tags, or ids when untagged)
  // What gc could not inspect or remove, each with why (a container on an LXD cluster
  // member that went away: Runtime::unreachable_containers). The rest is still done; a
  // later gc, once the machine is back, decides about these.
  std::vector<std::string> left;
};

// The engine-side names, derived from the session id alone.
std::string lab_container_name(const std::string& session_id, const std::string& host_name);
std::string lab_network_name(const std::string& session_id);
// The tag of a host's snapshot: its file system as it was when the session became ready.
std::string lab_snapshot_tag(const std::string& session_id, const std::string& host_name);
// The tag of an image built from a host's `build:` directory; `content_hash` covers the
// context and the image it builds FROM, so an unchanged scenario is never rebuilt.
std::string built_image_tag(const std::string& scenario_id, const std::string& host_name,
                            const std::string& content_hash);

class LabProvisioner {
 public:
  LabProvisioner(Runtime& runtime, LabOptions options) : runtime_(runtime), options_(options) {}

  // The image `host` runs: `image:` as is (NotFound if absent, saying how to get it),
  // or built from `build:` unless an image with the same content hash exists.
  Result<std::string> ensure_image(const Scenario& scenario, const Host& host, const ProgressFn& progress);

  // Creates the session's network and hosts and starts them. On any failure, removes
  // everything it created before returning the error: no half-built lab is left.
  Result<Lab> provision(const Scenario& scenario, const std::string& session_id, const ProgressFn& progress);

  // Removes every container, network and snapshot image labelled with the session,
  // whatever their state.
  Status remove_session(const std::string& session_id);

  // Saves a host's file system as it is now as an image (lab_snapshot_tag) labelled with
  // the session, so that removing the session or collecting garbage removes it too.
  // Returns the image id. The host keeps running.
  Result<std::string> snapshot_host(const std::string& session_id, const LabHost& host);
  // A container of a host's snapshot, created and never started, whose files can be read
  // through the engine (Runtime::read_tree). Labelled with the session (not as a host);
  // one left by an earlier attempt is replaced. Returns its id; remove_session removes it.
  Result<std::string> open_snapshot(const std::string& session_id, const std::string& host_name,
                                    const std::string& image);

  // Removes every breakfix object whose session is not in `live_sessions` (after a
  // crash). With `dry_run`, only reports what it would remove.
  Result<GarbageReport> collect_garbage(const std::set<std::string>& live_sessions, bool dry_run);
  // The same with the live sessions as a test: `live(id)` for a session that is still
  // made as this runs (another process's) answers for a session no list could hold yet.
  Result<GarbageReport> collect_garbage_unless(const std::function<bool(const std::string& session_id)>& live,
                                              bool dry_run);

  // Finds a session's lab again from the labels on its containers (re-adoption).
  Result<Lab> find_lab(const std::string& session_id);

 private:
  Runtime& runtime_;
  LabOptions options_;
};

}  // namespace breakfix
