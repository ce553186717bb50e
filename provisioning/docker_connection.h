#pragma once

// HTTP/1.1 to the Docker Engine API over its unix socket, one connection per call
// (connecting to a local socket costs microseconds; no pool to go stale). Internal to
// provisioning/: Beast and Asio stay out of every header but this one's .cpp.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "breakfix/error.h"

namespace breakfix::docker {

struct Response {
  int status = 0;
  std::string body;
};

// A connection whose HTTP exchange is over and that now carries raw bytes both ways:
// the exec stream after "101 UPGRADED". Owns the file descriptor.
struct HijackedStream {
  int fd = -1;
  std::string early_bytes;  // stream bytes that arrived with the response headers
};

enum class Method { Get, Post, Put, Delete, Head, Patch };

// Who answers on the socket, for messages: the LXD backend talks HTTP over a unix
// socket the same way, so it uses this class with its own names.
struct Engine {
  std::string name = "the Docker engine";
  std::string socket_name = "the Docker socket";
  std::string start_hint = "start it (e.g. 'dockerd &' or 'systemctl start docker'), or point DOCKER_HOST at it";
  std::string access_hint = "run breakfix as root or as a member of the 'docker' group";
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// A response body read piece by piece by the caller, as it arrives (a tar to parse as it
// streams, a list as long as a container's changes). Dropping it before the end closes
// the connection, which is how a caller stops reading a body larger than it wants.
class BodyStream {
 public:
  struct Impl;
  explicit BodyStream(std::unique_ptr<Impl> impl);
  ~BodyStream();
  // The next piece of the body, valid until the next call; empty once the body has ended.
  Result<std::string_view> next();

 private:
  std::unique_ptr<Impl> impl_;
};

class Connection {
 public:
  // Connects to the socket. Unavailable names the socket and how to start the engine;
  // PermissionDenied says how to get access. `io_timeout` bounds every single read or
  // write (not a whole call): a silent engine gives Timeout instead of a hang.
  static Result<std::unique_ptr<Connection>> open(const std::string& socket_path, std::chrono::seconds io_timeout,
                                                  const Engine& engine = Engine());
  ~Connection();

  // Sends a request with a body held in memory and reads the whole response.
  Result<Response> send(Method method, const std::string& target, std::string body = "",
                        std::string_view content_type = "application/json", const Headers& headers = {});
  // Sends a request whose body is a file (an image tarball) or a string, and hands the
  // response body to `on_data` piece by piece as it arrives. Returns the status; for
  // statuses of 400 and above the body is also returned whole in Response.body.
  using DataFn = std::function<void(std::string_view)>;
  Result<Response> send_streaming(Method method, const std::string& target, const std::filesystem::path& body_file,
                                  std::string_view content_type, const DataFn& on_data);
  Result<Response> send_streaming(Method method, const std::string& target, std::string body,
                                  std::string_view content_type, const DataFn& on_data);
  // Sends a request without a body and, when the status is below 400, hands over the
  // response's body to be read piece by piece; a status of 400 or above is the Error
  // engine_error makes of it, after `what`. Consumes the connection.
  Result<std::unique_ptr<BodyStream>> open_body(Method method, const std::string& target, const std::string& what);
  // Sends a request asking to upgrade the connection ("Upgrade: tcp"), as exec start
  // does, and on 101 or 200 hands over the socket. Consumes the connection.
  Result<HijackedStream> hijack(const std::string& target, std::string body);

  // The socket, for a shutdown() from another thread that must cut a long call short.
  int native_handle() const;

  struct Impl;  // public only so that a BodyStream can own it

 private:
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Turns an engine's error response into an Error: 404 NotFound, 409 Conflict, 400
// Invalid, 401/403 PermissionDenied, else Failed; the message is the engine's own,
// after `what` ("create container web").
Error engine_error(const Response& response, const std::string& what);

}  // namespace breakfix::docker
