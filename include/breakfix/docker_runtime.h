#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "breakfix/runtime.h"

namespace breakfix {

struct DockerOptions {
  // The engine's unix socket. Podman's Docker-compatible socket works too
  // (docs/runtime.md): e.g. /run/podman/podman.sock.
  std::string socket_path = "/var/run/docker.sock";
  // Every request names this API version; 1.41 is Docker 20.10, Debian 12's.
  std::string api_version = "v1.41";
  // Bounds each read or write on the socket (not whole operations such as builds).
  std::chrono::seconds io_timeout{300};
};

// The options from the environment: DOCKER_HOST=unix:///path when set, else the default
// socket. Invalid for DOCKER_HOST values breakfix cannot use (tcp://, ssh://).
Result<DockerOptions> docker_options_from_environment();

// The Runtime backed by the Docker Engine HTTP API over its unix socket.
std::unique_ptr<Runtime> make_docker_runtime(const DockerOptions& options);

}  // namespace breakfix
