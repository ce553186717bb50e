#include "daemon/http_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <grp.h>
#include <poll.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "breakfix/owned_threads.h"
#include "breakfix/percent_encoding.h"
#include "breakfix/socket_timeouts.h"

namespace breakfix {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;
using tcp = asio::ip::tcp;

HttpResponse plain_error(int status, const std::string& message) {
  HttpResponse response;
  response.status = status;
  response.body = nlohmann::json{{"error", message}}.dump() + "\n";
  return response;
}


}  // namespace

std::string HttpRequest::header(const std::string& lower_case_name) const {
  auto found = headers.find(lower_case_name);
  return found == headers.end() ? "" : found->second;
}

std::map<std::string, std::string> parse_query(const std::string& query) {
  std::map<std::string, std::string> values;
  std::size_t at = 0;
  while (at <= query.size() && !query.empty()) {
    std::size_t end = query.find('&', at);
    if (end == std::string::npos) end = query.size();
    const std::string_view pair(query.data() + at, end - at);
    if (!pair.empty()) {
      const std::size_t equals = pair.find('=');
      if (equals == std::string_view::npos) values[percent_decode(pair)] = "";
      else values[percent_decode(pair.substr(0, equals))] = percent_decode(pair.substr(equals + 1));
    }
    at = end + 1;
  }
  return values;
}

// Whether `fd` becomes ready for `events` (POLLIN, POLLOUT) within `timeout`; a hang-up
// or an error counts as ready (the read or write that follows then says what it was).
bool wait_for(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd ready{fd, events, 0};
  for (;;) {
    const int count = ::poll(&ready, 1, static_cast<int>(std::min<std::int64_t>(timeout.count(), INT32_MAX)));
    if (count < 0 && errno == EINTR) continue;
    return count > 0;
  }
}

// A WebSocket over a connection's socket, used by one thread: the handler's loop sends,
// and polls the socket for what the browser sent (a close, a ping, a message to drop).
template <typename Socket>
class SocketWebSocket final : public WebSocketPeer {
 public:
  SocketWebSocket(beast::websocket::stream<Socket&>& ws, const std::atomic<bool>& stopping, int fd)
      : ws_(ws), stopping_(stopping), fd_(fd) {}

  bool send(std::string_view data, bool binary) override {
    if (closed_ || stopping_.load()) return false;
    beast::error_code ec;
    ws_.binary(binary);
    ws_.write(asio::buffer(data.data(), data.size()), ec);
    if (ec) closed_ = true;
    return !closed_;
  }

  bool still_open() override {
    while (!closed_ && !stopping_.load()) {
      pollfd ready{fd_, POLLIN, 0};
      if (::poll(&ready, 1, 0) <= 0) break;
      // Something arrived: a whole frame follows soon (the read is bounded by the socket's
      // timeout); control frames are answered by the read itself.
      beast::flat_buffer dropped;
      beast::error_code ec;
      ws_.read(dropped, ec);
      if (ec) closed_ = true;
    }
    return !closed_ && !stopping_.load();
  }

 private:
  beast::websocket::stream<Socket&>& ws_;
  const std::atomic<bool>& stopping_;
  int fd_;
  bool closed_ = false;
};

struct HttpServer::Impl {
  HttpHandler handler;
  HttpLimits limits;
  asio::io_context io;
  std::unique_ptr<local::acceptor> unix_acceptor;
  std::unique_ptr<tcp::acceptor> tcp_acceptor;
  std::filesystem::path unix_path;
  std::thread io_thread;
  std::atomic<bool> stopping{false};

  std::mutex connections_mutex;
  std::set<int> open_fds;  // to shut them down on stop()
  int running = 0;          // connection threads, both listeners
  int running_tcp = 0;      // of which over TCP
  // One per connection; stop() joins them all.
  OwnedThreads threads{[](const std::string& what) { spdlog::error("api: a connection thread failed: {}", what); }};

  // Reads one request into `parser`. Waiting for its first byte may take `idle_timeout`
  // (a keep-alive connection between requests); from then on the whole request must
  // arrive by `request_timeout`, each read bounded by the time left. The bytes are fed
  // to the parser here, not through http::read: that reads until the whole header is in,
  // with no bound on how long a client may trickle it.
  template <typename Socket>
  beast::error_code read_request(Socket& socket, beast::flat_buffer& buffer,
                                 http::request_parser<http::string_body>& parser) {
    using Steady = std::chrono::steady_clock;
    const int fd = socket.native_handle();
    std::optional<Steady::time_point> deadline;
    if (buffer.size() > 0) deadline = Steady::now() + limits.request_timeout;
    beast::error_code ec;
    while (!parser.is_done()) {
      if (buffer.size() > 0) {
        const std::size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec && ec != http::error::need_more) return ec;
        ec = {};
        if (parser.is_done()) break;
        if (used > 0 && buffer.size() > 0) continue;
      }
      // Waited for with poll(): a blocking Asio read retries a receive timeout forever
      // (it polls again with no bound), so SO_RCVTIMEO alone would let a silent client
      // hold its connection, and 64 of them the whole listener.
      const auto left = deadline ? std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Steady::now())
                                 : limits.idle_timeout;
      if (left.count() <= 0 || !wait_for(fd, POLLIN, left)) return asio::error::timed_out;
      const std::size_t read = socket.read_some(buffer.prepare(16 * 1024), ec);
      if (ec == asio::error::eof) return parser.got_some() ? http::error::partial_message : http::error::end_of_stream;
      if (ec) return ec;
      buffer.commit(read);
      if (!deadline) deadline = Steady::now() + limits.request_timeout;
    }
    return ec;
  }

  // After an error answer to a request still arriving (a body over the limit): reads and
  // drops what the client goes on sending, for a bounded time and amount, so that closing
  // does not reset the connection before the client has read the answer.
  template <typename Socket>
  void discard_rest(Socket& socket) {
    beast::error_code ec;
    socket.shutdown(Socket::shutdown_send, ec);
    char sink[16 * 1024];
    std::size_t dropped = 0;
    while (dropped < 4 * limits.max_body) {
      if (!wait_for(socket.native_handle(), POLLIN, std::chrono::seconds(2))) break;
      const std::size_t read = socket.read_some(asio::buffer(sink), ec);
      if (ec) break;
      dropped += read;
    }
  }

  template <typename Socket>
  void serve(Socket& socket, bool over_tcp, const std::string& peer) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(limits.max_body);
      parser.header_limit(16 * 1024);
      const beast::error_code ec = read_request(socket, buffer, parser);
      if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset) break;
      if (ec) {
        // A body too large or a request that is not HTTP: say so once, then hang up.
        const int status = ec == http::error::body_limit ? 413 : ec == http::error::header_limit ? 431 : 400;
        // A silent or trickling client is not answered: nobody is reading.
        if (ec == asio::error::would_block || ec == asio::error::try_again || ec == asio::error::timed_out) break;
        HttpResponse error = status == 413 ? plain_error(413, "request body larger than " +
                                                                  std::to_string(limits.max_body) + " bytes")
                                           : plain_error(status, "malformed HTTP request: " + ec.message());
        write(socket, error, false, 11);
        discard_rest(socket);
        break;
      }
      auto& message = parser.get();
      HttpRequest request;
      request.method = std::string(message.method_string());
      const std::string target(message.target());
      const std::size_t question = target.find('?');
      request.path = percent_decode(target.substr(0, question));
      if (question != std::string::npos) request.query = parse_query(target.substr(question + 1));
      for (const auto& field : message) {
        std::string name(field.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        request.headers[name] = std::string(field.value());
      }
      request.body = std::move(message.body());
      request.over_tcp = over_tcp;
      request.peer = peer;
      request.websocket = beast::websocket::is_upgrade(message);
      // The response goes out within the idle bound of each write.
      set_socket_timeouts(socket.native_handle(), limits.idle_timeout);
      HttpResponse response;
      try {
        response = handler(request);
      } catch (const std::exception& error) {
        response = plain_error(500, std::string("internal error: ") + error.what());
      }
      if (response.websocket && request.websocket) {
        serve_websocket(socket, message, response);
        break;
      }
      // A HEAD answer has the headers of the GET and no body (Content-Length still tells its size).
      const bool head = request.method == "HEAD";
      const bool keep_alive = message.keep_alive() && !stopping.load();
      if (!write(socket, response, keep_alive, message.version(), head)) break;
      if (!keep_alive) break;
    }
    beast::error_code ignored;
    socket.shutdown(Socket::shutdown_both, ignored);
  }

  // Completes the handshake (with the response's headers) and hands the socket to the
  // handler's loop. Writes are bounded by the idle timeout like any answer.
  template <typename Socket, typename Message>
  void serve_websocket(Socket& socket, const Message& message, const HttpResponse& response) {
    beast::websocket::stream<Socket&> ws(socket);
    ws.set_option(beast::websocket::stream_base::decorator([&](beast::websocket::response_type& out) {
      out.set(http::field::server, "breakfix");
      for (const auto& [name, value] : response.headers) out.set(name, value);
    }));
    ws.read_message_max(64 * 1024);
    beast::error_code ec;
    ws.accept(message, ec);
    if (ec) return;
    SocketWebSocket<Socket> peer(ws, stopping, socket.native_handle());
    response.websocket(peer);
    if (!stopping.load()) ws.close(beast::websocket::close_code::normal, ec);
  }

  template <typename Socket>
  bool write(Socket& socket, const HttpResponse& response, bool keep_alive, unsigned version, bool head = false) {
    http::response<http::string_body> out{static_cast<http::status>(response.status), version};
    out.set(http::field::server, "breakfix");
    out.set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) out.set(name, value);
    out.keep_alive(keep_alive);
    out.body() = response.body;
    out.prepare_payload();
    // Piece by piece on a non-blocking socket, each wait bounded by the idle timeout:
    // a client that never reads its answer cannot hold the thread (a blocking Asio write
    // would wait for it forever, whatever SO_SNDTIMEO says).
    http::response_serializer<http::string_body> serializer(out);
    if (head) serializer.split(true);
    beast::error_code ec;
    socket.non_blocking(true, ec);
    while (!ec && !(head ? serializer.is_header_done() : serializer.is_done())) {
      if (head) http::write_header(socket, serializer, ec);
      else http::write_some(socket, serializer, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        ec = {};
        if (!wait_for(socket.native_handle(), POLLOUT, limits.idle_timeout)) ec = asio::error::timed_out;
      }
    }
    beast::error_code ignored;
    socket.non_blocking(false, ignored);
    return !ec;
  }

  template <typename Socket>
  void spawn(Socket socket, bool over_tcp, std::string peer) {
    std::unique_lock lock(connections_mutex);
    const int on_this_listener = over_tcp ? running_tcp : running - running_tcp;
    if (on_this_listener >= limits.max_connections || stopping.load()) {
      lock.unlock();
      set_socket_timeouts(socket.native_handle(), std::chrono::seconds(2));
      write(socket, plain_error(503, "too many connections to the breakfix API; try again"), false, 11);
      return;
    }
    ++running;
    if (over_tcp) ++running_tcp;
    open_fds.insert(socket.native_handle());
    lock.unlock();
    // std::function needs a copyable callable: the socket travels in a shared_ptr.
    auto shared = std::make_shared<Socket>(std::move(socket));
    threads.spawn([this, shared, over_tcp, peer = std::move(peer)] {
      Socket& s = *shared;
      const int fd = s.native_handle();
      try {
        serve(s, over_tcp, peer);
      } catch (const std::exception& error) {
        // The thread ends the connection, never the daemon.
        spdlog::error("api: connection from {}: {}", peer, error.what());
      }
      std::lock_guard done_lock(connections_mutex);
      open_fds.erase(fd);
      beast::error_code ignored;
      s.close(ignored);
      --running;
      if (over_tcp) --running_tcp;
    });
  }

  void accept_unix() {
    unix_acceptor->async_accept([this](beast::error_code ec, local::socket socket) {
      if (ec || stopping.load()) return;
      ucred credentials{};
      socklen_t length = sizeof credentials;
      std::string peer = "unix";
      if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0) {
        peer = "unix:uid=" + std::to_string(credentials.uid);
      }
      spawn(std::move(socket), false, std::move(peer));
      accept_unix();
    });
  }

  void accept_tcp() {
    tcp_acceptor->async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec || stopping.load()) return;
      beast::error_code endpoint_error;
      const auto remote = socket.remote_endpoint(endpoint_error);
      std::string peer = endpoint_error ? "tcp" : remote.address().to_string() + ":" + std::to_string(remote.port());
      spawn(std::move(socket), true, std::move(peer));
      accept_tcp();
    });
  }
};

HttpServer::HttpServer(HttpHandler handler, HttpLimits limits) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->limits = limits;
}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::listen_unix(const std::filesystem::path& path, std::uint32_t mode, const std::string& group) {
  std::error_code fs_error;
  std::filesystem::create_directories(path.parent_path(), fs_error);
  if (std::filesystem::exists(path)) {
    // A socket nobody answers on is left over from a daemon that was killed.
    local::socket probe(impl_->io);
    beast::error_code ec;
    probe.connect(local::endpoint(path.string()), ec);
    if (!ec) return make_error(ErrorCode::Conflict, "another daemon is listening on " + path.string());
    std::filesystem::remove(path, fs_error);
  }
  try {
    impl_->unix_acceptor = std::make_unique<local::acceptor>(impl_->io, local::endpoint(path.string()));
  } catch (const boost::system::system_error& error) {
    return make_error(ErrorCode::Unavailable, "cannot listen on " + path.string() + ": " + error.code().message());
  }
  impl_->unix_path = path;
  if (!group.empty()) {
    const struct group* entry = ::getgrnam(group.c_str());
    if (!entry) return make_error(ErrorCode::Invalid, "listen.api_socket_group: no group '" + group + "'");
    if (::chown(path.c_str(), static_cast<uid_t>(-1), entry->gr_gid) != 0) {
      return make_error(ErrorCode::PermissionDenied, "cannot give " + path.string() + " to group " + group);
    }
  }
  if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    return make_error(ErrorCode::PermissionDenied, "cannot set the mode of " + path.string());
  }
  return {};
}

Status HttpServer::listen_tcp(const std::string& address) {
  std::string host = address;
  std::string port = "0";
  const std::size_t colon = address.rfind(':');
  if (colon != std::string::npos) {
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  try {
    tcp::resolver resolver(impl_->io);
    auto endpoints = resolver.resolve(host, port, tcp::resolver::passive | tcp::resolver::numeric_service);
    const tcp::endpoint endpoint = *endpoints.begin();
    auto acceptor = std::make_unique<tcp::acceptor>(impl_->io);
    acceptor->open(endpoint.protocol());
    acceptor->set_option(tcp::acceptor::reuse_address(true));
    acceptor->bind(endpoint);
    acceptor->listen();
    impl_->tcp_acceptor = std::move(acceptor);
  } catch (const boost::system::system_error& error) {
    return make_error(ErrorCode::Unavailable, "cannot listen on " + address + ": " + error.code().message());
  }
  return {};
}

int HttpServer::tcp_port() const {
  if (!impl_->tcp_acceptor) return 0;
  beast::error_code ec;
  const auto endpoint = impl_->tcp_acceptor->local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void HttpServer::start() {
  if (impl_->unix_acceptor) impl_->accept_unix();
  if (impl_->tcp_acceptor) impl_->accept_tcp();
  impl_->io_thread = std::thread([this] {
    // A handler that throws is logged, and the loop goes on accepting.
    while (!impl_->stopping.load()) {
      try {
        impl_->io.run();
        return;
      } catch (const std::exception& error) {
        spdlog::error("api: accept loop: {}", error.what());
      }
    }
  });
}

void HttpServer::stop() {
  if (impl_->stopping.exchange(true)) return;
  asio::post(impl_->io, [this] {
    beast::error_code ignored;
    if (impl_->unix_acceptor) impl_->unix_acceptor->close(ignored);
    if (impl_->tcp_acceptor) impl_->tcp_acceptor->close(ignored);
  });
  if (impl_->io_thread.joinable()) impl_->io_thread.join();
  impl_->io.stop();
  {
    // Idle keep-alive connections wake from their read and end; a handler at work
    // finishes first (its reads and writes are bounded by the request deadline).
    std::lock_guard lock(impl_->connections_mutex);
    for (int fd : impl_->open_fds) ::shutdown(fd, SHUT_RD);
  }
  impl_->threads.join_all();
  if (!impl_->unix_path.empty()) {
    std::error_code ignored;
    std::filesystem::remove(impl_->unix_path, ignored);
  }
}

}  // namespace breakfix
