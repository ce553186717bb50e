#pragma once

// The REST API (docs/openapi.yaml): routes HTTP requests to the session engine and
// turns its results and errors into JSON with the right status. Knows nothing of
// sockets (HttpServer) nor of how the daemon is put together (Daemon).

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "daemon/daemon_config.h"
#include "breakfix/runtime.h"
#include "breakfix/scenario_catalog.h"
#include "daemon/http_server.h"
#include "daemon/metrics.h"
#include "daemon/web_console.h"
#include "gateway/ssh_gateway.h"
#include "session/plan_sessions.h"
#include "session/session_engine.h"

namespace breakfix {

// Where candidates connect, as printed for them.
struct SshEndpoint {
  std::string host;
  int port = 2222;
  std::string host_key_fingerprint;
  std::string host_key_line;  // "ssh-ed25519 AAAA..." for known_hosts
};

struct ApiContext {
  SessionEngine* engine = nullptr;
  PlanSessions* plans = nullptr;  // a plan's session answers on the same paths as a session
  WebConsole* console = nullptr;
  SshGateway* gateway = nullptr;  // the live terminals the console's WebSocket shows  // on TCP: the console's pages, and its cookie instead of a bearer token
  Runtime* runtime = nullptr;
  Metrics* metrics = nullptr;
  const DaemonConfig* config = nullptr;
  std::function<std::shared_ptr<const ScenarioCatalog>()> catalog;
  std::filesystem::path recordings_dir;  // <dir>/<session>/<unix second>-<n>.cast
  SshEndpoint ssh;
};

class Api {
 public:
  explicit Api(ApiContext context);
  HttpResponse handle(const HttpRequest& request);

 private:
  HttpResponse route(const HttpRequest& request);
  HttpResponse create_session(const HttpRequest& request);
  // The requests on a plan's session: its own (view, next, end, remove, notes, ratings,
  // report), or the current part's (extend, hint, grade).
  HttpResponse plan_session(const HttpRequest& request, const std::string& id, const std::string& action);
  HttpResponse list_sessions(const HttpRequest& request);
  HttpResponse session_action(const HttpRequest& request, const std::string& id, const std::string& action);
  // POST /v1/sessions/{id}/hint: the next hint, or hint `number`, to the candidate.
  HttpResponse give_hint(const HttpRequest& request, const std::string& id);
  HttpResponse add_note(const HttpRequest& request, const std::string& id);
  HttpResponse rate(const HttpRequest& request, const std::string& id);
  HttpResponse report(const HttpRequest& request, const std::string& id);
  HttpResponse recording(const HttpRequest& request, const std::string& id);
  // GET /v1/sessions/{id}/timeline: events, check runs and the exec/sftp/scp log so far.
  HttpResponse timeline(const std::string& id);
  // GET /v1/sessions/{id}/terminal, a WebSocket: the candidate's terminals, live and
  // read-only (binary messages: output; text messages: {"type":"resize",...}).
  HttpResponse terminal(const HttpRequest& request, const std::string& id);
  HttpResponse scenarios();
  HttpResponse health();
  HttpResponse metrics();

  ApiContext context_;
  std::vector<std::string> tokens_;
};

// The JSON form of a session, as every endpoint returns it.
std::string session_json(const SessionView& view, const SshEndpoint& ssh);
// The JSON form of a plan's session: the interview, its parts (each a session_json).
std::string plan_session_json(const PlanSessionView& view, const SshEndpoint& ssh);

}  // namespace breakfix
