#include "docker_connection.h"

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <limits>

#include "breakfix/socket_timeouts.h"

namespace breakfix::docker {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using local_socket = asio::local::stream_protocol::socket;

http::verb to_verb(Method method) {
  switch (method) {
    case Method::Get: return http::verb::get;
    case Method::Post: return http::verb::post;
    case Method::Put: return http::verb::put;
    case Method::Delete: return http::verb::delete_;
    case Method::Head: return http::verb::head;
    case Method::Patch: return http::verb::patch;
  }
  return http::verb::get;
}

// The one place that turns socket errors into Errors.
Error io_error(const boost::system::error_code& ec, const std::string& engine, const std::string& socket_path,
               const std::string& doing) {
  if (ec == asio::error::would_block || ec == asio::error::try_again || ec == asio::error::timed_out) {
    return make_error(ErrorCode::Timeout, engine + " at " + socket_path + " did not answer in time while " + doing);
  }
  return make_error(ErrorCode::Unavailable, "lost " + engine + " at " + socket_path + " while " + doing + ": " + ec.message());
}

template <typename Request>
void set_common_headers(Request& request, const std::string& target, std::string_view content_type) {
  request.target(target);
  request.set(http::field::host, "docker");
  request.set(http::field::user_agent, "breakfix");
  if (!content_type.empty()) request.set(http::field::content_type, std::string(content_type));
}

}  // namespace

struct Connection::Impl {
  asio::io_context io;
  local_socket socket{io};
  std::string socket_path;
  Engine engine;
  boost::beast::flat_buffer buffer;

  // Reads the response to a request already sent, streaming its body to `on_data`.
  Result<Response> read_streaming(const DataFn& on_data) {
    http::response_parser<http::buffer_body> parser;
    // Streamed bodies have no limit. Not boost::none: Boost 1.74 then refuses any body
    // announced with a Content-Length (Podman's answers; Docker's are chunked).
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    boost::system::error_code ec;
    http::read_header(socket, buffer, parser, ec);
    if (ec) return io_error(ec, engine.name, socket_path, "reading a response");
    Response response{static_cast<int>(parser.get().result_int()), {}};
    const bool failed = response.status >= 400;
    char chunk[64 * 1024];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      http::read(socket, buffer, parser, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return io_error(ec, engine.name, socket_path, "reading a response body");
      const std::string_view piece(chunk, sizeof chunk - parser.get().body().size);
      if (failed) response.body.append(piece);
      else if (!piece.empty()) on_data(piece);
    }
    return response;
  }
};

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() = default;

int Connection::native_handle() const { return impl_->socket.native_handle(); }

Result<std::unique_ptr<Connection>> Connection::open(const std::string& socket_path, std::chrono::seconds io_timeout,
                                                     const Engine& engine) {
  auto impl = std::make_unique<Impl>();
  impl->socket_path = socket_path;
  impl->engine = engine;
  boost::system::error_code ec;
  impl->socket.connect(asio::local::stream_protocol::endpoint(socket_path), ec);
  if (ec == asio::error::access_denied || ec == asio::error::no_permission) {
    return make_error(ErrorCode::PermissionDenied,
                      "permission denied on " + engine.socket_name + " " + socket_path + ": " + engine.access_hint);
  }
  if (ec) {
    return make_error(ErrorCode::Unavailable,
                      "cannot reach " + engine.name + " at " + socket_path + " (" + ec.message() + "): " + engine.start_hint);
  }
  set_socket_timeouts(impl->socket.native_handle(), io_timeout);
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

Result<Response> Connection::send(Method method, const std::string& target, std::string body,
                                  std::string_view content_type, const Headers& headers) {
  http::request<http::string_body> request{to_verb(method), target, 11};
  set_common_headers(request, target, body.empty() ? std::string_view() : content_type);
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = std::move(body);
  request.prepare_payload();
  boost::system::error_code ec;
  http::write(impl_->socket, request, ec);
  if (ec) return io_error(ec, impl_->engine.name, impl_->socket_path, "sending a request");
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);  // inspect and list answers; far more than they need
  http::read(impl_->socket, impl_->buffer, parser, ec);
  if (ec) return io_error(ec, impl_->engine.name, impl_->socket_path, "reading a response");
  return Response{static_cast<int>(parser.get().result_int()), std::move(parser.get().body())};
}

Result<Response> Connection::send_streaming(Method method, const std::string& target,
                                            const std::filesystem::path& body_file, std::string_view content_type,
                                            const DataFn& on_data) {
  http::request<http::file_body> request{to_verb(method), target, 11};
  set_common_headers(request, target, content_type);
  boost::system::error_code ec;
  request.body().open(body_file.c_str(), boost::beast::file_mode::scan, ec);
  if (ec) return make_error(ErrorCode::Invalid, "cannot read " + body_file.string() + ": " + ec.message());
  request.prepare_payload();
  http::write(impl_->socket, request, ec);
  if (ec) return io_error(ec, impl_->engine.name, impl_->socket_path, "sending " + body_file.string());
  return impl_->read_streaming(on_data);
}

Result<Response> Connection::send_streaming(Method method, const std::string& target, std::string body,
                                            std::string_view content_type, const DataFn& on_data) {
  http::request<http::string_body> request{to_verb(method), target, 11};
  set_common_headers(request, target, content_type);
  request.body() = std::move(body);
  request.prepare_payload();
  boost::system::error_code ec;
  http::write(impl_->socket, request, ec);
  if (ec) return io_error(ec, impl_->engine.name, impl_->socket_path, "sending a request");
  return impl_->read_streaming(on_data);
}

Result<HijackedStream> Connection::hijack(const std::string& target, std::string body) {
  http::request<http::string_body> request{http::verb::post, target, 11};
  set_common_headers(request, target, "application/json");
  request.set(http::field::connection, "Upgrade");
  request.set(http::field::upgrade, "tcp");
  request.body() = std::move(body);
  request.prepare_payload();
  boost::system::error_code ec;
  http::write(impl_->socket, request, ec);
  if (ec) return io_error(ec, impl_->engine.name, impl_->socket_path, "starting an exec");
  // After a 101 the bytes that follow the headers are the exec's stream, not a body.
  http::response_parser<http::empty_body> parser;
  http::read_header(impl_->socket, impl_->buffer, parser, ec);
  if (ec) return io_error(ec, impl_->engine.name, impl_->socket_path, "starting an exec");
  const int status = static_cast<int>(parser.get().result_int());
  if (status != 101 && status != 200) {
    // An error answer has a normal body: read what is there for the message.
    http::response_parser<http::string_body> rest{std::move(parser)};
    http::read(impl_->socket, impl_->buffer, rest, ec);
    return engine_error(Response{status, rest.get().body()}, "start exec");
  }
  HijackedStream stream;
  const auto early = impl_->buffer.data();
  stream.early_bytes.assign(static_cast<const char*>(early.data()), early.size());
  stream.fd = ::dup(impl_->socket.native_handle());
  if (stream.fd < 0) return make_error(ErrorCode::Internal, "dup failed for the exec stream");
  // Reads and writes on the stream are paced by poll(), not by socket timeouts.
  set_socket_timeouts(stream.fd, std::chrono::milliseconds(0));
  return stream;
}

struct BodyStream::Impl {
  std::unique_ptr<Connection::Impl> connection;
  http::response_parser<http::buffer_body> parser;
  char chunk[64 * 1024];
};

BodyStream::BodyStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BodyStream::~BodyStream() = default;

Result<std::string_view> BodyStream::next() {
  // A read may deliver no body bytes (a chunk header alone); go on until some arrive.
  while (!impl_->parser.is_done()) {
    impl_->parser.get().body().data = impl_->chunk;
    impl_->parser.get().body().size = sizeof impl_->chunk;
    boost::system::error_code ec;
    http::read(impl_->connection->socket, impl_->connection->buffer, impl_->parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return io_error(ec, impl_->connection->engine.name, impl_->connection->socket_path, "reading a response body");
    const std::size_t got = sizeof impl_->chunk - impl_->parser.get().body().size;
    if (got > 0) return std::string_view(impl_->chunk, got);
  }
  return std::string_view();
}

Result<std::unique_ptr<BodyStream>> Connection::open_body(Method method, const std::string& target,
                                                          const std::string& what) {
  http::request<http::empty_body> request{to_verb(method), target, 11};
  set_common_headers(request, target, {});
  boost::system::error_code ec;
  http::write(impl_->socket, request, ec);
  if (ec) return io_error(ec, impl_->engine.name, impl_->socket_path, "sending a request");
  auto stream = std::make_unique<BodyStream::Impl>();
  stream->parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // the caller stops when it has enough
  http::read_header(impl_->socket, impl_->buffer, stream->parser, ec);
  if (ec) return io_error(ec, impl_->engine.name, impl_->socket_path, "reading a response");
  const int status = static_cast<int>(stream->parser.get().result_int());
  stream->connection = std::move(impl_);
  auto body = std::make_unique<BodyStream>(std::move(stream));
  if (status < 400) return body;
  std::string text;
  while (text.size() < 64 * 1024) {
    auto piece = body->next();
    if (!piece || piece->empty()) break;
    text.append(*piece);
  }
  return engine_error(Response{status, text}, what);
}

Error engine_error(const Response& response, const std::string& what) {
  std::string message = response.body;
  try {
    auto json = nlohmann::json::parse(response.body);
    if (json.contains("message") && json["message"].is_string()) message = json["message"];
  } catch (const nlohmann::json::exception&) {
    // Not JSON: keep the raw body (trimmed below).
  }
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.pop_back();
  if (message.size() > 2000) message = message.substr(0, 2000) + "...";
  ErrorCode code = ErrorCode::Failed;
  switch (response.status) {
    case 400: code = ErrorCode::Invalid; break;
    case 401:
    case 403: code = ErrorCode::PermissionDenied; break;
    case 404: code = ErrorCode::NotFound; break;
    case 409: code = ErrorCode::Conflict; break;
    default: break;
  }
  return make_error(code, what + ": " + message + " (engine answered " + std::to_string(response.status) + ")");
}

}  // namespace breakfix::docker
