#include "breakfix/runtime_factory.h"

#include <cstdlib>

#include "breakfix/docker_runtime.h"
#include "breakfix/lxd_runtime.h"

namespace breakfix {

std::optional<Backend> parse_backend(const std::string& name) {
  if (name == "docker") return Backend::Docker;
  if (name == "lxd") return Backend::Lxd;
  return std::nullopt;
}

const char* to_string(Backend backend) { return backend == Backend::Lxd ? "lxd" : "docker"; }

Result<RuntimeChoice> runtime_choice_from_environment() {
  RuntimeChoice choice;
  if (const char* name = std::getenv("BREAKFIX_BACKEND"); name && *name) {
    auto backend = parse_backend(name);
    if (!backend) return make_error(ErrorCode::Invalid, std::string("BREAKFIX_BACKEND=") + name + ": docker or lxd");
    choice.backend = *backend;
  }
  auto docker = docker_options_from_environment();
  if (!docker) return docker.error();
  choice.docker_socket = docker->socket_path;
  const LxdOptions lxd = lxd_options_from_environment();
  choice.lxd_socket = lxd.socket_path;
  choice.lxd_pool = lxd.pool;
  return choice;
}

std::unique_ptr<Runtime> make_runtime(const RuntimeChoice& choice) {
  if (choice.backend == Backend::Lxd) {
    LxdOptions options;
    options.socket_path = choice.lxd_socket;
    options.pool = choice.lxd_pool;
    options.builder_docker_socket = choice.docker_socket;
    options.io_timeout = choice.io_timeout;
    return make_lxd_runtime(options);
  }
  DockerOptions options;
  options.socket_path = choice.docker_socket;
  options.io_timeout = choice.io_timeout;
  return make_docker_runtime(options);
}

}  // namespace breakfix
