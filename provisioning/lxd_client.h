#pragma once

// LXD's REST API (https://documentation.ubuntu.com/lxd/en/stable-5.0/rest-api/) over its
// unix socket: one connection per call, as for Docker. LXD answers either at once
// ("sync") or with a background operation ("async") that the client waits for; this
// class hides the difference. Internal to provisioning/.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "breakfix/error.h"
#include "docker_connection.h"

namespace breakfix::lxd {

using docker::Headers;
using docker::Method;

struct ClientOptions {
  std::string socket_path;
  std::chrono::seconds io_timeout{300};
  std::chrono::seconds operation_timeout{600};
};

// An operation LXD runs in the background: its id and the metadata it started with
// (an exec's websocket secrets).
struct Operation {
  std::string id;
  nlohmann::json metadata;
};

class Client {
 public:
  explicit Client(ClientOptions options) : options_(std::move(options)) {}

  // A sync answer's metadata, or (for an async answer) the finished operation's
  // metadata. `what` starts every error message ("create instance web").
  Result<nlohmann::json> call(Method method, const std::string& path, const std::string& what,
                              const nlohmann::json& body = nullptr);
  // Starts an async request and returns its operation without waiting for it.
  Result<Operation> start(Method method, const std::string& path, const std::string& what, const nlohmann::json& body);
  // Waits for an operation to end (at most `timeout`, else the client's own bound);
  // returns its metadata, or its error.
  Result<nlohmann::json> wait(const std::string& operation, const std::string& what,
                              std::chrono::seconds timeout = std::chrono::seconds(0));
  // A file of an instance as LXD's own file API reads it (no process of the instance
  // runs): its bytes. NotFound if it is absent.
  Result<std::string> read_file(const std::string& instance, const std::string& path);
  // Writes a file into an instance (running or not), owned by root of the instance.
  Status write_file(const std::string& instance, const std::string& path, const std::string& content,
                    unsigned mode = 0644);
  // Makes a directory of an instance (its parent must exist); an existing one is kept.
  Status make_directory(const std::string& instance, const std::string& path, unsigned mode = 0755);
  // A GET's body written to `file` (an image's export), whatever its size.
  Status download(const std::string& path, const std::filesystem::path& file, const std::string& what);
  // Sends a file as a request body (an image tarball) and waits for the operation.
  Result<nlohmann::json> upload(const std::string& path, const std::filesystem::path& file, const std::string& what);

  Result<std::unique_ptr<docker::Connection>> connect() const;
  const ClientOptions& options() const { return options_; }

 private:
  Result<nlohmann::json> finish(const docker::Response& response, const std::string& what);
  Status post_file(const std::string& instance, const std::string& path, const std::string& type,
                   const std::string& content, unsigned mode, const std::string& what);
  ClientOptions options_;
};

// A path below an operation's: "/1.0/operations/<id>" + `sub` ("/wait"), with `query`
// ("timeout=30") and whatever query LXD put in the operation's own URL (a cluster's say
// "?project=default", which a suffix must not follow).
std::string operation_path(const std::string& operation, const std::string& sub, const std::string& query);

// LXD's error answer as an Error: its error_code (404 NotFound, 409 Conflict, 400 Invalid,
// 403 PermissionDenied, else Failed) and its message after `what`.
Error api_error(int status, const std::string& body, const std::string& what);

// The engine names for connection errors.
const docker::Engine& engine();

}  // namespace breakfix::lxd
