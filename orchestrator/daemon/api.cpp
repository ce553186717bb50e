#include "daemon/api.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <fstream>
#include <regex>
#include <sstream>

#include "breakfix/duration.h"
#include "daemon/credentials.h"
#include "session/recordings.h"
#include "session/report.h"

namespace breakfix {
namespace {

using nlohmann::json;

// Bodies and fields a client got wrong; the field is named in the answer.
struct ApiError {
  int status;
  std::string message;
  std::string field;
  std::string allow = {};  // for 405: the methods the resource has
};

HttpResponse json_response(int status, const json& body) {
  HttpResponse response;
  response.status = status;
  response.body = body.dump(2) + "\n";
  return response;
}

HttpResponse error_response(const ApiError& error) {
  json body{{"error", error.message}};
  if (!error.field.empty()) body["field"] = error.field;
  HttpResponse response = json_response(error.status, body);
  if (error.status == 401) response.headers.push_back({"WWW-Authenticate", "Bearer realm=\"breakfix\""});
  if (!error.allow.empty()) response.headers.push_back({"Allow", error.allow});
  return response;
}

HttpResponse engine_error(const Error& error) {
  switch (error.code) {
    case ErrorCode::NotFound: return error_response({404, error.message, ""});
    case ErrorCode::Conflict: return error_response({409, error.message, ""});
    case ErrorCode::Invalid: return error_response({400, error.message, ""});
    case ErrorCode::Unavailable:
    case ErrorCode::Timeout: return error_response({503, error.message, ""});
    default: return error_response({500, error.message, ""});
  }
}

json time_or_null(WallTime time) {
  if (time.time_since_epoch().count() == 0) return nullptr;
  return iso_time(time);
}

// A duration field: "90m" (the scenario syntax) or a whole number of seconds, above zero
// and at most a year (parse_duration's bound), so no sum of them can overflow.
std::chrono::seconds duration_field(const json& body, const char* name) {
  constexpr std::uint64_t kMaxSeconds = 366ULL * 24 * 3600;
  const json& value = body.at(name);
  std::optional<std::chrono::seconds> parsed;
  if (value.is_number_unsigned() && value.get<std::uint64_t>() <= kMaxSeconds) {
    parsed = std::chrono::seconds(static_cast<std::int64_t>(value.get<std::uint64_t>()));
  } else if (value.is_string()) {
    parsed = parse_duration(value.get<std::string>());
  }
  if (!parsed || parsed->count() <= 0) {
    throw ApiError{400, std::string(name) + ": must be a duration above zero such as \"90m\" or \"1h30m\", or seconds", name};
  }
  return *parsed;
}

// A query flag: present and not "0" or "false".
bool query_flag(const HttpRequest& request, const char* name) {
  auto found = request.query.find(name);
  return found != request.query.end() && found->second != "0" && found->second != "false";
}

json parse_body(const HttpRequest& request, std::initializer_list<const char*> known) {
  if (request.body.empty()) return json::object();
  const std::string type = request.header("content-type");
  if (!type.empty() && type.find("application/json") == std::string::npos) {
    throw ApiError{415, "the body must be application/json (got " + type + ")", ""};
  }
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded()) throw ApiError{400, "the body is not valid JSON", ""};
  if (!body.is_object()) throw ApiError{400, "the body must be a JSON object", ""};
  for (const auto& item : body.items()) {
    const std::string& key = item.key();
    if (std::find_if(known.begin(), known.end(), [&](const char* name) { return key == name; }) == known.end()) {
      std::string names;
      for (const char* name : known) names += (names.empty() ? "" : ", ") + std::string(name);
      throw ApiError{400, "unknown field '" + key + "' (known: " + names + ")", key};
    }
  }
  return body;
}


std::string string_field(const json& body, const char* name, std::size_t max_length) {
  const json& value = body.at(name);
  if (!value.is_string()) throw ApiError{400, std::string(name) + ": must be a string", name};
  std::string text = value.get<std::string>();
  if (text.empty() || text.size() > max_length) {
    throw ApiError{400, std::string(name) + ": must have 1 to " + std::to_string(max_length) + " characters", name};
  }
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) throw ApiError{400, std::string(name) + ": must not contain control characters", name};
  }
  return text;
}

const std::regex& session_path() {
  static const std::regex pattern(
      "^/v1/sessions/([a-z0-9]{1,32})(/(extend|end|grade|hint|next|notes|ratings|report|recording|terminal|timeline))?$");
  return pattern;
}

// A rubric's criteria with their levels, for the pages that rate them.
json rubric_criteria_json(const std::vector<RubricCriterion>& rubric) {
  json criteria = json::array();
  for (const RubricCriterion& criterion : rubric) {
    criteria.push_back({{"name", criterion.name}, {"description", criterion.description}, {"levels", criterion.levels}});
  }
  return criteria;
}

// How the candidate connects: `user` is a session's or a plan session's id.
json ssh_json(const std::string& user, const SshEndpoint& ssh) {
  const std::string port = ssh.port == 22 ? "" : "-p " + std::to_string(ssh.port) + " ";
  return {{"host", ssh.host},
          {"port", ssh.port},
          {"user", user},
          {"command", "ssh " + port + user + "@" + ssh.host},
          {"host_key_fingerprint", ssh.host_key_fingerprint},
          {"known_hosts", (ssh.port == 22 ? ssh.host : "[" + ssh.host + "]:" + std::to_string(ssh.port)) + " " +
                              ssh.host_key_line}};
}

}  // namespace

std::string session_json(const SessionView& view, const SshEndpoint& ssh) {
  json vars = json::object();
  for (const auto& [name, value] : view.vars) vars[name] = value;
  json body{{"id", view.id},
            {"scenario", view.scenario_id},
            {"title", view.scenario_title},
            {"variant", view.variant.empty() ? json(nullptr) : json(view.variant)},
            {"candidate", view.candidate},
            {"state", to_string(view.state)},
            {"pooled", view.pooled},
            {"failure", view.failure.empty() ? json(nullptr) : json(view.failure)},
            {"progress", view.progress.empty() ? json(nullptr) : json(view.progress)},
            {"seed", view.seed},
            {"vars", vars},
            {"hosts", view.hosts},
            {"entry_host", view.entry_host},
            {"created", time_or_null(view.created)},
            {"ready_at", time_or_null(view.ready_at)},
            {"deadline", time_or_null(view.deadline)},
            {"ended_at", time_or_null(view.ended_at)},
            {"graded_at", time_or_null(view.graded_at)},
            {"remove_at", time_or_null(view.remove_at)},
            {"duration_s", view.duration.count()},
            {"time_left_s", view.time_left.count()},
            {"score", view.score ? json(*view.score) : json(nullptr)},
            {"tampered", view.tampered ? json(*view.tampered) : json(nullptr)},
            {"access", {{"public_keys", view.public_keys}, {"password", view.password}}},
            {"hints", {{"given", view.hints_given}, {"total", view.hints_total}}},
            {"checks", view.checks_total > 0 ? json{{"passing", view.checks_passing}, {"total", view.checks_total}}
                                             : json(nullptr)}};
  body["ssh"] = ssh_json(view.id, ssh);
  return body.dump(2) + "\n";
}

std::string plan_session_json(const PlanSessionView& view, const SshEndpoint& ssh) {
  json parts = json::array();
  for (const PlanPartView& part : view.parts) {
    parts.push_back({{"name", part.name},
                     {"scenario", part.scenario_id},
                     {"budget_s", part.budget.count()},
                     {"session", part.session ? json::parse(session_json(*part.session, ssh)) : json(nullptr)}});
  }
  json body{{"id", view.id},
            {"kind", "plan"},
            {"plan", view.plan_id},
            {"title", view.title},
            {"mode", to_string(view.mode)},
            {"candidate", view.candidate},
            {"state", to_string(view.state)},
            {"ended", view.ended},
            {"current_part", view.current},
            {"duration_s", view.duration.count()},
            {"created", time_or_null(view.created)},
            {"parts", parts},
            {"access", {{"public_keys", view.public_keys}, {"password", view.password}}},
            {"ssh", ssh_json(view.id, ssh)}};
  return body.dump(2) + "\n";
}

Api::Api(ApiContext context) : context_(std::move(context)) {
  for (const Interviewer& interviewer : context_.config->interviewers) tokens_.push_back(interviewer.token);
}

HttpResponse Api::handle(const HttpRequest& request) {
  HttpResponse response;
  try {
    response = route(request);
  } catch (const ApiError& error) {
    response = error_response(error);
  } catch (const json::exception& error) {
    response = error_response({400, std::string("invalid field: ") + error.what(), ""});
  }
  if (context_.metrics) context_.metrics->count_api_request(response.status);
  // Over TCP a browser may read the answer: the console's headers on every one.
  if (request.over_tcp && !WebConsole::serves(request.path)) WebConsole::add_security_headers(response);
  return response;
}

HttpResponse Api::route(const HttpRequest& request) {
  const std::string& path = request.path;
  const std::string& method = request.method;
  // /healthz answers anyone who can reach the socket: load balancers and probes have no token.
  if (path == "/healthz") {
    if (method != "GET" && method != "HEAD") throw ApiError{405, "use GET", "", "GET, HEAD"};
    return health();
  }
  if (request.over_tcp && context_.console && WebConsole::serves(path)) return context_.console->handle(request);
  if (request.over_tcp) {
    const std::string authorization = request.header("authorization");
    std::string scheme = authorization.substr(0, 7);
    for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // A signed-in console may use its cookie instead; its changes carry the CSRF token.
    const auto cookie = context_.console && scheme != "bearer " ? context_.console->check_cookie(request)
                                                                : WebConsole::CookieCheck::None;
    if (cookie == WebConsole::CookieCheck::MissingCsrf) {
      throw ApiError{403, "a change from the web console needs its CSRF token in X-Breakfix-CSRF", ""};
    }
    if (cookie == WebConsole::CookieCheck::None) {
      if (scheme != "bearer ") {
        throw ApiError{401, "this endpoint needs \"Authorization: Bearer <token>\" over TCP", ""};
      }
      if (match_token(authorization.substr(7), tokens_) < 0) throw ApiError{403, "the bearer token is not known", ""};
    }
  }
  if (path == "/metrics") {
    if (method != "GET") throw ApiError{405, "use GET", "", "GET"};
    return metrics();
  }
  if (path == "/v1/scenarios") {
    if (method != "GET") throw ApiError{405, "use GET", "", "GET"};
    return scenarios();
  }
  if (path == "/v1/sessions") {
    if (method == "POST") return create_session(request);
    if (method == "GET") return list_sessions(request);
    throw ApiError{405, "use GET or POST", "", "GET, POST"};
  }
  std::smatch match;
  if (std::regex_match(path, match, session_path())) {
    const std::string id = match[1];
    const std::string action = match[3];
    if (context_.plans && context_.plans->owns(id)) return plan_session(request, id, action);
    if (action.empty()) {
      if (method == "GET") {
        auto view = context_.engine->view(id);
        if (!view) return engine_error(view.error());
        HttpResponse response;
        response.body = session_json(*view, context_.ssh);
        return response;
      }
      if (method == "DELETE") return session_action(request, id, "remove");
      throw ApiError{405, "use GET or DELETE", "", "GET, DELETE"};
    }
    if (action == "report" || action == "recording" || action == "timeline" || action == "terminal") {
      if (method != "GET") throw ApiError{405, "use GET", "", "GET"};
      return action == "report"      ? report(request, id)
             : action == "recording" ? recording(request, id)
             : action == "timeline"  ? timeline(id)
                                     : terminal(request, id);
    }
    if (action == "hint" || action == "notes" || action == "ratings") {
      if (method != "POST") throw ApiError{405, "use POST", "", "POST"};
      return action == "hint" ? give_hint(request, id) : action == "notes" ? add_note(request, id) : rate(request, id);
    }
    if (method != "POST") throw ApiError{405, "use POST", "", "POST"};
    return session_action(request, id, action);
  }
  throw ApiError{404, "no such endpoint: " + method + " " + path + " (see docs/openapi.yaml)", ""};
}

HttpResponse Api::create_session(const HttpRequest& request) {
  const json body = parse_body(request, {"scenario", "candidate", "public_keys", "password", "duration", "seed"});
  if (!body.contains("scenario")) throw ApiError{400, "scenario: required", "scenario"};
  if (!body.contains("candidate")) throw ApiError{400, "candidate: required", "candidate"};
  SessionRequest session;
  session.scenario_id = string_field(body, "scenario", 100);
  session.candidate = string_field(body, "candidate", 200);
  if (body.contains("public_keys")) {
    const json& keys = body["public_keys"];
    if (!keys.is_array()) throw ApiError{400, "public_keys: must be a list of public key lines", "public_keys"};
    if (keys.size() > 20) throw ApiError{400, "public_keys: at most 20 keys", "public_keys"};
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const std::string field = "public_keys[" + std::to_string(i) + "]";
      if (!keys[i].is_string()) throw ApiError{400, field + ": must be a string", field};
      auto key = validate_public_key(keys[i].get<std::string>());
      if (!key) throw ApiError{400, field + ": " + key.error().message, field};
      session.public_keys.push_back(*key);
    }
  }
  bool want_password = false;
  if (body.contains("password")) {
    if (!body["password"].is_boolean()) throw ApiError{400, "password: must be true or false", "password"};
    want_password = body["password"].get<bool>();
  }
  if (session.public_keys.empty() && !want_password) {
    throw ApiError{400, "public_keys: give the candidate's public keys, or \"password\": true for a one-time password",
                   "public_keys"};
  }
  if (body.contains("duration")) {
    session.duration = duration_field(body, "duration");
    if (*session.duration > context_.config->max_duration) {
      throw ApiError{400, "duration: longer than sessions.max_duration (" + format_duration(context_.config->max_duration) + ")",
                     "duration"};
    }
  } else if (context_.config->default_duration) {
    session.duration = context_.config->default_duration;
  }
  if (body.contains("seed")) {
    if (!body["seed"].is_number_unsigned()) throw ApiError{400, "seed: must be a whole number, 0 or more", "seed"};
    session.seed = body["seed"].get<std::uint64_t>();
  }
  auto catalog = context_.catalog();
  const ScenarioPtr scenario = catalog->find(session.scenario_id);
  const PlanPtr plan = scenario || !context_.plans ? nullptr : catalog->find_plan(session.scenario_id);
  if (!scenario && !plan) {
    throw ApiError{404, "scenario: no scenario or plan '" + session.scenario_id + "' (GET /v1/scenarios lists them)",
                   "scenario"};
  }
  if (plan && body.contains("duration")) {
    throw ApiError{400, "duration: plan " + plan->id + " gives each part its own budget", "duration"};
  }
  if (plan && plan->duration() > context_.config->max_duration) {
    throw ApiError{400, "scenario: plan " + plan->id + " lasts " + format_duration(plan->duration()) +
                            ", longer than sessions.max_duration (" + format_duration(context_.config->max_duration) + ")",
                   "scenario"};
  }
  if (scenario && !session.duration && scenario->duration > context_.config->max_duration) {
    throw ApiError{400, "duration: the scenario's " + format_duration(scenario->duration) + " is longer than sessions.max_duration (" +
                            format_duration(context_.config->max_duration) + "); give a shorter duration",
                   "duration"};
  }
  if (Status up = context_.runtime->ping(); !up) throw ApiError{503, up.error().message, ""};
  std::string password;
  if (want_password) {
    password = generate_password();
    auto hash = hash_password(password);
    if (!hash) return engine_error(hash.error());
    session.password_hash = *hash;
  }
  // The answer: the session as created, with the password shown this once (only its hash is kept).
  auto created = [&](json out, const std::string& id) {
    if (context_.metrics) context_.metrics->count_session_started();
    out["password"] = password.empty() ? json(nullptr) : json(password);
    HttpResponse response = json_response(202, out);
    response.headers.push_back({"Location", "/v1/sessions/" + id});
    return response;
  };
  if (plan) {
    auto started = context_.plans->start({plan->id, session.candidate, session.seed, session.public_keys, session.password_hash});
    if (!started) return engine_error(started.error());
    return created(json::parse(plan_session_json(*started, context_.ssh)), started->id);
  }
  auto view = context_.engine->start(session);
  if (!view) return engine_error(view.error());
  return created(json::parse(session_json(*view, context_.ssh)), view->id);
}

HttpResponse Api::list_sessions(const HttpRequest& request) {
  auto views = context_.engine->list();
  if (!views) return engine_error(views.error());
  const std::string state = request.query.count("state") ? request.query.at("state") : "";
  const bool all = query_flag(request, "all");
  if (!state.empty()) {
    bool known = false;
    for (SessionState candidate : {SessionState::Provisioning, SessionState::Injecting, SessionState::Ready,
                                   SessionState::Grading, SessionState::Graded, SessionState::Failed, SessionState::Removed}) {
      known = known || state == to_string(candidate);
    }
    if (!known) throw ApiError{400, "state: no such state '" + state + "'", "state"};
  }
  json out = json::array();
  for (const SessionView& view : *views) {
    if (!state.empty() && state != to_string(view.state)) continue;
    if (state.empty() && !all && view.state == SessionState::Removed) continue;
    out.push_back(json::parse(session_json(view, context_.ssh)));
  }
  json plans = json::array();
  if (context_.plans) {
    auto plan_views = context_.plans->list();
    if (!plan_views) return engine_error(plan_views.error());
    for (const PlanSessionView& view : *plan_views) {
      if (!state.empty() && state != to_string(view.state)) continue;
      if (state.empty() && !all && view.state == SessionState::Removed) continue;
      plans.push_back(json::parse(plan_session_json(view, context_.ssh)));
    }
  }
  return json_response(200, json{{"sessions", out}, {"plans", plans}});
}

HttpResponse Api::plan_session(const HttpRequest& request, const std::string& id, const std::string& action) {
  PlanSessions& plans = *context_.plans;
  auto answer = [&](const Result<PlanSessionView>& view, int status) {
    if (!view) return engine_error(view.error());
    return json_response(status, json::parse(plan_session_json(*view, context_.ssh)));
  };
  if (action.empty()) {
    if (request.method == "GET") return answer(plans.view(id), 200);
    if (request.method == "DELETE") return answer(plans.remove(id), 200);
    throw ApiError{405, "use GET or DELETE", "", "GET, DELETE"};
  }
  if (action == "report") {
    if (request.method != "GET") throw ApiError{405, "use GET", "", "GET"};
    const std::string format = request.query.count("format") ? request.query.at("format") : "";
    if (!format.empty() && format != "md" && format != "json") throw ApiError{400, "format: must be json or md", "format"};
    auto report = plans.report(id);
    if (!report) return engine_error(report.error());
    HttpResponse response;
    if (format == "md" || (format.empty() && request.header("accept").find("text/markdown") != std::string::npos)) {
      response.content_type = "text/markdown; charset=utf-8";
      response.body = report->second;
    } else {
      response.body = report->first;
    }
    return response;
  }
  if (action == "recording" || action == "timeline") {
    throw ApiError{409, action + "s are kept per part: GET /v1/sessions/" + id + " names each part's session", ""};
  }
  if (action != "terminal" && request.method != "POST") throw ApiError{405, "use POST", "", "POST"};
  if (action == "next") {
    (void)parse_body(request, {});
    return answer(plans.next(id, "interviewer"), 202);
  }
  if (action == "end") {
    (void)parse_body(request, {});
    return answer(plans.end(id), 202);
  }
  if (action == "notes") return add_note(request, id);
  if (action == "ratings") return rate(request, id);
  // extend, hint, grade, and the live terminal: the part the candidate is on.
  auto part = plans.current_part(id);
  if (!part) return engine_error(part.error());
  if (action == "terminal") return terminal(request, *part);
  if (action == "hint") return give_hint(request, *part);
  return session_action(request, *part, action);
}

HttpResponse Api::give_hint(const HttpRequest& request, const std::string& id) {
  const json body = parse_body(request, {"number"});
  std::optional<int> number;
  if (body.contains("number")) {
    const json& value = body.at("number");
    if (!value.is_number_integer() || value.get<std::int64_t>() < 1 || value.get<std::int64_t>() > 1000) {
      throw ApiError{400, "number: must be a whole number from 1 (the first hint)", "number"};
    }
    number = value.get<int>();
  }
  auto given = context_.engine->give_hint(id, number);
  if (!given) return engine_error(given.error());
  return json_response(200, json{{"session", id}, {"number", given->number}, {"of", given->of},
                                 {"text", given->text}, {"cost", given->cost}});
}

HttpResponse Api::add_note(const HttpRequest& request, const std::string& id) {
  const json body = parse_body(request, {"text"});
  if (!body.contains("text")) throw ApiError{400, "text: required", "text"};
  if (!body["text"].is_string()) throw ApiError{400, "text: must be a string", "text"};
  const std::string text = body["text"].get<std::string>();
  // Newlines and tabs belong in a note; other control characters would only garble a terminal.
  for (unsigned char c : text) {
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
      throw ApiError{400, "text: must not contain control characters other than newlines and tabs", "text"};
    }
  }
  const bool plan = context_.plans && context_.plans->owns(id);
  auto note = plan ? context_.plans->add_note(id, text) : context_.engine->add_note(id, text);
  if (!note) return engine_error(note.error());
  return json_response(201, json{{"session", id}, {"time", iso_time(note->time)}, {"text", note->detail}});
}

HttpResponse Api::rate(const HttpRequest& request, const std::string& id) {
  const json body = parse_body(request, {"criterion", "level"});
  if (!body.contains("criterion")) throw ApiError{400, "criterion: required", "criterion"};
  if (!body.contains("level")) throw ApiError{400, "level: required", "level"};
  const std::string criterion = string_field(body, "criterion", 63);
  const json& level = body.at("level");
  if (!level.is_number_integer() || level.get<std::int64_t>() < 1 || level.get<std::int64_t>() > 10) {
    throw ApiError{400, "level: must be a whole number from 1 (the lowest level)", "level"};
  }
  const bool plan = context_.plans && context_.plans->owns(id);
  auto rated = plan ? context_.plans->rate(id, criterion, level.get<int>()) : context_.engine->rate(id, criterion, level.get<int>());
  if (!rated) return engine_error(rated.error());
  return json_response(200, json{{"session", id}, {"criterion", rated->criterion}, {"level", rated->level},
                                 {"of", rated->of}, {"meaning", rated->meaning}});
}

HttpResponse Api::session_action(const HttpRequest& request, const std::string& id, const std::string& action) {
  Result<SessionView> view = make_error(ErrorCode::Internal, "no action");
  int status = 200;
  if (action == "extend") {
    const json body = parse_body(request, {"by"});
    if (!body.contains("by")) throw ApiError{400, "by: required (e.g. \"15m\")", "by"};
    const std::chrono::seconds by = duration_field(body, "by");
    auto current = context_.engine->view(id);
    if (!current) return engine_error(current.error());
    if (current->state == SessionState::Ready && (current->deadline - current->ready_at) + by > context_.config->max_duration) {
      throw ApiError{400, "by: the session would last longer than sessions.max_duration (" +
                              format_duration(context_.config->max_duration) + ")",
                     "by"};
    }
    view = context_.engine->extend(id, by);
  } else if (action == "end") {
    (void)parse_body(request, {});
    view = context_.engine->end(id);
    status = 202;  // grading goes on in the background
  } else if (action == "grade") {
    (void)parse_body(request, {});
    auto outcomes = context_.engine->grade_now(id);
    if (!outcomes) return engine_error(outcomes.error());
    json checks = json::array();
    int passed = 0;
    for (const CheckOutcome& outcome : *outcomes) {
      passed += outcome.passed ? 1 : 0;
      checks.push_back({{"name", outcome.name},
                        {"expect", outcome.expect},
                        {"passed", outcome.passed},
                        {"exit_code", outcome.exit_code},
                        {"timed_out", outcome.timed_out},
                        {"duration_ms", outcome.duration.count()},
                        {"output", outcome.output}});
    }
    return json_response(200, json{{"session", id}, {"passed", passed}, {"total", outcomes->size()}, {"checks", checks}});
  } else if (action == "remove") {
    view = context_.engine->remove(id);
  } else if (action == "next") {
    (void)parse_body(request, {});
    throw ApiError{409, "session " + id + " runs one scenario: only a plan's session has a next part", ""};
  } else {
    throw ApiError{404, "no such action: " + action, ""};
  }
  if (!view) return engine_error(view.error());
  HttpResponse response;
  response.status = status;
  response.body = session_json(*view, context_.ssh);
  return response;
}

HttpResponse Api::report(const HttpRequest& request, const std::string& id) {
  const std::string format = request.query.count("format") ? request.query.at("format") : "";
  if (!format.empty() && format != "md" && format != "json") throw ApiError{400, "format: must be json or md", "format"};
  auto view = context_.engine->view(id);
  if (!view) return engine_error(view.error());
  auto stored = context_.engine->report(id);
  if (!stored) {
    if (stored.error().code != ErrorCode::NotFound) return engine_error(stored.error());
    throw ApiError{409, "session " + id + " has no report: it is " + to_string(view->state) +
                            " (reports are written when grading ends)",
                   ""};
  }
  const std::string accept = request.header("accept");
  HttpResponse response;
  if (format == "md" || (format.empty() && accept.find("text/markdown") != std::string::npos)) {
    response.content_type = "text/markdown; charset=utf-8";
    response.body = stored->second;
  } else {
    response.body = stored->first;
  }
  return response;
}

HttpResponse Api::timeline(const std::string& id) {
  auto timeline = context_.engine->timeline(id);
  if (!timeline) return engine_error(timeline.error());
  json events = json::array();
  for (const SessionEvent& event : timeline->events) {
    events.push_back({{"time", iso_time(event.time)}, {"kind", event.kind}, {"detail", event.detail}});
  }
  json runs = json::array();
  for (const CheckRunRecord& run : timeline->check_runs) {
    runs.push_back({{"time", iso_time(run.time)}, {"phase", run.phase}, {"check", run.check}, {"passed", run.passed},
                    {"exit_code", run.exit_code}, {"timed_out", run.timed_out}, {"duration_ms", run.duration.count()}});
  }
  // The exec, sftp and scp log: what the gateway recorded of channels outside terminals.
  const std::filesystem::path dir = context_.recordings_dir / id;
  json channels = json::array();
  for (const ChannelRecord& record : read_channel_records(dir, list_recordings(dir))) {
    json operations = json::array();
    for (const FileOperation& operation : record.operations) {
      operations.push_back({{"op", operation.op}, {"path", operation.path}, {"to", operation.to},
                            {"bytes", operation.bytes ? json(*operation.bytes) : json(nullptr)},
                            {"ok", operation.ok ? json(*operation.ok) : json(nullptr)}});
    }
    channels.push_back({{"type", record.type},
                        {"host", record.host},
                        {"command", record.command},
                        {"started", iso_time(record.started)},
                        {"ended", record.ended},
                        {"exit_status", record.exit_status ? json(*record.exit_status) : json(nullptr)},
                        {"operations", operations}});
  }
  return json_response(200, json{{"session", id}, {"events", events}, {"check_runs", runs}, {"channels", channels}});
}

HttpResponse Api::terminal(const HttpRequest& request, const std::string& id) {
  if (!request.websocket) throw ApiError{400, "this is a WebSocket: connect with Upgrade: websocket", ""};
  if (!context_.gateway) throw ApiError{404, "no SSH gateway in this daemon", ""};
  // A page of another site must not open it with the interviewer's cookie.
  if (!request.header("origin").empty() && !WebConsole::same_origin(request)) {
    throw ApiError{403, "a WebSocket from another site (" + request.header("origin") + ") is refused", ""};
  }
  auto view = context_.engine->view(id);
  if (!view) return engine_error(view.error());
  HttpResponse response;
  response.status = 101;
  response.websocket = [gateway = context_.gateway, id](WebSocketPeer& peer) {
    // The gateway's lock is held while it hands events over: they are queued here, up
    // to 1 MiB; a browser that cannot keep up misses output rather than slowing the gateway.
    struct Queue {
      std::mutex mutex;
      std::condition_variable ready;
      std::deque<SshGateway::TerminalEvent> events;
      std::size_t bytes = 0;
    };
    auto queue = std::make_shared<Queue>();
    const int watcher = gateway->watch_terminal(id, [queue](const SshGateway::TerminalEvent& event) {
      // Every event counts, a resize as 64 bytes: a flood of resizes is bounded too.
      const std::size_t cost = std::max<std::size_t>(event.output.size(), 64);
      std::lock_guard lock(queue->mutex);
      if (queue->bytes + cost > (1u << 20)) return;
      queue->bytes += cost;
      queue->events.push_back(event);
      queue->ready.notify_one();
    });
    for (bool open = true; open;) {
      std::deque<SshGateway::TerminalEvent> batch;
      {
        std::unique_lock lock(queue->mutex);
        queue->ready.wait_for(lock, std::chrono::milliseconds(250), [&] { return !queue->events.empty(); });
        batch.swap(queue->events);
      }
      for (const auto& event : batch) {
        open = event.columns > 0 ? peer.send(json{{"type", "resize"}, {"cols", event.columns}, {"rows", event.rows}}.dump(), false)
                                 : peer.send(event.output, true);
        if (!open) break;
      }
      {
        // Counted until sent: at most 1 MiB waits, in the queue and in the batch together.
        std::lock_guard lock(queue->mutex);
        std::size_t sent = 0;
        for (const auto& event : batch) sent += std::max<std::size_t>(event.output.size(), 64);
        queue->bytes -= std::min(queue->bytes, sent);
      }
      open = open && peer.still_open();
    }
    gateway->unwatch_terminal(watcher);
  };
  return response;
}

HttpResponse Api::recording(const HttpRequest& request, const std::string& id) {
  auto view = context_.engine->view(id);
  if (!view) return engine_error(view.error());
  const std::filesystem::path dir = context_.recordings_dir / id;
  // Terminals (.cast) and channel records (.jsonl), oldest first.
  const std::vector<std::string> names = list_recordings(dir);
  if (query_flag(request, "list")) return json_response(200, json{{"session", id}, {"recordings", names}});
  std::string chosen;
  if (request.query.count("name")) {
    chosen = request.query.at("name");
    if (std::find(names.begin(), names.end(), chosen) == names.end()) {
      throw ApiError{404, "name: no recording " + chosen + " in session " + id, "name"};
    }
  } else {
    // Without a name: the newest terminal.
    const auto newest = std::find_if(names.rbegin(), names.rend(), is_terminal_recording);
    if (newest == names.rend()) {
      throw ApiError{404, "session " + id + " has no recording yet (one is made per terminal the candidate opens)", ""};
    }
    chosen = *newest;
  }
  std::ifstream in(dir / chosen, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  HttpResponse response;
  response.content_type = is_terminal_recording(chosen) ? "application/x-asciicast" : "application/x-ndjson";
  response.body = text.str();
  return response;
}

HttpResponse Api::scenarios() {
  auto catalog = context_.catalog();
  json out = json::array();
  for (const ScenarioPtr& scenario : catalog->scenarios) {
    json hosts = json::array();
    for (const Host& host : scenario->hosts) hosts.push_back(host.name);
    out.push_back({{"id", scenario->id},
                   {"title", scenario->title},
                   {"kind", to_string(scenario->kind)},
                   {"difficulty", scenario->difficulty == Difficulty::Easy     ? "easy"
                                  : scenario->difficulty == Difficulty::Medium ? "medium"
                                                                               : "hard"},
                   {"duration_s", scenario->duration.count()},
                   {"tags", scenario->tags},
                   {"hosts", hosts},
                   {"description", scenario->description},
                   {"rubric", rubric_criteria_json(scenario->rubric)}});
  }
  json plans = json::array();
  for (const PlanPtr& plan : catalog->plans) {
    json parts = json::array();
    for (const PlanPart& part : plan->parts) {
      parts.push_back({{"name", part.name}, {"scenario", part.scenario_id}, {"duration_s", part.duration.count()}});
    }
    plans.push_back({{"id", plan->id},
                     {"title", plan->title},
                     {"mode", to_string(plan->mode)},
                     {"duration_s", plan->duration().count()},
                     {"description", plan->description},
                     {"parts", parts},
                     {"rubric", rubric_criteria_json(plan->rubric)}});
  }
  return json_response(200, json{{"scenarios", out}, {"plans", plans}});
}

HttpResponse Api::health() {
  const Status runtime = context_.runtime->ping();
  json body{{"status", runtime ? "ok" : "degraded"},
            {"runtime", runtime ? "ok" : runtime.error().message},
            {"scenarios", context_.catalog()->scenarios.size()}};
  return json_response(runtime ? 200 : 503, body);
}

HttpResponse Api::metrics() {
  if (!context_.metrics) throw ApiError{404, "metrics are not kept by this daemon", ""};
  auto views = context_.engine->list();
  std::map<std::string, int> counts;
  if (views) {
    for (const SessionView& view : *views) counts[to_string(view.state)]++;
  }
  context_.metrics->set_sessions_by_state(counts);
  std::map<std::string, Metrics::WarmLabs> warm;
  if (context_.config) {
    for (const auto& [scenario, target] : context_.config->warm) warm[scenario].target = target;
  }
  for (const auto& [scenario, count] : context_.engine->pooled_counts()) {
    warm[scenario].warm = count.warm;
    warm[scenario].preparing = count.pooled - count.warm;
  }
  context_.metrics->set_warm_labs(warm);
  HttpResponse response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.body = context_.metrics->render();
  return response;
}

}  // namespace breakfix
