#pragma once

// The API's HTTP/1.1 server (Boost.Beast): listens on a unix socket and optionally on
// TCP, and hands each request to one handler. A connection is served by a thread of its
// own with blocking reads: requests are few (an interviewer's clicks, a CLI polling),
// and a handler may block for seconds (grade-now runs the checks), which a thread per
// connection absorbs without starving the others.
//
// Bounds, so that anybody who reaches the TCP port cannot hold the API (every wait is a
// poll() with a deadline: a blocking Asio read or write would retry a socket timeout
// forever): the unix socket
// and TCP each have `max_connections` of their own, and more get 503 at once (a flood on
// TCP leaves the local CLI its places); a connection idle for `idle_timeout` between
// requests is closed; once a request has begun, all of it must arrive within
// `request_timeout` however slowly it trickles; a body beyond `max_body` gets 413.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "breakfix/error.h"

namespace breakfix {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  bool over_tcp = false;  // false: the unix socket, whose access is the file's permissions
  std::string peer;       // "127.0.0.1:53122", or "unix:uid=1000" on the unix socket
  bool websocket = false;  // a WebSocket handshake (GET with Upgrade: websocket)

  std::string header(const std::string& lower_case_name) const;
};

// The browser's end of a WebSocket the server accepted for a handler (HttpResponse::
// websocket): messages go out; what the browser sends is read and dropped (the console's
// sockets only ever send to the browser), its close ends the socket.
class WebSocketPeer {
 public:
  virtual ~WebSocketPeer() = default;
  // False once the browser is gone (or the server stops).
  virtual bool send(std::string_view data, bool binary) = 0;
  // Whether the browser is still there: reads what it sent, if anything, without waiting.
  virtual bool still_open() = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set for a WebSocket handshake the handler accepts: the server completes it and calls
  // this on the connection's thread until it returns; the connection then closes.
  std::function<void(WebSocketPeer&)> websocket;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpLimits {
  int max_connections = 64;  // on each listener: the unix socket, TCP
  std::size_t max_body = 256 * 1024;
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds request_timeout{30'000};  // from a request's first byte to its last
};

class HttpServer {
 public:
  HttpServer(HttpHandler handler, HttpLimits limits);
  ~HttpServer();  // stop()s

  // Binds the unix socket (creating its directory; replacing a stale socket file, but
  // refusing when a live daemon answers on it) and sets its mode and group.
  Status listen_unix(const std::filesystem::path& path, std::uint32_t mode, const std::string& group);
  // "host:port" or "[v6]:port".
  Status listen_tcp(const std::string& address);
  // The TCP port actually bound (for ":0" in tests); 0 without TCP.
  int tcp_port() const;
  // Starts accepting on every listener.
  void start();
  // Stops accepting, shuts down open connections and waits for their threads.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "a=1&b=x%20y" -> {a: 1, b: "x y"}.
std::map<std::string, std::string> parse_query(const std::string& query);

}  // namespace breakfix
