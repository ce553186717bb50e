#include "lxd_client.h"

#include <cstdio>
#include <fstream>

#include "breakfix/percent_encoding.h"

namespace breakfix::lxd {

using nlohmann::json;

const docker::Engine& engine() {
  static const docker::Engine lxd{
      "LXD",
      "LXD's socket",
      "start it (e.g. 'lxd --group root &' or 'systemctl start lxd') and run 'bash provisioning/setup-lxd.sh', "
      "or point LXD_SOCKET at it",
      "run breakfix as root or as a member of the 'lxd' group"};
  return lxd;
}

Error api_error(int status, const std::string& body, const std::string& what) {
  std::string message;
  int code = status;
  json answer = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (answer.is_object()) {
    message = answer.value("error", "");
    if (answer.contains("error_code") && answer["error_code"].is_number_integer() && answer["error_code"].get<int>() != 0) {
      code = answer["error_code"].get<int>();
    }
  }
  if (message.empty()) message = body.substr(0, 500);
  ErrorCode kind = ErrorCode::Failed;
  if (code == 404) kind = ErrorCode::NotFound;
  else if (code == 409) kind = ErrorCode::Conflict;
  else if (code == 400) kind = ErrorCode::Invalid;
  else if (code == 401 || code == 403) kind = ErrorCode::PermissionDenied;
  return make_error(kind, what + ": " + message);
}

std::string operation_path(const std::string& operation, const std::string& sub, const std::string& query) {
  const auto mark = operation.find('?');
  const std::string path = operation.substr(0, mark);
  const std::string own = mark == std::string::npos ? "" : operation.substr(mark + 1);
  std::string joined = query;
  if (!own.empty()) joined += (joined.empty() ? "" : "&") + own;
  return path + sub + (joined.empty() ? "" : "?" + joined);
}

Result<std::unique_ptr<docker::Connection>> Client::connect() const {
  return docker::Connection::open(options_.socket_path, options_.io_timeout, engine());
}

Result<json> Client::finish(const docker::Response& response, const std::string& what) {
  if (response.status >= 400) return api_error(response.status, response.body, what);
  json answer = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!answer.is_object()) return make_error(ErrorCode::Internal, what + ": LXD's answer is not JSON");
  if (answer.value("type", "") == "async") return wait(answer.value("operation", ""), what);
  return answer.contains("metadata") ? answer["metadata"] : json();
}

Result<json> Client::call(Method method, const std::string& path, const std::string& what, const json& body) {
  auto connection = connect();
  if (!connection) return connection.error();
  auto response = (*connection)->send(method, path, body.is_null() ? std::string() : body.dump());
  if (!response) return make_error(response.error().code, what + ": " + response.error().message);
  return finish(*response, what);
}

Result<Operation> Client::start(Method method, const std::string& path, const std::string& what, const json& body) {
  auto connection = connect();
  if (!connection) return connection.error();
  auto response = (*connection)->send(method, path, body.dump());
  if (!response) return make_error(response.error().code, what + ": " + response.error().message);
  if (response->status >= 400) return api_error(response->status, response->body, what);
  json answer = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (!answer.is_object() || answer.value("type", "") != "async") {
    return make_error(ErrorCode::Internal, what + ": LXD did not start an operation");
  }
  Operation operation;
  operation.id = answer.value("operation", "");
  // The operation's own metadata (an exec's websocket secrets) sits inside its description.
  if (answer.contains("metadata") && answer["metadata"].is_object() && answer["metadata"].contains("metadata")) {
    operation.metadata = answer["metadata"]["metadata"];
  }
  return operation;
}

Result<json> Client::wait(const std::string& operation, const std::string& what, std::chrono::seconds timeout) {
  if (operation.empty()) return make_error(ErrorCode::Internal, what + ": LXD named no operation");
  const auto bound = timeout.count() > 0 ? timeout : options_.operation_timeout;
  // The wait itself is LXD's long poll; the socket's read bound must outlast it.
  auto connection = docker::Connection::open(options_.socket_path, bound + std::chrono::seconds(30), engine());
  if (!connection) return connection.error();
  auto response = (*connection)->send(Method::Get, operation_path(operation, "/wait", "timeout=" + std::to_string(bound.count())));
  if (!response) return make_error(response.error().code, what + ": " + response.error().message);
  if (response->status >= 400) return api_error(response->status, response->body, what);
  json answer = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (!answer.is_object() || !answer.contains("metadata") || !answer["metadata"].is_object()) {
    return make_error(ErrorCode::Internal, what + ": LXD's operation answer is not JSON");
  }
  const json& state = answer["metadata"];
  const std::string status = state.value("status", "");
  if (status == "Success") return state.contains("metadata") ? state["metadata"] : json();
  if (status == "Running" || status == "Pending") {
    return make_error(ErrorCode::Timeout, what + ": not done after " + std::to_string(bound.count()) + " s");
  }
  std::string error = state.value("err", "");
  return make_error(error.find("not found") != std::string::npos ? ErrorCode::NotFound : ErrorCode::Failed,
                    what + ": " + (error.empty() ? status : error));
}

Result<std::string> Client::read_file(const std::string& instance, const std::string& path) {
  auto connection = connect();
  if (!connection) return connection.error();
  const std::string what = "read " + path + " of " + instance;
  auto response = (*connection)->send(Method::Get, "/1.0/instances/" + instance + "/files?path=" + percent_encode(path));
  if (!response) return make_error(response.error().code, what + ": " + response.error().message);
  if (response->status >= 400) return api_error(response->status, response->body, what);
  return std::move(response->body);
}

Status Client::write_file(const std::string& instance, const std::string& path, const std::string& content,
                          unsigned mode) {
  return post_file(instance, path, "file", content, mode, "write " + path + " of " + instance);
}

Status Client::make_directory(const std::string& instance, const std::string& path, unsigned mode) {
  return post_file(instance, path, "directory", "", mode, "make directory " + path + " of " + instance);
}

Status Client::post_file(const std::string& instance, const std::string& path, const std::string& type,
                         const std::string& content, unsigned mode, const std::string& what) {
  auto connection = connect();
  if (!connection) return connection.error();
  char octal[8];
  std::snprintf(octal, sizeof octal, "%04o", mode & 07777);
  const Headers headers = {{"X-LXD-uid", "0"}, {"X-LXD-gid", "0"}, {"X-LXD-mode", octal},
                           {"X-LXD-type", type}, {"X-LXD-write", "overwrite"}};
  auto response = (*connection)->send(Method::Post, "/1.0/instances/" + instance + "/files?path=" + percent_encode(path),
                                      content, "application/octet-stream", headers);
  if (!response) return make_error(response.error().code, what + ": " + response.error().message);
  if (response->status >= 400) return api_error(response->status, response->body, what);
  return {};
}

Result<json> Client::upload(const std::string& path, const std::filesystem::path& file, const std::string& what) {
  auto connection = connect();
  if (!connection) return connection.error();
  std::string answer;  // send_streaming hands a success body to the callback
  auto response = (*connection)->send_streaming(Method::Post, path, file, "application/octet-stream",
                                                [&](std::string_view piece) {
                                                  if (answer.size() < (1 << 20)) answer.append(piece);
                                                });
  if (!response) return make_error(response.error().code, what + ": " + response.error().message);
  if (response->status < 400) response->body = std::move(answer);
  return finish(*response, what);
}

Status Client::download(const std::string& path, const std::filesystem::path& file, const std::string& what) {
  auto connection = connect();
  if (!connection) return connection.error();
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out) return make_error(ErrorCode::Failed, what + ": cannot write " + file.string());
  auto response = (*connection)->send_streaming(Method::Get, path, std::string(), "application/json",
                                                [&](std::string_view piece) { out.write(piece.data(), piece.size()); });
  if (!response) return make_error(response.error().code, what + ": " + response.error().message);
  if (response->status >= 400) return api_error(response->status, response->body, what);
  out.close();
  if (!out) return make_error(ErrorCode::Failed, what + ": cannot write " + file.string());
  return {};
}

}  // namespace breakfix::lxd
