#pragma once

// The interviewers' web console, served on the API's TCP listener (docs/web-console.md):
// its pages and the browser libraries, embedded in the binary at build time (no network
// at run time, no third-party origin); sign-in with an interviewer's token, which gives
// a session cookie (HttpOnly, SameSite=Strict); and the rules that let the pages call the
// REST API with that cookie: every mutation carries the session's CSRF token in a header.
// Every answer of the console has a strict Content-Security-Policy.
//
// Threads: every method may be called from any thread.

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "breakfix/clock.h"
#include "daemon/http_server.h"

namespace breakfix {

// A file of the console, as the build embedded it (web_assets.cpp, generated).
struct WebAsset {
  std::string_view path;  // "/ui/assets/xterm.js"
  std::string_view content_type;
  std::string_view bytes;
};
const std::vector<WebAsset>& web_assets();

inline constexpr const char* kConsoleCookie = "breakfix_console";
inline constexpr const char* kCsrfHeader = "x-breakfix-csrf";

class WebConsole {
 public:
  struct Options {
    std::chrono::seconds session_lifetime{12 * 3600};
    std::size_t max_sessions = 1000;  // signed-in browsers kept; the oldest go first
  };
  // `tokens`: the interviewers' (index i is interviewer i, for the log).
  WebConsole(std::vector<std::string> tokens, const Clock& clock, Options options);
  WebConsole(std::vector<std::string> tokens, const Clock& clock) : WebConsole(std::move(tokens), clock, Options{}) {}

  // Whether `path` is the console's (pages, assets, sign-in): "/", "/ui", "/ui/...", "/favicon.ico".
  static bool serves(const std::string& path);
  HttpResponse handle(const HttpRequest& request);

  enum class CookieCheck {
    None,         // no console cookie, or one that is unknown or expired
    Valid,        // a signed-in browser; for a mutation, with the right CSRF header
    MissingCsrf,  // a signed-in browser's mutation without the session's CSRF token
  };
  // For the REST API: may this request act with the console's cookie?
  CookieCheck check_cookie(const HttpRequest& request);

  // Whether a browser's Origin header names this very site: exactly "http://" or
  // "https://" and the request's Host (a suffix, a path or "null" is another site).
  static bool same_origin(const HttpRequest& request);

  // The headers every console answer carries (CSP and friends), for the API's too.
  static void add_security_headers(HttpResponse& response);

 private:
  struct Session {
    std::string csrf;
    WallTime expires{};
    WallTime created{};
  };
  HttpResponse sign_in(const HttpRequest& request);
  HttpResponse sign_out(const HttpRequest& request);
  HttpResponse whoami(const HttpRequest& request);
  std::optional<Session> session_of(const HttpRequest& request);
  std::string cookie_value(const HttpRequest& request) const;

  std::vector<std::string> tokens_;
  const Clock& clock_;
  Options options_;
  std::mutex mutex_;
  std::map<std::string, Session> sessions_;  // by cookie value
};

}  // namespace breakfix
