#pragma once

// Which Runtime backs the labs (`runtime.backend`), made in one place for the daemon,
// the CLI and the tests.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "breakfix/runtime.h"

namespace breakfix {

enum class Backend { Docker, Lxd };

struct RuntimeChoice {
  Backend backend = Backend::Docker;
  std::string docker_socket = "/var/run/docker.sock";
  std::string lxd_socket = "/var/lib/lxd/unix.socket";
  std::string lxd_pool = "breakfix";
  std::chrono::seconds io_timeout{300};
};

// "docker" or "lxd"; nullopt for anything else.
std::optional<Backend> parse_backend(const std::string& name);
const char* to_string(Backend backend);

// The choice from the environment: BREAKFIX_BACKEND (docker, lxd), DOCKER_HOST
// (unix:///path) and LXD_SOCKET. Invalid names the variable and what it may be.
Result<RuntimeChoice> runtime_choice_from_environment();

std::unique_ptr<Runtime> make_runtime(const RuntimeChoice& choice);

}  // namespace breakfix
