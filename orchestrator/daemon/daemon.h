#pragma once

// `breakfix serve`: puts the daemon together from its parts (store, runtime, scenario
// catalog, session engine on a worker pool, HTTP API, metrics) and runs it until
// SIGTERM or SIGINT. SIGHUP reloads the scenarios. Sessions survive a restart: on
// SIGTERM the daemon stops accepting, lets the work under way finish (bounded), and
// exits; the next start re-adopts every session from the store.

#include <filesystem>
#include <functional>

#include "daemon/daemon_config.h"

namespace breakfix {

struct ServeOptions {
  std::filesystem::path config_file;
  // Called once the API listens (tests, `session start --start-daemon`); the daemon keeps running.
  std::function<void()> on_ready;
};

// Returns the process's exit code: 0 after a clean stop, 1 when it cannot start.
int serve(const DaemonConfig& config, const ServeOptions& options);

}  // namespace breakfix
