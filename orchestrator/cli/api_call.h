#pragma once

// What every `breakfix session` client command shares: the --socket/--url/--token (and
// -o) options, and one API call that prints the daemon's error and picks the exit code
// (docs/cli.md, "Talking to the daemon"). Over cli/api_client.h.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iostream>
#include <string>

#include "cli/api_client.h"
#include "cli/exit_codes.h"

namespace breakfix::cli {

struct Connection {
  std::string socket;
  std::string url;
  std::string token;
  std::string output = "table";

  void add_to(CLI::App* command, bool with_output) {
    command->add_option("--socket", socket, "The daemon's API socket (default $BREAKFIX_SOCKET or /run/breakfix/api.sock)");
    command->add_option("--url", url, "The daemon's TCP API, http://HOST:PORT (default $BREAKFIX_URL)");
    command->add_option("--token", token, "Bearer token for --url (default $BREAKFIX_TOKEN)");
    if (with_output) {
      command->add_option("-o,--output", output, "Output format")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
    }
  }
  ApiEndpoint endpoint() const { return ApiEndpoint::from_environment(socket, url, token); }
  bool json_output() const { return output == "json"; }
};

// The outcome of one call: its JSON body, or the exit code after an error was printed.
struct Call {
  int exit_code = kExitOk;
  int status = 0;
  nlohmann::json body;  // discarded when the reply is not JSON; see raw
  std::string raw;
  bool ok() const { return exit_code == kExitOk; }
};

// Prints "breakfix: MESSAGE" to standard error when the daemon cannot be reached
// (exit 3, or 2 for a malformed --url) or answers 4xx/5xx (exit 4 for 404, else 1).
inline Call call(const Connection& connection, const std::string& method, const std::string& target,
                 const std::string& body = "", const std::string& accept = "application/json") {
  Call result;
  auto reply = api_call(connection.endpoint(), method, target, body, accept);
  if (!reply) {
    std::cerr << "breakfix: " << reply.error().message << "\n";
    result.exit_code = reply.error().code == ErrorCode::Invalid ? kExitUsage : kExitUnreachable;
    return result;
  }
  result.status = reply->status;
  result.raw = reply->body;
  result.body = nlohmann::json::parse(reply->body, nullptr, false);
  if (reply->status >= 400) {
    std::string message = result.body.is_object() && result.body.contains("error") ? result.body["error"].get<std::string>()
                                                                                   : reply->body;
    std::cerr << "breakfix: " << message << " (HTTP " << reply->status << ")\n";
    result.exit_code = reply->status == 404 ? kExitNotFound : kExitFailure;
  }
  return result;
}

}  // namespace breakfix::cli
