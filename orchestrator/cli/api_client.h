#pragma once

// The CLI's side of the REST API: one HTTP request to the daemon, over its unix socket
// (default /run/breakfix/api.sock, or $BREAKFIX_SOCKET) or over TCP ($BREAKFIX_URL,
// http://host:port, with $BREAKFIX_TOKEN as bearer token).

#include <chrono>
#include <string>

#include "breakfix/error.h"

namespace breakfix::cli {

inline constexpr const char* kDefaultApiSocket = "/run/breakfix/api.sock";

struct ApiEndpoint {
  std::string socket_path = kDefaultApiSocket;  // used when url is empty
  std::string url;                              // "http://127.0.0.1:8470"
  std::string token;
  std::chrono::seconds timeout{300};

  // From --socket/--url/--token when given, else the environment, else the default socket.
  static ApiEndpoint from_environment(const std::string& socket, const std::string& url, const std::string& token);
  std::string describe() const;
};

struct ApiReply {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Unavailable (with how to start the daemon) when nothing answers.
Result<ApiReply> api_call(const ApiEndpoint& endpoint, const std::string& method, const std::string& target,
                          const std::string& body = "", const std::string& accept = "application/json");

}  // namespace breakfix::cli
