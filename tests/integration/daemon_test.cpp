// The real daemon (`breakfix serve`) driven through the interviewer's tools: the
// breakfix CLI and curl, on the unix socket and on TCP with bearer tokens, against the
// real Docker engine. Every error status the API documents is provoked here.

#include <doctest/doctest.h>

#include <regex>

#include "daemon_fixture.h"
#include "runtime_fixture.h"

using namespace breakfix::testing;
using nlohmann::json;

TEST_CASE("daemon: an interviewer runs a whole session with the CLI") {
  TestDaemon daemon;
  auto started = daemon.cli({"session", "start", "sudoers-broken", "--candidate", "Ada Lovelace", "--duration", "20m"});
  REQUIRE_MESSAGE(started.exit_code == 0, started.err << daemon.log_text());
  const std::string id = session_id_from(started.out);
  SessionGuard guard(id);
  // What the candidate is sent: command, password, fingerprint, deadline.
  CHECK(started.out.find("is ready") != std::string::npos);
  CHECK(std::regex_search(started.out, std::regex("one-time password: +[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}")));
  CHECK(std::regex_search(started.out, std::regex("host key fingerprint: SHA256:[A-Za-z0-9+/]{43}")));
  CHECK(started.out.find("(20 min)") != std::string::npos);
  CHECK(started.out.find("ssh -p " + std::to_string(daemon.ssh_port()) + " " + id + "@localhost") != std::string::npos);
  // Progress went to stderr while it provisioned.
  CHECK(started.err.find("injecting") != std::string::npos);

  auto listed = daemon.cli({"session", "list"});
  CHECK(listed.exit_code == 0);
  CHECK(listed.out.find(id) != std::string::npos);
  CHECK(listed.out.find("Ada Lovelace") != std::string::npos);
  CHECK(listed.out.find("ready") != std::string::npos);

  json session = show(daemon, id);
  CHECK(session["state"] == "ready");
  CHECK(session["access"]["password"] == true);
  CHECK(session["time_left_s"].get<int>() > 19 * 60);
  const std::string deadline = session["deadline"];

  auto extended = daemon.cli({"session", "extend", id, "15m", "-o", "json"});
  REQUIRE_MESSAGE(extended.exit_code == 0, extended.err);
  CHECK(json::parse(extended.out)["deadline"] > deadline);
  CHECK(json::parse(extended.out)["time_left_s"].get<int>() > 34 * 60);

  auto graded_now = daemon.cli({"session", "grade", id});
  CHECK(graded_now.exit_code == 0);
  CHECK(graded_now.out.find("sudo rules parse") != std::string::npos);
  CHECK(graded_now.out.find("4 of 6 checks pass") != std::string::npos);  // only the 4 guards before the fix

  // The report does not exist before the end: 409, exit code 1.
  auto early_report = daemon.cli({"session", "report", id});
  CHECK(early_report.exit_code == 1);
  CHECK(early_report.err.find("HTTP 409") != std::string::npos);

  auto ended = daemon.cli({"session", "end", id});
  CHECK(ended.exit_code == 0);
  wait_for(daemon, id, {"graded", "removed"});
  auto report = daemon.cli({"session", "report", id});
  CHECK(report.exit_code == 0);
  // Only the guard passes: nothing was repaired, so it earns nothing.
  CHECK(report.out.find("**Score: 0%**") != std::string::npos);
  auto report_json = daemon.cli({"session", "report", id, "--format", "json"});
  CHECK(json::parse(report_json.out)["score"] == 0);

  auto removed = daemon.cli({"session", "rm", id, "-o", "json"});
  CHECK(removed.exit_code == 0);
  CHECK(json::parse(removed.out)["state"] == "removed");
  CHECK(daemon.cli({"session", "list"}).out.find(id) == std::string::npos);  // removed ones need --all
  CHECK(daemon.cli({"session", "list", "--all"}).out.find(id) != std::string::npos);
  // Acting on a removed session is a conflict, not a crash.
  CHECK(daemon.cli({"session", "extend", id, "5m"}).exit_code == 1);

  CHECK(daemon.cli({"session", "show", "nosuchsession"}).exit_code == 4);
  CHECK(daemon.stop() == 0);
}

TEST_CASE("daemon: CLI without a daemon exits 3 and says how to start one") {
  auto result = run_command({BREAKFIX_BINARY, "session", "list", "--socket", "/nonexistent/api.sock"});
  CHECK(result.exit_code == 3);
  CHECK(result.err.find("breakfix serve") != std::string::npos);
}

TEST_CASE("daemon: the API answers every documented error with JSON and the right status") {
  TestDaemon daemon("  max_sessions: 1\n  max_duration: 2h\n");

  SUBCASE("TCP needs a bearer token; the unix socket does not") {
    CHECK(daemon.curl("GET", "/v1/sessions", "", true).status == 401);
    auto wrong = daemon.curl("GET", "/v1/sessions", "", true, {"Authorization: Bearer not-the-token-at-all-0000000"});
    CHECK(wrong.status == 403);
    CHECK(wrong.json()["error"] == "the bearer token is not known");
    CHECK(daemon.tcp("GET", "/v1/sessions").status == 200);
    CHECK(daemon.curl("GET", "/v1/sessions").status == 200);
    CHECK(daemon.curl("GET", "/healthz", "", true).status == 200);  // probes have no token
    CHECK(daemon.curl("GET", "/metrics", "", true).status == 401);
  }
  SUBCASE("400 names the field") {
    auto not_json = daemon.curl("POST", "/v1/sessions", "{not json");
    CHECK(not_json.status == 400);
    CHECK(not_json.json()["error"] == "the body is not valid JSON");
    auto unknown = daemon.curl("POST", "/v1/sessions", R"({"scenario":"sudoers-broken","candidate":"A","pasword":true})");
    CHECK(unknown.status == 400);
    CHECK(unknown.json()["field"] == "pasword");
    auto missing = daemon.curl("POST", "/v1/sessions", R"({"scenario":"sudoers-broken","password":true})");
    CHECK(missing.status == 400);
    CHECK(missing.json()["field"] == "candidate");
    auto duration = daemon.curl("POST", "/v1/sessions", R"({"scenario":"sudoers-broken","candidate":"A","password":true,"duration":"ninety"})");
    CHECK(duration.status == 400);
    CHECK(duration.json()["field"] == "duration");
    auto too_long = daemon.curl("POST", "/v1/sessions", R"({"scenario":"sudoers-broken","candidate":"A","password":true,"duration":"3h"})");
    CHECK(too_long.status == 400);
    CHECK(too_long.json()["error"].get<std::string>().find("max_duration") != std::string::npos);
    auto bad_key = daemon.curl("POST", "/v1/sessions", R"({"scenario":"sudoers-broken","candidate":"A","public_keys":["ssh-dss AAAAB3NzaC1kc3M= old"]})");
    CHECK(bad_key.status == 400);
    CHECK(bad_key.json()["field"] == "public_keys[0]");
    auto no_access = daemon.curl("POST", "/v1/sessions", R"({"scenario":"sudoers-broken","candidate":"A"})");
    CHECK(no_access.status == 400);
    CHECK(no_access.json()["field"] == "public_keys");
    auto seed = daemon.curl("POST", "/v1/sessions", R"({"scenario":"sudoers-broken","candidate":"A","password":true,"seed":-1})");
    CHECK(seed.status == 400);
    CHECK(seed.json()["field"] == "seed");
  }
  SUBCASE("404, 405, 413, 415") {
    auto scenario = daemon.curl("POST", "/v1/sessions", R"({"scenario":"no-such","candidate":"A","password":true})");
    CHECK(scenario.status == 404);
    CHECK(scenario.json()["field"] == "scenario");
    CHECK(daemon.curl("GET", "/v1/sessions/nosuchsession").status == 404);
    CHECK(daemon.curl("POST", "/v1/sessions/nosuchsession/end").status == 404);
    CHECK(daemon.curl("GET", "/v2/anything").status == 404);
    CHECK(daemon.curl("PUT", "/v1/sessions").status == 405);
    CHECK(daemon.curl("GET", "/v1/sessions/abc/end").status == 405);
    const std::string huge = R"({"candidate":")" + std::string(300 * 1024, 'x') + R"("})";
    CHECK(daemon.curl("POST", "/v1/sessions", huge).status == 413);
    auto typed = daemon.curl("POST", "/v1/sessions", "scenario=x", false, {"Content-Type: text/plain"});
    CHECK(typed.status == 415);
  }
  SUBCASE("409: wrong state, and the session limit") {
    auto created = daemon.curl("POST", "/v1/sessions", R"({"scenario":"sudoers-broken","candidate":"A","password":true})");
    REQUIRE(created.status == 202);
    CHECK(created.headers.find("Location: /v1/sessions/") != std::string::npos);
    const std::string id = created.json()["id"];
    SessionGuard guard(id);
    CHECK(created.json()["state"] == "provisioning");
    CHECK(created.json()["password"].get<std::string>().size() == 19);
    // Over the limit of one live session.
    auto second = daemon.curl("POST", "/v1/sessions", R"({"scenario":"sudoers-broken","candidate":"B","password":true})");
    CHECK(second.status == 409);
    CHECK(second.json()["error"].get<std::string>().find("max_sessions") != std::string::npos);
    wait_for(daemon, id, {"ready"});
    CHECK(daemon.curl("GET", "/v1/sessions/" + id + "/report").status == 409);
    CHECK(daemon.curl("POST", "/v1/sessions/" + id + "/extend", R"({"by":"3h"})").json()["field"] == "by");
    CHECK(daemon.curl("POST", "/v1/sessions/" + id + "/end").status == 202);
    wait_for(daemon, id, {"graded", "removed"});
    CHECK(daemon.curl("POST", "/v1/sessions/" + id + "/end").status == 409);
    CHECK(daemon.curl("POST", "/v1/sessions/" + id + "/extend", R"({"by":"5m"})").status == 409);
    CHECK(daemon.curl("POST", "/v1/sessions/" + id + "/grade").status == 409);
    auto markdown = daemon.curl("GET", "/v1/sessions/" + id + "/report", "", false, {"Accept: text/markdown"});
    CHECK(markdown.status == 200);
    CHECK(markdown.headers.find("text/markdown") != std::string::npos);
    CHECK(markdown.body.find("# Deploys fail") == 0);
    // Through TCP as well.
    CHECK(daemon.tcp("GET", "/v1/sessions/" + id + "/report").json()["session"] == id);
    CHECK(daemon.curl("DELETE", "/v1/sessions/" + id).status == 200);
    CHECK(daemon.curl("GET", "/v1/sessions/" + id + "/recording").status == 404);
  }
  SUBCASE("metrics in the Prometheus text format") {
    auto metrics = daemon.curl("GET", "/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.headers.find("text/plain; version=0.0.4") != std::string::npos);
    for (const char* family : {"breakfix_sessions{state=\"ready\"}", "breakfix_session_launch_seconds_bucket",
                               "breakfix_grading_seconds_count", "breakfix_ssh_connections_total",
                               "breakfix_ssh_auth_failures_total", "breakfix_runtime_errors_total",
                               "breakfix_api_requests_total"}) {
      CAPTURE(family);
      CHECK(metrics.body.find(family) != std::string::npos);
    }
  }
  CHECK(daemon.stop() == 0);
}

TEST_CASE("daemon: 503 while the runtime is down") {
  TestDaemon daemon("", "/nonexistent/docker.sock");
  auto health = daemon.curl("GET", "/healthz");
  CHECK(health.status == 503);
  CHECK(health.json()["status"] == "degraded");
  auto created = daemon.curl("POST", "/v1/sessions", R"({"scenario":"sudoers-broken","candidate":"A","password":true})");
  CHECK(created.status == 503);
  CHECK(created.json()["error"].get<std::string>().find("/nonexistent/docker.sock") != std::string::npos);
  CHECK(daemon.stop() == 0);
}

TEST_CASE("daemon: a bad config file is reported line by line and the daemon does not start") {
  TempDir dir;
  const auto config = dir.write("config.yaml",
                                "listen:\n"
                                "  api_socket: " + (dir.path() / "api.sock").string() + "\n"
                                "  api_tcp: 127.0.0.1:99999\n"
                                "sessions:\n"
                                "  max_sesions: 3\n"
                                "  retention: soon\n");
  auto result = run_command({BREAKFIX_BINARY, "serve", "--config", config.string()});
  CHECK(result.exit_code == 1);
  CHECK(result.err.find(config.string() + ":3:") != std::string::npos);
  CHECK(result.err.find(config.string() + ":5:") != std::string::npos);
  CHECK(result.err.find("max_sessions") != std::string::npos);  // did you mean
  CHECK(result.err.find(config.string() + ":6:") != std::string::npos);
  CHECK(result.err.find("the daemon does not start") != std::string::npos);
  CHECK(!std::filesystem::exists(dir.path() / "api.sock"));
}

TEST_CASE("daemon: SIGTERM leaves sessions running and the next start adopts them") {
  TestDaemon daemon;
  auto started = daemon.cli({"session", "start", "sudoers-broken", "--candidate", "Grace"});
  REQUIRE_MESSAGE(started.exit_code == 0, started.err);
  const std::string id = session_id_from(started.out);
  SessionGuard guard(id);
  CHECK(daemon.stop(SIGTERM) == 0);
  CHECK(daemon.log_text().find("SIGTERM: stopping") != std::string::npos);
  // The lab outlived the daemon.
  CHECK(run_command({"docker", "inspect", "breakfix-" + id + "-main"}).exit_code == 0);
  daemon.start();
  json session = wait_for(daemon, id, {"ready"});
  CHECK(session["time_left_s"].get<int>() > 0);
  CHECK(daemon.log_text().find("resumed 1 sessions") != std::string::npos);
  CHECK(daemon.curl("POST", "/v1/sessions/" + id + "/end").status == 202);
  wait_for(daemon, id, {"graded", "removed"});
  CHECK(daemon.stop(SIGINT) == 0);
}

TEST_CASE("daemon: SIGHUP reloads scenarios and keeps the old version of one that no longer lints") {
  TempDir library;
  const std::string original = [] {
    std::ifstream in(std::string(BREAKFIX_SOURCE_DIR) + "/scenarios/sudoers-broken/scenario.yaml");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }();
  const auto file = library.write("sudoers-broken/scenario.yaml", original);
  {
    // The library's shared helpers, which the scenario names under lib:.
    std::ifstream helpers(std::string(BREAKFIX_SOURCE_DIR) + "/scenarios/lib/lab.sh");
    std::stringstream text;
    text << helpers.rdbuf();
    library.write("lib/lab.sh", text.str());
  }
  TestDaemon daemon("", "/var/run/docker.sock", library.path().string());
  auto titles = [&] {
    std::string all;
    const json listed = daemon.curl("GET", "/v1/scenarios").json();
    for (const json& scenario : listed["scenarios"]) all += scenario["id"].get<std::string>() + ";";
    return all;
  };
  CHECK(titles() == "sudoers-broken;");

  // A typo saved in an editor: the scenario stays, in its last good version.
  library.write("sudoers-broken/scenario.yaml", original + "\nnot_a_key: 1\n");
  // A new scenario appears.
  std::string copy = std::regex_replace(original, std::regex("id: sudoers-broken"), "id: sudoers-copy");
  library.write("sudoers-copy/scenario.yaml", copy);
  daemon.signal(SIGHUP);
  std::string now;
  for (int i = 0; i < 50 && (now = titles()) != "sudoers-broken;sudoers-copy;"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(now == "sudoers-broken;sudoers-copy;");
  CHECK(daemon.log_text().find("keeping the version loaded before") != std::string::npos);
  CHECK(daemon.log_text().find(file.string()) != std::string::npos);
  CHECK(daemon.stop() == 0);
}
