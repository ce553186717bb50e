#pragma once

// Shared by the integration tests that use the real Docker engine: the runtime, a
// unique session id per test, and a guard that removes the session's objects at the
// end and fails the test if anything of it is left (the suite leaks nothing).

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include <cstdio>
#include <cstdlib>

#include "breakfix/docker_runtime.h"
#include "breakfix/runtime_factory.h"
#include "breakfix/lab.h"

namespace breakfix::testing {

// The backend under test: BREAKFIX_BACKEND (docker, the default, or lxd), so that one
// suite proves both (CMakeLists.txt registers it once per backend).
inline const RuntimeChoice& test_backend() {
  static const RuntimeChoice choice = [] {
    auto from_environment = runtime_choice_from_environment();
    if (!from_environment.ok()) {
      std::fprintf(stderr, "%s\n", from_environment.error().message.c_str());
      std::abort();
    }
    return *from_environment;
  }();
  return choice;
}

inline bool testing_lxd() { return test_backend().backend == Backend::Lxd; }

inline Runtime& lab_runtime() {
  static std::unique_ptr<Runtime> runtime = make_runtime(test_backend());
  return *runtime;
}

inline std::string unique_session_id(const std::string& what) {
  static std::atomic<int> counter{0};
  return "it-" + what + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

class SessionGuard {
 public:
  explicit SessionGuard(std::string session_id) : session_id_(std::move(session_id)) {}
  ~SessionGuard() {
    LabProvisioner provisioner(lab_runtime(), {});
    CHECK(provisioner.remove_session(session_id_).ok());
    auto containers = lab_runtime().list_containers({{kLabelSession, session_id_}});
    auto networks = lab_runtime().list_networks({{kLabelSession, session_id_}});
    auto images = lab_runtime().list_images({{kLabelSession, session_id_}});
    CHECK(containers.ok());
    CHECK(networks.ok());
    CHECK(images.ok());
    if (containers.ok()) CHECK_MESSAGE(containers->empty(), "containers leaked by " << session_id_);
    if (networks.ok()) CHECK_MESSAGE(networks->empty(), "networks leaked by " << session_id_);
    if (images.ok()) CHECK_MESSAGE(images->empty(), "snapshot images leaked by " << session_id_);
  }
  const std::string& id() const { return session_id_; }

 private:
  std::string session_id_;
};

// Output of an exec, collected.
struct Collected {
  std::string out, err;
  std::function<void(OutputStream, std::string_view)> sink() {
    return [this](OutputStream stream, std::string_view data) { (stream == OutputStream::Stdout ? out : err).append(data); };
  }
};

}  // namespace breakfix::testing
