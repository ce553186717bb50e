#include "cli/api_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstdlib>

#include "breakfix/socket_timeouts.h"

namespace breakfix::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

template <typename Socket>
Result<ApiReply> exchange(Socket& socket, const ApiEndpoint& endpoint, const std::string& host, const std::string& method,
                          const std::string& target, const std::string& body, const std::string& accept) {
  set_socket_timeouts(socket.native_handle(), endpoint.timeout);
  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  request.set(http::field::host, host);
  request.set(http::field::user_agent, "breakfix-cli");
  request.set(http::field::accept, accept);
  if (!endpoint.token.empty()) request.set(http::field::authorization, "Bearer " + endpoint.token);
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  request.body() = body;
  request.prepare_payload();
  beast::error_code ec;
  http::write(socket, request, ec);
  if (ec) return make_error(ErrorCode::Unavailable, "sending to the daemon at " + endpoint.describe() + ": " + ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  http::read(socket, buffer, parser, ec);
  if (ec) return make_error(ErrorCode::Unavailable, "reading from the daemon at " + endpoint.describe() + ": " + ec.message());
  ApiReply reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.content_type = std::string(parser.get()[http::field::content_type]);
  reply.body = std::move(parser.get().body());
  return reply;
}

const char* env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

}  // namespace

ApiEndpoint ApiEndpoint::from_environment(const std::string& socket, const std::string& url, const std::string& token) {
  ApiEndpoint endpoint;
  endpoint.url = !url.empty() ? url : env_or("BREAKFIX_URL", "");
  endpoint.socket_path = !socket.empty() ? socket : env_or("BREAKFIX_SOCKET", kDefaultApiSocket);
  if (!socket.empty()) endpoint.url.clear();  // --socket wins over $BREAKFIX_URL
  endpoint.token = !token.empty() ? token : env_or("BREAKFIX_TOKEN", "");
  return endpoint;
}

std::string ApiEndpoint::describe() const { return url.empty() ? socket_path : url; }

Result<ApiReply> api_call(const ApiEndpoint& endpoint, const std::string& method, const std::string& target,
                          const std::string& body, const std::string& accept) {
  asio::io_context io;
  beast::error_code ec;
  if (endpoint.url.empty()) {
    asio::local::stream_protocol::socket socket(io);
    socket.connect(asio::local::stream_protocol::endpoint(endpoint.socket_path), ec);
    if (ec) {
      if (ec == asio::error::access_denied) {
        return make_error(ErrorCode::PermissionDenied,
                          "no permission to use " + endpoint.socket_path + " (run as root or join the socket's group)");
      }
      return make_error(ErrorCode::Unavailable, "no breakfix daemon answers on " + endpoint.socket_path + " (" +
                                                    ec.message() + "); start it with `breakfix serve`, or give --socket");
    }
    return exchange(socket, endpoint, "breakfix", method, target, body, accept);
  }
  std::string rest = endpoint.url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  else return make_error(ErrorCode::Invalid, "--url must start with http:// (got " + endpoint.url + ")");
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const std::size_t colon = rest.rfind(':');
  const std::string host = colon == std::string::npos ? rest : rest.substr(0, colon);
  const std::string port = colon == std::string::npos ? "80" : rest.substr(colon + 1);
  asio::ip::tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec) return make_error(ErrorCode::Unavailable, "cannot resolve " + endpoint.url + ": " + ec.message());
  asio::ip::tcp::socket socket(io);
  asio::connect(socket, endpoints, ec);
  if (ec) return make_error(ErrorCode::Unavailable, "no breakfix daemon answers at " + endpoint.url + " (" + ec.message() + ")");
  return exchange(socket, endpoint, rest, method, target, body, accept);
}

}  // namespace breakfix::cli
