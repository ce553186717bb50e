// Tamper evidence end to end: the real daemon on the real engine, and a candidate who
// logs in with the real OpenSSH client through the gateway, replaces su with a script and
// repairs the lab's config; beside them one who applies the reference solution only (by
// docker exec, as root in the lab). The report, the API and the CLI's list must tell the
// two apart.

#include <doctest/doctest.h>

#include "daemon_fixture.h"
#include "runtime_fixture.h"

using namespace breakfix::testing;
using nlohmann::json;

namespace {

constexpr const char* kLab = R"(apiVersion: breakfix/v1
id: tamper-lab
title: The shop listens on the wrong port
kind: break-fix
description: The shop's config names the wrong port.
image: breakfix/base:bookworm
setup: |
  mkdir -p /etc/shop
  printf 'name = shop\nport = 8080\nworkers = 4\n' > /etc/shop/shop.conf
faults: [{name: wrong port, run: "sed -i s/8080/9090/ /etc/shop/shop.conf"}]
checks: [{name: the port is 8080, run: "grep -qx 'port = 8080' /etc/shop/shop.conf"}]
solution: [{run: "sed -i s/9090/8080/ /etc/shop/shop.conf"}]
)";

struct TamperLab {
  TempDir files;
  TestDaemon daemon;
  TamperLab()
      : daemon("", "/var/run/docker.sock", [this] {
          files.write("scenarios/tamper-lab/scenario.yaml", kLab);
          return (files.path() / "scenarios").string();
        }()) {}

  // Starts a session the candidate logs in to with a key of their own; returns its id.
  std::string start(const std::string& candidate) {
    const std::string key = (files.path() / candidate).string();
    REQUIRE(run_command({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key}).exit_code == 0);
    auto started = daemon.cli({"session", "start", "tamper-lab", "--candidate", candidate, "--key", key + ".pub"});
    REQUIRE_MESSAGE(started.exit_code == 0, started.err << daemon.log_text());
    return session_id_from(started.out);
  }

  CommandResult ssh(const std::string& candidate, const std::string& id, const std::string& command) {
    return run_command({"ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
                        "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i",
                        (files.path() / candidate).string(), "-p", std::to_string(daemon.ssh_port()),
                        id + "@127.0.0.1", command});
  }

  // Ends the session and waits for its report: (JSON, Markdown). With no retention the
  // daemon then removes the hosts and the snapshot itself; waiting for that keeps its
  // removal from racing the test's own.
  std::pair<json, std::string> grade(const std::string& id) {
    auto ended = daemon.cli({"session", "end", id});
    REQUIRE_MESSAGE(ended.exit_code == 0, ended.err);
    wait_for(daemon, id, {"removed"});
    auto as_json = daemon.cli({"session", "report", id, "--format", "json"});
    auto as_markdown = daemon.cli({"session", "report", id, "--format", "md"});
    REQUIRE_MESSAGE(as_json.exit_code == 0, as_json.err);
    REQUIRE(as_markdown.exit_code == 0);
    return {json::parse(as_json.out), as_markdown.out};
  }
};

const json* find_path(const json& report, const std::string& path) {
  for (const json& change : report["changes"][0]["paths"]) {
    if (change["path"] == path) return &change;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("tamper: a candidate who replaces su over ssh is graded tampered, the changes show the repair's diff") {
  TamperLab lab;
  const std::string id = lab.start("mallory");
  SessionGuard guard(id);
  CHECK(show(lab.daemon, id)["tampered"].is_null());  // not known before grading

  // The candidate, through the gateway: the repair, and a su that lets anybody in.
  auto run = lab.ssh("mallory", id,
                     "sed -i s/9090/8080/ /etc/shop/shop.conf && printf '#!/bin/sh\\nexec /bin/bash\\n' > /bin/su && "
                     "chmod 4755 /bin/su");
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);

  const auto [report, markdown] = lab.grade(id);
  CHECK(report["score"] == 1.0);  // flagged, not scored
  CHECK(show(lab.daemon, id)["tampered"] == true);
  auto listed = lab.daemon.cli({"session", "list", "-a"});
  CHECK(listed.out.find("TAMPERED") != std::string::npos);
  CHECK(listed.out.find(" yes ") != std::string::npos);

  CHECK(report["tampering"]["tampered"] == true);
  REQUIRE(report["tampering"]["paths"].size() == 1);  // /bin is a symlink to usr/bin on Debian 12
  CHECK(report["tampering"]["paths"][0]["path"] == "/usr/bin/su");
  const json* su = find_path(report, "/usr/bin/su");
  REQUIRE(su);
  CHECK((*su)["tampering"] == true);
  CHECK((*su)["what"].get<std::string>().find("content") != std::string::npos);
  CHECK((*su)["what"].get<std::string>().find("mode 4755 -> 4755") == std::string::npos);
  const json* config = find_path(report, "/etc/shop/shop.conf");
  REQUIRE(config);
  CHECK((*config)["tampering"] == false);
  CHECK((*config)["diff"].get<std::string>().find("-port = 9090\n+port = 8080\n") != std::string::npos);

  CHECK(markdown.find("## Tampering") != std::string::npos);
  CHECK(markdown.find("- main: `/usr/bin/su` modified: content") != std::string::npos);
  CHECK(markdown.find("## Changes") != std::string::npos);
  CHECK(markdown.find("```diff\n--- /etc/shop/shop.conf (at ready)\n+++ /etc/shop/shop.conf (at the end)\n") !=
        std::string::npos);
}

TEST_CASE("tamper: the reference solution alone is graded not tampered, and only the repaired file changed") {
  TamperLab lab;
  const std::string id = lab.start("ada");
  SessionGuard guard(id);
  auto fixed = run_command({"docker", "exec", "-i", "breakfix-" + id + "-main", "bash", "-e"},
                           "sed -i s/9090/8080/ /etc/shop/shop.conf\n");
  REQUIRE_MESSAGE(fixed.exit_code == 0, fixed.err);
  const auto [report, markdown] = lab.grade(id);
  CHECK(report["score"] == 1.0);
  CHECK(report["tampering"]["tampered"] == false);
  CHECK(show(lab.daemon, id)["tampered"] == false);
  std::vector<std::string> paths;
  for (const json& change : report["changes"][0]["paths"]) {
    if (!change["noisy"].get<bool>()) paths.push_back(change["path"]);
  }
  CHECK(paths == std::vector<std::string>{"/etc/shop/shop.conf"});
  CHECK(markdown.find("- Tampered: no") != std::string::npos);
}
