#pragma once

// A real `breakfix serve` for a test: its own config, data dir, unix socket and TCP
// port, started as a child process and stopped with a signal. Requests go through the
// real clients a user has: the breakfix CLI and curl.

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "process.h"
#include "temp_dir.h"

namespace breakfix::testing {

inline constexpr const char* kTestToken = "test-token-0123456789abcdefghijklmnop";

// A TCP port nothing listens on now (the kernel's pick; released before the daemon binds it).
inline int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

struct HttpResult {
  int status = 0;
  std::string body;
  std::string headers;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

class TestDaemon {
 public:
  // `extra` is YAML appended to the generated config (its own top-level keys).
  explicit TestDaemon(const std::string& extra_sessions = "", const std::string& docker_socket = "/var/run/docker.sock",
                      const std::string& scenario_dir = std::string(BREAKFIX_SOURCE_DIR) + "/scenarios")
      : port_(free_tcp_port()), ssh_port_(free_tcp_port()) {
    config_ = dir_.write("config.yaml",
                         "listen:\n"
                         "  api_socket: " + socket().string() + "\n"
                         "  api_tcp: 127.0.0.1:" + std::to_string(port_) + "\n"
                         "  ssh: 127.0.0.1:" + std::to_string(ssh_port_) + "\n"
                         "  ssh_public_host: localhost\n"
                         "data_dir: " + (dir_.path() / "data").string() + "\n"
                         "scenario_dirs: [" + scenario_dir + "]\n"
                         "runtime:\n"
                         "  docker_socket: " + docker_socket + "\n"
                         "sessions:\n"
                         "  retention: 0s\n"
                         "  progress_interval: 0s\n" + extra_sessions +
                         "interviewers:\n"
                         "  - name: ci\n"
                         "    token: " + kTestToken + "\n");
    start();
  }
  ~TestDaemon() {
    if (child_.running()) stop(SIGKILL);
  }

  void start() {
    child_ = boost::process::child(BREAKFIX_BINARY, "serve", "--config", config_.string(),
                                   (boost::process::std_out & boost::process::std_err) > log().string() + ".run" +
                                                                                             std::to_string(runs_++));
    for (int i = 0; i < 200; ++i) {
      if (curl("GET", "/healthz").status != 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("the daemon did not answer on " << socket() << "; log:\n" << log_text());
  }
  // Sends `signal` and waits for the exit; returns the exit code (or -1 on a timeout).
  int stop(int signal = SIGTERM) {
    ::kill(child_.id(), signal);
    for (int i = 0; i < 600 && child_.running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (child_.running()) {
      child_.terminate();
      return -1;
    }
    child_.wait();
    return child_.exit_code();
  }
  void signal(int number) { ::kill(child_.id(), number); }

  std::filesystem::path socket() const { return dir_.path() / "api.sock"; }
  std::filesystem::path log() const { return dir_.path() / "daemon.log"; }
  std::string log_text() const {
    std::string all;
    for (int run = 0; run < runs_; ++run) {
      std::ifstream in(log().string() + ".run" + std::to_string(run));
      std::stringstream text;
      text << in.rdbuf();
      all += text.str();
    }
    return all;
  }
  int port() const { return port_; }
  int ssh_port() const { return ssh_port_; }
  const TempDir& dir() const { return dir_; }

  // curl over the unix socket (tcp = false) or TCP; `headers` are "Name: value".
  HttpResult curl(const std::string& method, const std::string& path, const std::string& body = "", bool tcp = false,
                  std::vector<std::string> headers = {}) const {
    std::vector<std::string> argv = {"curl", "-s", "-S", "-X", method, "-D", "-", "-o", "-", "--max-time", "120"};
    if (tcp) {
      argv.push_back("http://127.0.0.1:" + std::to_string(port_) + path);
    } else {
      argv.insert(argv.end(), {"--unix-socket", socket().string(), "http://breakfix" + path});
    }
    if (!body.empty()) {
      argv.insert(argv.end(), {"--data-binary", "@-"});
      bool typed = false;
      for (const auto& header : headers) typed = typed || header.rfind("Content-Type:", 0) == 0;
      if (!typed) headers.push_back("Content-Type: application/json");
    }
    for (const auto& header : headers) argv.insert(argv.end(), {"-H", header});
    CommandResult run = run_command(argv, body);
    HttpResult result;
    if (run.exit_code != 0) return result;
    const std::size_t split = run.out.find("\r\n\r\n");
    result.headers = run.out.substr(0, split);
    result.body = split == std::string::npos ? "" : run.out.substr(split + 4);
    std::istringstream status_line(result.headers);
    std::string version;
    status_line >> version >> result.status;
    return result;
  }
  HttpResult tcp(const std::string& method, const std::string& path, const std::string& body = "") const {
    return curl(method, path, body, true, {std::string("Authorization: Bearer ") + kTestToken});
  }

  // The breakfix CLI against this daemon.
  CommandResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), BREAKFIX_BINARY);
    args.insert(args.end(), {"--socket", socket().string()});
    return run_command(args);
  }

 private:
  TempDir dir_;
  int port_;
  int ssh_port_;
  std::filesystem::path config_;
  boost::process::child child_;
  int runs_ = 0;
};

// The session id in `breakfix session start`'s message to the candidate.
// Plain string search, not std::regex: the fixture is in every integration test, and
// GCC 12 warns falsely inside libstdc++'s regex compiler under ASan (-Werror).
inline std::string session_id_from(const std::string& text) {
  const auto command = text.find("ssh -p ");
  REQUIRE_MESSAGE(command != std::string::npos, text);
  const auto at = text.find("@localhost", command);
  REQUIRE_MESSAGE(at != std::string::npos, text);
  const auto id_start = text.rfind(' ', at) + 1;
  std::string id = text.substr(id_start, at - id_start);
  REQUIRE_MESSAGE(!id.empty(), text);
  return id;
}

inline nlohmann::json show(const TestDaemon& daemon, const std::string& id) {
  auto result = daemon.cli({"session", "show", id, "-o", "json"});
  REQUIRE_MESSAGE(result.exit_code == 0, result.err);
  return nlohmann::json::parse(result.out);
}

// Polls until the session is in one of `states` (graded sessions with no retention move
// on to removed at the next tick, so callers often accept both).
inline nlohmann::json wait_for(const TestDaemon& daemon, const std::string& id, std::initializer_list<const char*> states) {
  nlohmann::json session;
  for (int i = 0; i < 300; ++i) {
    session = show(daemon, id);
    for (const char* state : states) {
      if (session["state"] == state) return session;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  FAIL("session " << id << " stayed " << session["state"] << "; log:\n" << daemon.log_text());
  return session;
}


}  // namespace breakfix::testing
