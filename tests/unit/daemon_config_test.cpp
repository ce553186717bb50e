#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "daemon/daemon_config.h"
#include "temp_dir.h"

using namespace breakfix;
using std::chrono::seconds;
namespace fs = std::filesystem;

namespace {

constexpr const char* kConfigFile = "/etc/breakfix/config.yaml";

constexpr const char* kAliceKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIUczUhPg8rIDi8uiZxgomK6jVeUfbEBewqVbPFiJm5h alice@laptop";
constexpr const char* kBobEcdsaKey =
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBIOILWCcydEhLTD2FcHn7FaPOr2xTme0MlPDM3YR"
    "74+7DZ7fQgvyThMOMPIrWfMHGb/TRBqtt7Hhp/ekY2mfm8M= bob@desk";
constexpr const char* kBobEd25519Key =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEhz2fFrvwH4DmgIjz2iHBNl/2oT8I7EpRZb9qpC17F/ bob@laptop";

constexpr const char* kAliceToken = "alice-0123456789abcdef0123456789";
constexpr const char* kBobToken = "bob-0123456789abcdef0123456789ab";

DaemonConfigResult parse(const std::string& text) { return parse_daemon_config(text, kConfigFile); }

// Every diagnostic, one a line: CAPTURE shows it when a check fails.
std::string messages(const DaemonConfigResult& result) {
  std::string out;
  for (const Diagnostic& diagnostic : result.diagnostics) out += format_diagnostic(diagnostic) + "\n";
  return out;
}

// The only diagnostic of `text`, formatted.
std::string only_error(const std::string& text) {
  DaemonConfigResult result = parse(text);
  CAPTURE(text);
  CAPTURE(messages(result));
  REQUIRE(result.diagnostics.size() == 1);
  CHECK(result.diagnostics[0].severity == Severity::Error);
  return format_diagnostic(result.diagnostics[0]);
}

void check_defaults(const DaemonConfig& config) {
  CHECK(config.api_socket == "/run/breakfix/api.sock");
  CHECK(config.api_socket_mode == 0660);
  CHECK(config.api_socket_group.empty());
  CHECK(config.api_tcp.empty());
  CHECK(config.ssh_listen == "0.0.0.0:2222");
  CHECK(config.ssh_public_host.empty());
  CHECK(config.ssh_public_port == 0);
  CHECK(config.data_dir == "/var/lib/breakfix");
  CHECK(config.scenario_dirs == std::vector<fs::path>{"/usr/share/breakfix/scenarios"});
  CHECK(config.docker_socket == "/var/run/docker.sock");
  CHECK(config.runtime_timeout == seconds(300));
  CHECK_FALSE(config.default_duration.has_value());
  CHECK(config.max_duration == seconds(4 * 3600));
  CHECK(config.max_sessions == 50);
  CHECK(config.retention == seconds(3600));
  CHECK(config.progress_interval == seconds(120));
  CHECK_FALSE(config.allow_outside_network);
  CHECK(config.provision_workers == 8);
  CHECK(config.max_disk_mib == 4096);
  CHECK(config.log_format == "text");
  CHECK(config.log_level == "info");
  CHECK(config.interviewers.empty());
}

}  // namespace

TEST_CASE("daemon config: an empty file gives every default") {
  for (const std::string text : {"", "\n", "# nothing set yet\n\n", "---\n", "--- # comment\n...\n", "{}\n"}) {
    CAPTURE(text);
    DaemonConfigResult result = parse(text);
    CAPTURE(messages(result));
    CHECK(result.diagnostics.empty());
    CHECK(result.file_found);
    check_defaults(result.config);
  }
}

TEST_CASE("daemon config: a full file sets every field") {
  // Given a file naming every key, with relative paths and a token file beside it,
  // every field should come back as written and every relative path under the file's dir.
  testing::TempDir dir;
  const fs::path token_file = dir.write("etc/tokens/bob.token", std::string(kBobToken) + "\n\n  \t\n");
  ::chmod(token_file.c_str(), 0600);
  const std::string text = std::string(R"(# breakfix daemon
listen:
  api_socket: run/api.sock
  api_socket_mode: 0640
  api_socket_group: interviewers
  api_tcp: "[::1]:8470"
  api_max_connections: 5
  api_request_timeout: 7s
  ssh: 127.0.0.1:2200
  ssh_public_host: labs.example.com
  ssh_public_port: 22
data_dir: ./data/../state
scenario_dirs:
  - scenarios
  - /usr/share/breakfix/scenarios
runtime:
  backend: lxd
  docker_socket: unix:///run/podman/podman.sock
  lxd_socket: /run/lxd/unix.socket
  lxd_pool: labs
  timeout: 2m30s
sessions:
  default_duration: 1h
  max_duration: 3h
  max_sessions: 12
  retention: 0s
  progress_interval: 0s
  allow_outside_network: true
  provision_workers: 3
  max_disk_mib: 0
  disk_check_interval: 5s
  warm: {web-502: 2, full-disk: 1}
log:
  format: json
  level: debug
interviewers:
  - name: alice
    token: ")") + kAliceToken + R"("
    ssh_keys:
      - )" + kAliceKey + R"(
  - name: bob.smith
    token_file: tokens/bob.token
    ssh_keys: [")" + kBobEcdsaKey + R"(", ")" + kBobEd25519Key + R"("]
  - name: carol
)";
  const fs::path file = dir.write("etc/config.yaml", text);
  DaemonConfigResult result = load_daemon_config(file, false);
  CAPTURE(messages(result));
  CHECK(result.diagnostics.empty());
  CHECK(result.file_found);
  const DaemonConfig& config = result.config;
  const fs::path etc = dir.path() / "etc";
  CHECK(config.api_socket == etc / "run/api.sock");
  CHECK(config.api_socket_mode == 0640);
  CHECK(config.api_socket_group == "interviewers");
  CHECK(config.api_tcp == "[::1]:8470");
  CHECK(config.api_max_connections == 5);
  CHECK(config.api_request_timeout == seconds(7));
  CHECK(config.ssh_listen == "127.0.0.1:2200");
  CHECK(config.ssh_public_host == "labs.example.com");
  CHECK(config.ssh_public_port == 22);
  CHECK(config.data_dir == etc / "state");
  CHECK(config.scenario_dirs == std::vector<fs::path>{etc / "scenarios", "/usr/share/breakfix/scenarios"});
  CHECK(config.docker_socket == "/run/podman/podman.sock");
  CHECK(config.backend == Backend::Lxd);
  CHECK(config.lxd_socket == "/run/lxd/unix.socket");
  CHECK(config.lxd_pool == "labs");
  CHECK(config.runtime_timeout == seconds(150));
  CHECK(config.default_duration == seconds(3600));
  CHECK(config.max_duration == seconds(3 * 3600));
  CHECK(config.max_sessions == 12);
  CHECK(config.retention == seconds(0));
  CHECK(config.progress_interval == seconds(0));
  CHECK(config.allow_outside_network);
  CHECK(config.provision_workers == 3);
  CHECK(config.warm == std::map<std::string, int>{{"web-502", 2}, {"full-disk", 1}});
  CHECK(config.log_format == "json");
  CHECK(config.log_level == "debug");
  REQUIRE(config.interviewers.size() == 3);
  CHECK(config.interviewers[0].name == "alice");
  CHECK(config.interviewers[0].token == kAliceToken);
  CHECK(config.interviewers[0].ssh_keys == std::vector<std::string>{kAliceKey});
  CHECK(config.interviewers[1].name == "bob.smith");
  CHECK(config.interviewers[1].token == kBobToken);  // trailing blank lines trimmed
  CHECK(config.interviewers[1].ssh_keys == std::vector<std::string>{kBobEcdsaKey, kBobEd25519Key});
  CHECK(config.interviewers[2].name == "carol");
  CHECK(config.interviewers[2].token.empty());
  CHECK(config.interviewers[2].ssh_keys.empty());
}

TEST_CASE("daemon config: each wrong value is reported at its line with its field") {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::string f = kConfigFile;
  const std::vector<Case> cases = {
      {"listen:\n  api_socket_mode: \"0990\"\n",
       f + ":2:20: listen.api_socket_mode: '0990' is not a file mode (3 or 4 octal digits, e.g. \"0660\")"},
      {"listen:\n  api_socket_mode: 06600\n",
       f + ":2:20: listen.api_socket_mode: '06600' is not a file mode (3 or 4 octal digits, e.g. \"0660\")"},
      {"listen:\n  api_tcp: localhost\n",
       f + ":2:12: listen.api_tcp: 'localhost' is not host:port (e.g. 127.0.0.1:8470, [::1]:8470 or 0.0.0.0:2222)"},
      {"listen:\n  api_tcp: 127.0.0.1:0\n", f + ":2:12: listen.api_tcp: port must be between 1 and 65535 (got 0)"},
      {"listen:\n  ssh: 0.0.0.0:65536\n", f + ":2:8: listen.ssh: port must be between 1 and 65535 (got 65536)"},
      {"listen:\n  ssh: 0.0.0.0:ssh\n",
       f + ":2:8: listen.ssh: 'ssh' is not a port number (e.g. 127.0.0.1:8470, [::1]:8470 or 0.0.0.0:2222)"},
      {"listen:\n  ssh: ::1:2222\n", f + ":2:8: listen.ssh: write an IPv6 address in brackets: [::1]:2222"},
      {"listen:\n  ssh: :2222\n",
       f + ":2:8: listen.ssh: ':2222' names no host; write 0.0.0.0:2222 for every interface"},
      {"listen:\n  ssh: \"[zz]:2222\"\n",
       f + ":2:8: listen.ssh: '[zz]' is not an IPv6 address in brackets such as [::1]"},
      {"listen:\n  ssh_public_port: 70000\n",
       f + ":2:20: listen.ssh_public_port: must be between 0 and 65535 (got 70000)"},
      {"listen:\n  ssh_public_host: labs example\n",
       f + ":2:20: listen.ssh_public_host: 'labs example' is not a host name or address"},
      {"listen:\n  api_socket: \"\"\n",
       f + ":2:15: listen.api_socket: the API would be off entirely: keep the socket or set listen.api_tcp"},
      {"data_dir: \"\"\n", f + ":1:11: data_dir: must not be empty (expected a string)"},
      {"data_dir: ~/breakfix\n", f + ":1:11: data_dir: '~' is not expanded here; write the full path"},
      {"scenario_dirs: []\n", f + ":1:16: scenario_dirs: must list at least one directory"},
      {"scenario_dirs: /srv/scenarios\n", f + ":1:16: scenario_dirs: expected a list, got '/srv/scenarios'"},
      {"scenario_dirs: [a, ./a]\n", f + ":1:20: scenario_dirs[1]: '/etc/breakfix/a' is listed twice"},
      {"runtime:\n  docker_socket: tcp://10.0.0.1:2375\n",
       f + ":2:18: runtime.docker_socket: 'tcp://10.0.0.1:2375': breakfix reaches the engine over its unix socket only "
           "(e.g. /var/run/docker.sock)"},
      {"runtime:\n  docker_socket: docker.sock\n",
       f + ":2:18: runtime.docker_socket: must be an absolute path (got 'docker.sock')"},
      {"runtime:\n  timeout: 0s\n", f + ":2:12: runtime.timeout: must be longer than 0s"},
      {"runtime:\n  backend: podman\n", f + ":2:12: runtime.backend: 'podman' is not a backend: docker or lxd"},
      {"runtime:\n  lxd_socket: lxd.sock\n", f + ":2:15: runtime.lxd_socket: must be an absolute path (got 'lxd.sock')"},
      {"runtime:\n  lxd_pool: a/b\n",
       f + ":2:13: runtime.lxd_pool: must be the name of an LXD storage pool (got 'a/b')"},
      {"runtime:\n  timeout: 300\n",
       f + ":2:12: runtime.timeout: '300' is not a duration; add a unit: 300s, 300m or 300h"},
      {"sessions:\n  max_sessions: 0\n", f + ":2:17: sessions.max_sessions: must be between 1 and 1000 (got 0)"},
      {"sessions:\n  max_sessions: many\n", f + ":2:17: sessions.max_sessions: expected a whole number, got 'many'"},
      {"sessions:\n  provision_workers: 65\n",
       f + ":2:22: sessions.provision_workers: must be between 1 and 64 (got 65)"},
      {"sessions:\n  default_duration: 5h\n",
       f + ":2:21: sessions.default_duration: 5h is above sessions.max_duration (4h)"},
      {"sessions:\n  max_duration: 1h\n  default_duration: 90m\n",
       f + ":3:21: sessions.default_duration: 1h30m is above sessions.max_duration (1h)"},
      {"sessions:\n  warm: {web-502: many}\n", f + ":2:19: sessions.warm.web-502: expected a whole number, got 'many'"},
      {"sessions:\n  warm: [web-502]\n", f + ":2:9: sessions.warm: expected a mapping of keys to values, got a list"},
      {"sessions:\n  max_sessions: 3\n  warm: {a: 2, b: 2}\n",
       f + ":3:9: sessions.warm: keeps 4 labs warm, more than sessions.max_sessions (3): no room would be left for a start"},
      {"sessions:\n  allow_outside_network: yes\n",
       f + ":2:26: sessions.allow_outside_network: expected true or false, got 'yes'"},
      {"log:\n  level: verbose\n",
       f + ":2:10: log.level: 'verbose' is not one of: trace, debug, info, warn, error"},
      {"log:\n  format: xml\n", f + ":2:11: log.format: 'xml' is not one of: text, json"},
      {"interviewers:\n  - token: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
       f + ":2:5: interviewers[0]: missing required key 'name'"},
      {"interviewers:\n  - name: Alice\n",
       f + ":2:11: interviewers[0].name: 'Alice' is not a valid name (up to 64 of a-z, 0-9, '_', '.' and '-')"},
      {"interviewers:\n  - name: alice\n  - name: alice\n",
       f + ":3:11: interviewers[1].name: duplicate interviewer 'alice' (first at line 2)"},
      {"interviewers:\n  - name: alice\n    token: short\n",
       f + ":3:12: interviewers[0].token: the token is 5 characters long; it must be at least 24 (e.g. from 'openssl "
           "rand -hex 24')"},
      {"interviewers:\n  - name: alice\n    token: \"aaaaaaaaaaaa bbbbbbbbbbbbbbbb\"\n",
       f + ":3:12: interviewers[0].token: the token must be printable ASCII without spaces"},
      {"interviewers:\n  - name: alice\n    token: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\n    token_file: /dev/null\n",
       f + ":4:5: interviewers[0]: give either 'token' or 'token_file', not both"},
      {"interviewers:\n  - name: alice\n    token_file: /nonexistent/alice.token\n",
       f + ":3:17: interviewers[0].token_file: cannot read /nonexistent/alice.token: No such file or directory"},
      {"interviewers:\n  - name: alice\n    token_file: /\n",
       f + ":3:17: interviewers[0].token_file: cannot read /: Is a directory"},
      {"interviewers:\n  - name: alice\n    token_file: /dev/null\n",
       f + ":3:17: interviewers[0].token_file: cannot read /dev/null: not a regular file"},
      {"listen:\n  api_tcp: 127.0.0.1:8470\ninterviewers:\n  - name: alice\n",
       f + ":2:12: listen.api_tcp: the TCP API needs bearer tokens: give an interviewer a token"},
  };
  for (const Case& c : cases) CHECK(only_error(c.text) == c.error);
}

TEST_CASE("daemon config: ssh_keys lines are checked by the gateway's own rule for keys") {
  const std::string f = kConfigFile;
  auto key_error = [&](const std::string& line) {
    return only_error("interviewers:\n  - name: alice\n    ssh_keys:\n      - \"" + line + "\"\n");
  };
  const std::string where = f + ":4:9: interviewers[0].ssh_keys[0]: ";
  CHECK(key_error("ssh-dss AAAAB3NzaC1kc3MAAACBAP") ==
        where + "key type 'ssh-dss' is not accepted (ed25519, ecdsa or rsa of 2048 bits or more)");
  CHECK(key_error("ssh-ed25519") == where + "has no key data after 'ssh-ed25519'");
  CHECK(key_error("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIUczUhPg8rIDi8uiZxgomK6jVeUfbEBewqVbPFiJm5") ==
        where + "the ssh-ed25519 key data does not decode; is the key complete?");
  CHECK(key_error("ssh-ed25519 not*base64") == where + "the ssh-ed25519 key data does not decode; is the key complete?");
  // Well-formed base64 of an ed25519 key, announced as another type.
  CHECK(key_error("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIIUczUhPg8rIDi8uiZxgomK6jVeUfbEBewqVbPFiJm5h") ==
        where + "the ssh-rsa key data does not decode; is the key complete?");
  // The config takes exactly the keys the gateway lets in (validate_public_key): it once
  // took security-key (sk-) and short RSA keys that could then never log in.
  CHECK(key_error("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIA==") ==
        where + "key type 'sk-ssh-ed25519@openssh.com' is not accepted (ed25519, ecdsa or rsa of 2048 bits or more)");
  CHECK(key_error("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDLW/vtHaslRjULrM/xN59jctbzRc9JdKlqcYcz9dfLqbLQCbSV3+WaKzb2iuvjkoHoeKX6"
                  "ScEqXEpIMsDJyBIlRzScBd1OsU6cKB2j6vvs/BgfUtjudOydD5rzfuiOs4JmzWrKch+zRC5dwm0llEpqb/4DBii/7x/udokDNHnasw== short") ==
        where + "rsa keys need 2048 bits or more (this one has 1024)");
  CHECK(key_error("-----BEGIN OPENSSH PRIVATE KEY-----") ==
        where + "is a private key; give the public key (the .pub file)");
  CHECK(only_error("interviewers:\n  - name: alice\n    ssh_keys: [\"" + std::string(kAliceKey) +
                   "\"]\n  - name: bob\n    ssh_keys: [\"" + kAliceKey + " copy\"]\n") ==
        f + ":5:16: interviewers[1].ssh_keys[0]: the same key as interviewer 'alice'");

  // A key without its comment is fine.
  DaemonConfigResult result = parse(std::string("interviewers:\n  - name: a\n    ssh_keys:\n      - ") +
                                    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIUczUhPg8rIDi8uiZxgomK6jVeUfbEBewqVbPFiJm5h\n");
  CAPTURE(messages(result));
  CHECK(result.diagnostics.empty());
}

TEST_CASE("daemon config: listen addresses and socket modes in the forms people write") {
  for (const std::string address : {"127.0.0.1:8470", "0.0.0.0:1", "localhost:65535", "\"[::1]:8470\"", "'[::]:22'"}) {
    CAPTURE(address);
    DaemonConfigResult result = parse("listen:\n  ssh: " + address + "\n");
    CAPTURE(messages(result));
    CHECK(result.diagnostics.empty());
  }
  for (const auto& [written, mode] : std::vector<std::pair<std::string, std::uint32_t>>{
           {"0660", 0660}, {"\"0660\"", 0660}, {"'0600'", 0600}, {"660", 0660}, {"2770", 02770}}) {
    const std::string value = written;  // a binding: clang 14 cannot capture it
    CAPTURE(value);
    DaemonConfigResult result = parse("listen:\n  api_socket_mode: " + written + "\n");
    CAPTURE(messages(result));
    CHECK(result.diagnostics.empty());
    CHECK(result.config.api_socket_mode == mode);
  }
  // A socket everyone may write to works, with a warning.
  DaemonConfigResult open = parse("listen:\n  api_socket_mode: \"0666\"\n");
  REQUIRE(open.diagnostics.size() == 1);
  CHECK(open.diagnostics[0].severity == Severity::Warning);
  CHECK(format_diagnostic(open.diagnostics[0]) ==
        std::string(kConfigFile) +
            ":2:20: warning: listen.api_socket_mode: 0666 lets every local user drive sessions; prefer 0660 and a group");
  CHECK(open.config.api_socket_mode == 0666);
  // "" and nothing turn things off; the TCP API alone is enough.
  DaemonConfigResult off = parse("listen:\n  api_socket: \"\"\n  api_tcp: 127.0.0.1:8470\n  api_socket_group:\n"
                                 "  ssh_public_host: ''\ninterviewers:\n  - {name: a, token: " +
                                 std::string(kAliceToken) + "}\n");
  CAPTURE(messages(off));
  CHECK(off.diagnostics.empty());
  CHECK(off.config.api_socket.empty());
  CHECK(off.config.api_tcp == "127.0.0.1:8470");
}

TEST_CASE("daemon config: every error of a file is reported at once, in file order") {
  // Given a file with errors in several sections, cross-section ones included, every
  // one should be reported, sorted by line, not in the order the parser met them.
  DaemonConfigResult result = parse(R"(listen:
  api_tcp: 127.0.0.1:8470
  ssh: nowhere
sessions:
  default_duration: 5h
  max_sessions: 0
log:
  level: loud
interviewers:
  - name: alice
    token: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
  - name: bob
    token: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
)");
  const std::string f = kConfigFile;
  CHECK(messages(result) ==
        f + ":3:8: listen.ssh: 'nowhere' is not host:port (e.g. 127.0.0.1:8470, [::1]:8470 or 0.0.0.0:2222)\n" +
            f + ":5:21: sessions.default_duration: 5h is above sessions.max_duration (4h)\n" +
            f + ":6:17: sessions.max_sessions: must be between 1 and 1000 (got 0)\n" +
            f + ":8:10: log.level: 'loud' is not one of: trace, debug, info, warn, error\n" +
            f + ":13:12: interviewers[1].token: the token is also the token of interviewer 'alice'; each needs their "
                "own\n");
  CHECK(result.file_found);
}

TEST_CASE("daemon config: an unknown key is an error that suggests the nearest known one") {
  const std::string f = kConfigFile;
  CHECK(only_error("sesions:\n  max_sessions: 3\n") == f + ":1:1: unknown key 'sesions' (did you mean 'sessions'?)");
  CHECK(only_error("listen:\n  api_sockt: /run/x.sock\n") ==
        f + ":2:3: listen: unknown key 'api_sockt' (did you mean 'api_socket'?)");
  CHECK(only_error("interviewers:\n  - name: a\n    ssh_key: []\n") ==
        f + ":3:5: interviewers[0]: unknown key 'ssh_key' (did you mean 'ssh_keys'?)");
  CHECK(only_error("colour: blue\n") == f + ":1:1: unknown key 'colour'");
  CHECK(only_error("log:\n  level: info\nlog:\n  level: debug\n") == f + ":3:1: duplicate key 'log' (first at line 1)");
  CHECK(only_error("listen: 8470\n") == f + ":1:9: listen: expected a mapping of keys to values, got '8470'");
}

TEST_CASE("daemon config: token_file is resolved against the file's directory, read and trimmed") {
  testing::TempDir dir;
  const fs::path token = dir.write("conf/secrets/alice.token", std::string(kAliceToken) + " \r\n\t\n");
  ::chmod(token.c_str(), 0640);
  const fs::path file =
      dir.write("conf/breakfix.yaml", "interviewers:\n  - name: alice\n    token_file: secrets/alice.token\n");

  DaemonConfigResult result = load_daemon_config(file, true);
  CAPTURE(messages(result));
  CHECK(result.diagnostics.empty());
  REQUIRE(result.config.interviewers.size() == 1);
  CHECK(result.config.interviewers[0].token == kAliceToken);

  SUBCASE("a token file other users can read gives a warning") {
    ::chmod(token.c_str(), 0644);
    DaemonConfigResult warned = load_daemon_config(file, true);
    REQUIRE(warned.diagnostics.size() == 1);
    CHECK(format_diagnostic(warned.diagnostics[0]) ==
          file.string() + ":3:17: warning: interviewers[0].token_file: " + token.string() +
              " is open to every local user (mode 0644); chmod o-rwx it");
    CHECK(warned.config.interviewers[0].token == kAliceToken);
  }
  SUBCASE("a short or empty token file is an error naming the file") {
    dir.write("conf/secrets/alice.token", "abc\n");
    CHECK(messages(load_daemon_config(file, true)) ==
          file.string() + ":3:17: interviewers[0].token_file: the token in " + token.string() +
              " is 3 characters long; it must be at least 24 (e.g. from 'openssl rand -hex 24')\n");
    dir.write("conf/secrets/alice.token", " \n");
    CHECK(messages(load_daemon_config(file, true)) ==
          file.string() + ":3:17: interviewers[0].token_file: " + token.string() + " is empty\n");
  }
  SUBCASE("a token file that is missing is an error naming the file") {
    fs::remove(token);
    CHECK(messages(load_daemon_config(file, true)) ==
          file.string() + ":3:17: interviewers[0].token_file: cannot read " + token.string() +
              ": No such file or directory\n");
  }
  SUBCASE("the same token in a file and inline is a duplicate") {
    dir.write("conf/breakfix.yaml", "interviewers:\n  - name: alice\n    token_file: secrets/alice.token\n"
                                    "  - name: bob\n    token: " + std::string(kAliceToken) + "\n");
    CHECK(messages(load_daemon_config(file, true)) ==
          file.string() + ":5:12: interviewers[1].token: the token is also the token of interviewer 'alice'; each "
                          "needs their own\n");
  }
}

TEST_CASE("daemon config: a missing file gives the defaults, and an error unless missing_ok") {
  testing::TempDir dir;
  const fs::path file = dir.path() / "config.yaml";

  DaemonConfigResult quiet = load_daemon_config(file, true);
  CHECK(quiet.diagnostics.empty());
  CHECK_FALSE(quiet.file_found);
  check_defaults(quiet.config);

  DaemonConfigResult loud = load_daemon_config(file, false);
  CHECK_FALSE(loud.file_found);
  check_defaults(loud.config);
  CHECK(messages(loud) == file.string() + ":1:1: cannot read: No such file or directory\n");
}

TEST_CASE("daemon config: a file that exists but cannot be read is an error even when missing_ok") {
  testing::TempDir dir;
  DaemonConfigResult directory = load_daemon_config(dir.path(), true);
  CHECK(directory.file_found);
  CHECK(messages(directory) == dir.path().string() + ":1:1: cannot read: Is a directory\n");

  if (::geteuid() != 0) {  // root reads whatever the mode says
    const fs::path file = dir.write("config.yaml", "log:\n  level: debug\n");
    ::chmod(file.c_str(), 0);
    DaemonConfigResult denied = load_daemon_config(file, true);
    CHECK(denied.file_found);
    CHECK(messages(denied) == file.string() + ":1:1: cannot read: Permission denied\n");
  }
}

TEST_CASE("daemon config: a file with more than one document is an error") {
  CHECK(only_error("log:\n  level: debug\n---\nlog:\n  level: info\n") ==
        std::string(kConfigFile) + ":1:1: a configuration file holds one YAML document; found more ('---')");
}

TEST_CASE("daemon config: YAML syntax errors are reported where yaml-cpp found them") {
  CHECK(only_error("listen:\n  ssh: [0.0.0.0:2222\n") ==
        std::string(kConfigFile) + ":3:1: YAML syntax error: end of sequence flow not found");
  DaemonConfigResult result = parse(std::string("\0\xff{", 3));
  CHECK(has_errors(result.diagnostics));
}

TEST_CASE("daemon config: regression: a stray comma does not hang the loader (yaml-cpp issue 1040)") {
  // Given input on which yaml-cpp 0.7's LoadAll allocates empty documents forever,
  // the loader should return at once with an error.
  for (const std::string input : {",", ",\n", "\n# comment\n,\nlog: {}\n", "listen: {ssh: ,}\n,", "---\n,\n"}) {
    CAPTURE(input);
    DaemonConfigResult result = parse(input);
    CAPTURE(messages(result));
    CHECK(has_errors(result.diagnostics));
  }
  CHECK(only_error("\n# comment\n,\nlog: {}\n") ==
        std::string(kConfigFile) + ":3:1: YAML syntax error: no value could be read here");
}

TEST_CASE("daemon config: the gateway's limits") {
  auto result = parse("gateway:\n  max_connections: 10\n  max_connections_per_session: 2\n  login_grace: 5s\n"
                      "  free_failures: 0\n  max_failures: 4\n  failure_window: 1m\n  failure_delay: 0s\n"
                      "  max_unauthenticated_per_address: 3\n  key_exchange_timeout: 4s\n  max_password_checks: 2\n"
                      "  max_recording_mib: 64\n  max_recording_files: 10\n");
  CAPTURE(messages(result));
  REQUIRE(result.diagnostics.empty());
  CHECK(result.config.ssh_max_connections == 10);
  CHECK(result.config.ssh_max_connections_per_session == 2);
  CHECK(result.config.ssh_login_grace == seconds(5));
  CHECK(result.config.ssh_free_failures == 0);
  CHECK(result.config.ssh_max_failures == 4);
  CHECK(result.config.ssh_failure_window == seconds(60));
  CHECK(result.config.ssh_failure_delay == seconds(0));
  CHECK(result.config.ssh_max_unauthenticated_per_address == 3);
  CHECK(result.config.ssh_key_exchange_timeout == seconds(4));
  CHECK(result.config.ssh_max_password_checks == 2);
  CHECK(result.config.ssh_max_recording_mib == 64);
  CHECK(result.config.ssh_max_recording_files == 10);
  auto bad = parse("gateway:\n  max_failure: 4\n  login_grace: 0s\n");
  CHECK(messages(bad).find("/etc/breakfix/config.yaml:2:3: gateway: unknown key 'max_failure' (did you mean 'max_failures'?)") !=
        std::string::npos);
  CHECK(messages(bad).find("/etc/breakfix/config.yaml:3:16: gateway.login_grace:") != std::string::npos);
}
