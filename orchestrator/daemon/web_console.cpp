#include "daemon/web_console.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "daemon/credentials.h"

namespace breakfix {
namespace {

// Scripts only from the console's own files, and WebAssembly compiled by them
// ('wasm-unsafe-eval': asciinema-player's terminal emulator is WebAssembly; it allows no
// eval of JavaScript); styles from the console's files, plus inline ones, which xterm.js
// and asciinema-player set on their elements (no script can be injected that way); the
// WebSocket and fetch() to this origin only; never framed.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'";

HttpResponse redirect(const std::string& to) {
  HttpResponse response;
  response.status = 303;
  response.content_type = "text/plain; charset=utf-8";
  response.body = "see " + to + "\n";
  response.headers.push_back({"Location", to});
  return response;
}

HttpResponse plain(int status, const std::string& text) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = text + "\n";
  return response;
}

// "token=abc&next=x" (a form post): the value of `name`, percent-decoded.
std::string form_field(const std::string& body, const std::string& name) {
  const auto fields = parse_query(body);
  auto found = fields.find(name);
  return found == fields.end() ? "" : found->second;
}

bool is_mutation(const std::string& method) { return method != "GET" && method != "HEAD"; }

}  // namespace

WebConsole::WebConsole(std::vector<std::string> tokens, const Clock& clock, Options options)
    : tokens_(std::move(tokens)), clock_(clock), options_(options) {}

bool WebConsole::serves(const std::string& path) {
  return path == "/" || path == "/ui" || path.rfind("/ui/", 0) == 0 || path == "/favicon.ico";
}

bool WebConsole::same_origin(const HttpRequest& request) {
  const std::string origin = request.header("origin");
  const std::string host = request.header("host");
  return !host.empty() && (origin == "http://" + host || origin == "https://" + host);
}

void WebConsole::add_security_headers(HttpResponse& response) {
  response.headers.push_back({"Content-Security-Policy", kContentSecurityPolicy});
  response.headers.push_back({"X-Content-Type-Options", "nosniff"});
  // same-origin, not no-referrer: with no-referrer the browser sends "Origin: null" on
  // the console's own sign-in form, which sign_in()'s Origin check must tell from another site.
  response.headers.push_back({"Referrer-Policy", "same-origin"});
  response.headers.push_back({"X-Frame-Options", "DENY"});
  response.headers.push_back({"Cache-Control", "no-store"});
}

std::string WebConsole::cookie_value(const HttpRequest& request) const {
  // "a=1; breakfix_console=abc; b=2"
  const std::string cookies = request.header("cookie");
  const std::string wanted = std::string(kConsoleCookie) + "=";
  std::size_t at = 0;
  while (at < cookies.size()) {
    std::size_t end = cookies.find(';', at);
    if (end == std::string::npos) end = cookies.size();
    std::string pair = cookies.substr(at, end - at);
    pair.erase(0, pair.find_first_not_of(' '));
    if (pair.rfind(wanted, 0) == 0) return pair.substr(wanted.size());
    at = end + 1;
  }
  return "";
}

std::optional<WebConsole::Session> WebConsole::session_of(const HttpRequest& request) {
  const std::string cookie = cookie_value(request);
  if (cookie.empty()) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto found = sessions_.find(cookie);
  if (found == sessions_.end()) return std::nullopt;
  if (clock_.now() >= found->second.expires) {
    sessions_.erase(found);
    return std::nullopt;
  }
  return found->second;
}

WebConsole::CookieCheck WebConsole::check_cookie(const HttpRequest& request) {
  auto session = session_of(request);
  if (!session) return CookieCheck::None;
  if (is_mutation(request.method) && !same_secret(request.header(kCsrfHeader), session->csrf)) {
    return CookieCheck::MissingCsrf;
  }
  return CookieCheck::Valid;
}

HttpResponse WebConsole::sign_in(const HttpRequest& request) {
  // A form post from the console's own page: another site's form cannot sign a browser
  // in to an interviewer's account (login CSRF), as Origin says where the form was.
  if (!request.header("origin").empty() && !same_origin(request)) {
    return plain(403, "sign-in from another site (" + request.header("origin") + ") is refused");
  }
  if (match_token(form_field(request.body, "token"), tokens_) < 0) return redirect("/ui/login.html?failed=1");
  const std::string cookie = random_hex(32);
  {
    std::lock_guard lock(mutex_);
    const WallTime now = clock_.now();
    std::erase_if(sessions_, [&](const auto& entry) { return now >= entry.second.expires; });
    while (sessions_.size() >= options_.max_sessions) {
      auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
        return a.second.created < b.second.created;
      });
      sessions_.erase(oldest);
    }
    sessions_[cookie] = {random_hex(32), now + options_.session_lifetime, now};
  }
  HttpResponse response = redirect("/ui/");
  response.headers.push_back({"Set-Cookie", std::string(kConsoleCookie) + "=" + cookie + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                                                std::to_string(options_.session_lifetime.count())});
  return response;
}

HttpResponse WebConsole::sign_out(const HttpRequest& request) {
  // Only a signed-in page with its CSRF token signs out: another site's form clears nothing.
  HttpResponse response = redirect("/ui/login.html");
  if (check_cookie(request) != CookieCheck::Valid) return response;
  {
    std::lock_guard lock(mutex_);
    sessions_.erase(cookie_value(request));
  }
  response.headers.push_back({"Set-Cookie", std::string(kConsoleCookie) + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"});
  return response;
}

HttpResponse WebConsole::whoami(const HttpRequest& request) {
  auto session = session_of(request);
  if (!session) return plain(401, "not signed in");
  HttpResponse response;
  response.body = nlohmann::json{{"csrf", session->csrf}, {"expires", std::chrono::duration_cast<std::chrono::seconds>(
                                                                           session->expires.time_since_epoch())
                                                                           .count()}}
                      .dump() +
                  "\n";
  return response;
}

HttpResponse WebConsole::handle(const HttpRequest& request) {
  HttpResponse response;
  const std::string& path = request.path;
  if (path == "/ui/login" && request.method == "POST") {
    response = sign_in(request);
  } else if (path == "/ui/logout" && request.method == "POST") {
    // A mutation like any other: a page of another site cannot sign the interviewer out.
    response = check_cookie(request) == CookieCheck::MissingCsrf ? plain(403, "the CSRF token is missing")
                                                                 : sign_out(request);
  } else if (path == "/ui/whoami" && request.method == "GET") {
    response = whoami(request);
  } else if (path == "/favicon.ico") {
    response = plain(204, "");  // none: browsers ask for it on every page
    response.body.clear();
  } else if (request.method != "GET" && request.method != "HEAD") {
    response = plain(405, "use GET");
    response.headers.push_back({"Allow", "GET, HEAD"});
  } else {
    // Pages and assets; "/" and "/ui/" are the console's page.
    const std::string wanted = path == "/" || path == "/ui" || path == "/ui/" ? "/ui/index.html" : path;
    const auto& assets = web_assets();
    auto found = std::find_if(assets.begin(), assets.end(), [&](const WebAsset& asset) { return asset.path == wanted; });
    if (found == assets.end()) {
      response = plain(404, "no such page: " + path);
    } else {
      response.content_type = std::string(found->content_type);
      response.body = std::string(found->bytes);
    }
  }
  add_security_headers(response);
  return response;
}

}  // namespace breakfix
