// A Runtime backend against its real engine, Docker or LXD (BREAKFIX_BACKEND; CMake runs
// the suite once for each): lifecycle, exec in all its forms, limits, networks, pause,
// removal and garbage collection. Needs breakfix/base:bookworm on that engine (tests/run.sh
// builds it with `breakfix image base [--backend lxd]`). Every test runs on both.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "breakfix/scenario_loader.h"
#include "breakfix/toolbox.h"
#include "session/script_runner.h"
#include "runtime_fixture.h"
#include "process.h"
#include "test_scenarios.h"

using namespace breakfix;
using namespace breakfix::testing;
using namespace std::chrono_literals;

namespace {

Lab provision(const char* scenario_text, const std::string& session_id) {
  ScenarioLoad load = parse_scenario(scenario_text, "scenario.yaml", "/nonexistent");
  REQUIRE(load.scenario);
  auto lab = LabProvisioner(lab_runtime(), {}).provision(*load.scenario, session_id, nullptr);
  REQUIRE_MESSAGE(lab.ok(), lab.error().message);
  return *lab;
}

ExecSpec shell(const std::string& container, const std::string& command) {
  ExecSpec spec;
  spec.container = container;
  spec.command = {"/bin/bash", "-c", command};
  return spec;
}

// Runs `command` in `container` and returns its output; fails the test on an error.
Collected run(const std::string& container, const std::string& command, int expected_exit = 0) {
  Collected output;
  auto result = run_exec(lab_runtime(), shell(container, command), "", output.sink(), 60s);
  REQUIRE_MESSAGE(result.ok(), result.error().message);
  CAPTURE(command);
  CAPTURE(output.out);
  CAPTURE(output.err);
  CHECK(result->exit_code == expected_exit);
  return output;
}

class Sha256 {
 public:
  Sha256() : context_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(context_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(context_); }
  void add(std::string_view data) { EVP_DigestUpdate(context_, data.data(), data.size()); }
  std::string hex() {
    unsigned char digest[32];
    unsigned int size = 0;
    EVP_DigestFinal_ex(context_, digest, &size);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < size; ++i) out += {kHex[digest[i] >> 4], kHex[digest[i] & 15]};
    return out;
  }

 private:
  EVP_MD_CTX* context_;
};

// A scratch scenario directory whose built image is removed at the end.
class TempDirForBuild {
 public:
  TempDirForBuild() {
    std::string pattern = (std::filesystem::temp_directory_path() / "breakfix-build-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()));
    path_ = pattern;
  }
  ~TempDirForBuild() {
    if (!image.empty()) CHECK(lab_runtime().remove_image(image).ok());
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  void write(const std::string& relative, const std::string& text) {
    std::filesystem::create_directories((path_ / relative).parent_path());
    std::ofstream(path_ / relative) << text;
  }
  const std::filesystem::path& path() const { return path_; }
  std::string image;

 private:
  std::filesystem::path path_;
};

long max_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

}  // namespace

TEST_CASE("The engine answers, and a missing socket is an error that names it") {
  Status ping = lab_runtime().ping();
  CHECK_MESSAGE(ping.ok(), (ping.ok() ? "" : ping.error().message));
  RuntimeChoice missing_choice = test_backend();
  missing_choice.docker_socket = "/nonexistent/docker.sock";
  missing_choice.lxd_socket = "/nonexistent/lxd.sock";
  Status status = make_runtime(missing_choice)->ping();
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == ErrorCode::Unavailable);
  CHECK(status.error().message.find(testing_lxd() ? "/nonexistent/lxd.sock" : "/nonexistent/docker.sock") !=
        std::string::npos);
  CHECK(status.error().message.find(testing_lxd() ? "setup-lxd.sh" : "dockerd") != std::string::npos);
}

TEST_CASE("An exec without a TTY keeps stdout and stderr apart and returns the exit code") {
  SessionGuard session(unique_session_id("exec"));
  const Lab lab = provision(kOneHostScenario, session.id());
  const std::string& host = lab.entry().container_id;
  Collected output = run(host, "echo to-out; echo to-err >&2; exit 3", 3);
  CHECK(output.out == "to-out\n");
  CHECK(output.err == "to-err\n");
  run(host, "kill -9 $$", 137);
  CHECK(run(host, "hostname").out == "main\n");
  CHECK(run(host, "id -un").out == "root\n");
}

TEST_CASE("Variables reach the exec's environment and the script reaches it on stdin") {
  SessionGuard session(unique_session_id("stdin"));
  const Lab lab = provision(kOneHostScenario, session.id());
  ExecSpec spec;
  spec.container = lab.entry().container_id;
  spec.command = {"bash", "-e"};
  spec.env = {"PORT=9000"};
  Collected output;
  auto result = run_exec(lab_runtime(), spec, "echo port=$PORT\nfalse\necho not reached\n", output.sink(), 30s);
  REQUIRE(result.ok());
  CHECK(result->exit_code == 1);  // bash -e stopped at `false`
  CHECK(output.out == "port=9000\n");
}

TEST_CASE("A scenario script sees its vars, but what it starts does not inherit them") {
  // A daemon started by setup must not show the session's fault in /proc/PID/environ.
  SessionGuard session(unique_session_id("vars"));
  const Lab lab = provision(kOneHostScenario, session.id());
  ScriptRunner runner(lab_runtime(), lab, {{"BROKEN", "it's the mode"}, {"PORT", "9000"}});
  const Script script{"echo \"script: $BROKEN on $PORT at $BREAKFIX_HOST\"\n"
                      "sh -c 'echo \"child: [$BROKEN][$PORT]\"'\n"
                      "setsid -f sleep 30 >/dev/null 2>&1\n"
                      "sleep 0.2\n"
                      "tr '\\0' '\\n' < /proc/$(pgrep -n -x sleep)/environ | grep -c -e BROKEN -e PORT || true\n",
                      {}, 30s};
  auto run = runner.run("main", script);
  REQUIRE(run.ok());
  CHECK(run->exit_code == 0);
  CHECK(run->output == "script: it's the mode on 9000 at main\nchild: [][]\n0\n");
}

TEST_CASE("Stdin streams in while output streams out, and its end reaches the process") {
  SessionGuard session(unique_session_id("stream"));
  const Lab lab = provision(kOneHostScenario, session.id());
  // 8 MiB through cat and back: neither side may wait for the other to finish.
  std::string input(8 << 20, '\0');
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<char>(i * 7919 % 251);
  Sha256 sent, received;
  sent.add(input);
  ExecSpec spec = shell(lab.entry().container_id, "cat");
  std::size_t bytes = 0;
  auto result = run_exec(lab_runtime(), spec, input, [&](OutputStream stream, std::string_view data) {
    if (stream == OutputStream::Stdout) {
      received.add(data);
      bytes += data.size();
    }
  }, 120s);
  REQUIRE_MESSAGE(result.ok(), result.error().message);
  CHECK(result->exit_code == 0);  // cat saw end of file
  CHECK(bytes == input.size());
  CHECK(received.hex() == sent.hex());
}

TEST_CASE("50 MiB of output arrive byte-exact with bounded memory") {
  SessionGuard session(unique_session_id("bulk"));
  const Lab lab = provision(kOneHostScenario, session.id());
  const std::string host = lab.entry().container_id;
  run(host, "head -c 52428800 /dev/urandom > /tmp/blob");
  const std::string expected = run(host, "sha256sum < /tmp/blob | cut -d' ' -f1").out;
  Sha256 received;
  std::size_t bytes = 0;
  const long rss_before = max_rss_kib();
  auto result = run_exec(lab_runtime(), shell(host, "cat /tmp/blob"), "", [&](OutputStream stream, std::string_view data) {
    REQUIRE(stream == OutputStream::Stdout);
    received.add(data);
    bytes += data.size();
  }, 120s);
  REQUIRE(result.ok());
  CHECK(result->exit_code == 0);
  CHECK(bytes == 52428800);
  CHECK(received.hex() + "\n" == expected);
  // The output went to the sink as it came: the process did not grow by its size.
  CHECK(max_rss_kib() - rss_before < 16 * 1024);
}

TEST_CASE("A timeout kills the whole process tree, detached children included") {
  SessionGuard session(unique_session_id("timeout"));
  const Lab lab = provision(kOneHostScenario, session.id());
  const std::string host = lab.entry().container_id;
  Collected output;
  const auto started = std::chrono::steady_clock::now();
  auto result = run_exec(lab_runtime(),
                         shell(host, "sleep 1001 & setsid sleep 1002 & nohup sleep 1003 >/dev/null 2>&1 & echo started; sleep 1004"),
                         "", output.sink(), 2s);
  REQUIRE_MESSAGE(result.ok(), result.error().message);
  CHECK(result->timed_out);
  CHECK(result->exit_code != 0);
  CHECK(output.out == "started\n");
  CHECK(std::chrono::steady_clock::now() - started < 20s);
  CHECK(run(host, "pgrep -c -f 'sleep 100[1-4]' || true").out == "0\n");
  CHECK(run(host, "echo alive").out == "alive\n");  // the host itself is untouched
}

TEST_CASE("An exec with a TTY has the requested size and follows a resize") {
  SessionGuard session(unique_session_id("tty"));
  const Lab lab = provision(kOneHostScenario, session.id());
  ExecSpec spec;
  spec.container = lab.entry().container_id;
  spec.command = {"/bin/bash", "--norc", "--noprofile"};
  spec.tty = true;
  spec.size = {100, 30};
  spec.env = {"TERM=xterm", "PS1=$ "};
  auto stream = lab_runtime().start_exec(spec);
  REQUIRE_MESSAGE(stream.ok(), stream.error().message);
  ExecStream& exec = **stream;
  std::string screen;
  auto read_until = [&](const std::string& text) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (screen.find(text) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{exec.poll_fd(), POLLIN, 0};
      ::poll(&pfd, 1, 200);
      auto more = exec.read_output([&](OutputStream stream_kind, std::string_view data) {
        CHECK(stream_kind == OutputStream::Stdout);  // a TTY has one stream
        screen.append(data);
      });
      REQUIRE(more.ok());
      if (!*more) break;
    }
    return screen.find(text) != std::string::npos;
  };
  REQUIRE(exec.write_stdin("stty size\n").ok());
  CHECK(read_until("30 100"));
  REQUIRE(exec.resize({132, 43}).ok());
  REQUIRE(exec.write_stdin("stty size; tty\n").ok());
  CHECK(read_until("43 132"));
  CHECK(read_until("/dev/pts/"));
  REQUIRE(exec.write_stdin("exit 7\n").ok());
  read_until("\x01never");  // to the end of the stream
  auto code = exec.exit_code();
  REQUIRE_MESSAGE(code.ok(), code.error().message);
  CHECK(*code == 7);
}

TEST_CASE("The scenario's limits are visible inside the host") {
  SessionGuard session(unique_session_id("limits"));
  const Lab lab = provision(kOneHostScenario, session.id());
  const std::string host = lab.entry().container_id;
  // cgroup v1 or v2, whichever the machine has.
  const std::string memory = run(host, "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes").out;
  CHECK(memory == std::to_string(128 << 20) + "\n");
  const std::string pids = run(host, "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max").out;
  CHECK(pids == "64\n");
  // More processes than the limit cannot be started. perl's fork fails at once where
  // bash's would retry for seconds; the children are killed before it exits.
  const std::string forks = run(host, R"(perl -e 'my @kids; for (1..100) { my $pid = fork(); last unless defined $pid;
    if (!$pid) { sleep 30; exit 0 } push @kids, $pid } print scalar(@kids), "\n"; kill "KILL", @kids;')").out;
  CHECK(std::stoi(forks) < 64);
}

TEST_CASE("A host's tmpfs is bounded in bytes and inodes, so a lab fills it and not the machine's disk") {
  SessionGuard session(unique_session_id("tmpfs"));
  std::string text = kOneHostScenario;
  const std::string anchor = "image: breakfix/base:bookworm\n";
  text.insert(text.find(anchor) + anchor.size(), "tmpfs: [{path: /srv/spool, size: 4Mi, inodes: 300, mode: \"0700\"}]\n");
  const Lab lab = provision(text.c_str(), session.id());
  const std::string host = lab.entry().container_id;
  CHECK(run(host, "stat -c %a /srv/spool").out == "700\n");
  CHECK(run(host, "df -B1 --output=size /srv/spool | tail -1 | tr -d ' '").out == std::to_string(4 << 20) + "\n");
  // Full: writing more than the size fails with ENOSPC.
  CHECK(run(host, "head -c 8M /dev/zero 2>&1 >/srv/spool/big", 1).out.find("No space left") != std::string::npos);
  run(host, "rm /srv/spool/big");
  // Out of inodes: tiny files stop well before 1000.
  const std::string made = run(host, "n=0; for i in $(seq 1000); do : > /srv/spool/f$i 2>/dev/null || break; n=$i; done; echo $n").out;
  CHECK(std::stoi(made) < 300);
  CHECK(std::stoi(made) > 250);
}

TEST_CASE("A lab host is unprivileged: trimmed capabilities, default seccomp, strace works") {
  SessionGuard session(unique_session_id("caps"));
  const Lab lab = provision(kOneHostScenario, session.id());
  const std::string host = lab.entry().container_id;
  CHECK(run(host, "grep ^Seccomp: /proc/self/status").out == "Seccomp:\t2\n");
  run(host, "mknod /tmp/dev c 1 3 2>/dev/null", 1);          // no devices
  CHECK(run(host, "strace -f -e trace=openat cat /etc/hostname 2>&1 | grep -c hostname").out != "0\n");
  run(host, "ping -c1 -W1 127.0.0.1 >/dev/null");           // ping without NET_RAW
  if (testing_lxd()) {
    // A system container: root inside is a uid of its own outside (isolated idmap), not 0,
    // and PID 1 is systemd.
    std::istringstream uid_map(run(host, "cat /proc/self/uid_map").out);
    long inside = -1, outside = -1, count = -1;
    uid_map >> inside >> outside >> count;
    CHECK(inside == 0);
    CHECK(outside >= 100000);  // root of the lab is nobody on the machine
    CHECK(count == 65536);
    CHECK(run(host, "ps -o comm= -p 1").out == "systemd\n");
  } else {
    run(host, "mount -t tmpfs none /mnt 2>/dev/null", 32);     // no SYS_ADMIN
    run(host, "ip link add dummy0 type dummy 2>/dev/null", 2); // no NET_ADMIN
    CHECK(run(host, "ps -o comm= -p 1").out == "busybox\n");    // our init is PID 1: the toolbox's busybox sh
  }
  run(host, "kill -9 -1; sleep 0.5; true");  // the candidate's classic (spares only its caller and PID 1)
  std::this_thread::sleep_for(500ms);
  auto info = lab_runtime().inspect_container(host);
  REQUIRE(info.ok());
  CHECK(info->state == ContainerState::Running);
  CHECK(run(host, "echo still here").out == "still here\n");
}

TEST_CASE("A one-host lab has no network but loopback") {
  SessionGuard session(unique_session_id("nonet"));
  const Lab lab = provision(kOneHostScenario, session.id());
  CHECK(run(lab.entry().container_id, "ls /sys/class/net").out == "lo\n");
}

TEST_CASE("Two hosts on an internal network reach each other and nothing else") {
  SessionGuard session(unique_session_id("net"));
  SessionGuard other_session(unique_session_id("net-other"));
  const Lab lab = provision(kTwoHostScenario, session.id());
  const Lab other = provision(kTwoHostScenario, other_session.id());
  const std::string app = lab.find("app")->container_id;
  const std::string db = lab.find("db")->container_id;
  CHECK(run(app, "getent hosts db | wc -l").out == "1\n");
  // A listener on db, reached from app by name.
  ExecSpec listener = shell(db, "nc -l -p 5432 > /tmp/received");
  auto listening = lab_runtime().start_exec(listener);
  REQUIRE(listening.ok());
  std::this_thread::sleep_for(300ms);
  run(app, "echo hello-db | nc -q1 db 5432");
  std::this_thread::sleep_for(300ms);
  CHECK(run(db, "cat /tmp/received").out == "hello-db\n");

  // The host has no address on the session's bridge: nothing to reach there.
  auto db_info = lab_runtime().inspect_container(db);
  REQUIRE(db_info.ok());
  const std::string db_address = db_info->addresses.at(lab.network);
  const std::string gateway = db_address.substr(0, db_address.rfind('.')) + ".1";
  const std::string host_addresses = run_command({"ip", "-4", "-o", "addr"}).out;
  CHECK(host_addresses.find(" " + gateway + "/") == std::string::npos);
  CHECK(run(app, "timeout 3 bash -c 'echo > /dev/tcp/" + gateway + "/22' 2>/dev/null; echo $?").out != "0\n");
  CHECK(run(app, "ip route | grep -c '^default' || true").out == "1\n");  // a route to nowhere
  // Another session's hosts are on another bridge: unreachable.
  auto other_db = lab_runtime().inspect_container(other.find("db")->container_id);
  REQUIRE(other_db.ok());
  const std::string other_address = other_db->addresses.at(other.network);
  CHECK(other.network != lab.network);
  CHECK(run(app, "timeout 3 bash -c 'echo > /dev/tcp/" + other_address + "/5432' 2>/dev/null; echo $?").out != "0\n");
  CHECK(run(app, "getent hosts " + std::string("breakfix-") + other_session.id() + "-db | wc -l").out == "0\n");
}

// The host's own IPv4 addresses but loopback: what a lab must not reach.
static std::vector<std::string> host_addresses() {
  std::vector<std::string> out;
  ifaddrs* addresses = nullptr;
  REQUIRE(::getifaddrs(&addresses) == 0);
  for (ifaddrs* entry = addresses; entry; entry = entry->ifa_next) {
    if (!entry->ifa_addr || entry->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(entry->ifa_addr)->sin_addr, text, sizeof text);
    if (std::string(text).rfind("127.", 0) != 0) out.push_back(text);
  }
  ::freeifaddrs(addresses);
  return out;
}

// A hostile root routes its way out: on LXD it may (CAP_NET_ADMIN in its namespace), so
// only the host's firewall stands between it and the host. UDP needs no answer, so one
// datagram that arrives is a reach, even when no reply could find its way back.
TEST_CASE("A lab's root cannot reach the host through its session network, whatever routes it sets") {
  SessionGuard session(unique_session_id("net-hostile"));
  const Lab lab = provision(kTwoHostScenario, session.id());
  const std::string app = lab.find("app")->container_id;
  const int listener = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  REQUIRE(listener >= 0);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0);
  socklen_t length = sizeof any;
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&any), &length) == 0);
  const std::string port = std::to_string(ntohs(any.sin_port));
  std::string script = "ip route replace default dev eth0 2>/dev/null; ip route flush cache 2>/dev/null; ";
  for (const std::string& address : host_addresses()) {
    script += "for i in 1 2 3; do echo reached-" + address + " > /dev/udp/" + address + "/" + port +
              "; sleep 0.2; done 2>/dev/null; ";
  }
  run(app, script + "true");
  std::this_thread::sleep_for(1s);
  char buffer[256];
  const ssize_t got = ::recv(listener, buffer, sizeof buffer, 0);
  ::close(listener);
  CHECK_MESSAGE(got < 0, "the host got: " << std::string(buffer, got > 0 ? static_cast<std::size_t>(got) : 0));
}

TEST_CASE("A paused host runs nothing until unpaused") {
  SessionGuard session(unique_session_id("pause"));
  const Lab lab = provision(kOneHostScenario, session.id());
  const std::string host = lab.entry().container_id;
  REQUIRE(lab_runtime().pause_container(host).ok());
  CHECK(lab_runtime().inspect_container(host)->state == ContainerState::Paused);
  auto refused = lab_runtime().start_exec(shell(host, "true"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::Conflict);
  REQUIRE(lab_runtime().unpause_container(host).ok());
  CHECK(run(host, "echo back").out == "back\n");
}

TEST_CASE("Removal and garbage collection leave nothing behind") {
  const std::string live_id = unique_session_id("gc-live");
  const std::string dead_id = unique_session_id("gc-dead");
  SessionGuard live(live_id);
  SessionGuard dead(dead_id);
  provision(kTwoHostScenario, live_id);
  provision(kTwoHostScenario, dead_id);
  LabProvisioner provisioner(lab_runtime(), {});
  // Everything not live and not another test's: every session but dead_id is live, also
  // one another test process starts while this runs (a list taken first would miss it,
  // and its lab would be removed as it boots).
  auto live_sessions = [&](const std::string& id) { return id != dead_id; };
  // Each has a snapshot too, as a ready session has.
  const Lab dead_lab = *provisioner.find_lab(dead_id);
  REQUIRE(provisioner.snapshot_host(dead_id, dead_lab.entry()).ok());
  REQUIRE(provisioner.snapshot_host(live_id, provisioner.find_lab(live_id)->entry()).ok());
  auto report = provisioner.collect_garbage_unless(live_sessions, /*dry_run=*/false);
  REQUIRE_MESSAGE(report.ok(), report.error().message);
  CHECK(report->containers.size() == 2);
  CHECK(report->networks == std::vector<std::string>{lab_network_name(dead_id)});
  CHECK(report->images == std::vector<std::string>{lab_snapshot_tag(dead_id, "app")});
  CHECK(lab_runtime().list_images({{kLabelSession, dead_id}})->empty());
  CHECK(lab_runtime().list_images({{kLabelSession, live_id}})->size() == 1);
  CHECK(lab_runtime().list_containers({{kLabelSession, dead_id}})->empty());
  CHECK(lab_runtime().list_networks({{kLabelSession, dead_id}})->empty());
  CHECK(lab_runtime().list_containers({{kLabelSession, live_id}})->size() == 2);
  auto found = provisioner.find_lab(live_id);
  REQUIRE(found.ok());
  CHECK(found->entry().name == "app");
}

TEST_CASE("A missing image is reported by name with the way to get it") {
  SessionGuard session(unique_session_id("noimage"));
  std::string text = kOneHostScenario;
  text.replace(text.find("breakfix/base:bookworm"), 22, "breakfix/no-such-image:1");
  ScenarioLoad load = parse_scenario(text, "scenario.yaml", "/nonexistent");
  REQUIRE(load.scenario);
  auto lab = LabProvisioner(lab_runtime(), {}).provision(*load.scenario, session.id(), nullptr);
  REQUIRE_FALSE(lab.ok());
  CHECK(lab.error().code == ErrorCode::NotFound);
  CHECK(lab.error().message.find("breakfix/no-such-image:1") != std::string::npos);
}

TEST_CASE("A build: directory is built once with progress, a failed build shows its last lines") {
  TempDirForBuild dir;
  dir.write("image/Dockerfile", "FROM breakfix/base:bookworm\nCOPY hello /hello\nRUN echo built > /built\n");
  dir.write("image/hello", "hello from the context\n");
  std::string text = kOneHostScenario;
  text.replace(text.find("image: breakfix/base:bookworm"), 29, "build: ./image");
  ScenarioLoad load = parse_scenario(text, "scenario.yaml", dir.path());
  REQUIRE(load.scenario);
  LabProvisioner provisioner(lab_runtime(), {});
  std::vector<std::string> progress;
  auto image = provisioner.ensure_image(*load.scenario, load.scenario->hosts[0], [&](std::string_view line) {
    progress.emplace_back(line);
  });
  REQUIRE_MESSAGE(image.ok(), image.error().message);
  dir.image = *image;
  // Docker: "Successfully tagged breakfix/runtime-test-main:..."; LXD, built by Docker
  // and imported: "[lxd build] LXD has breakfix/runtime-test-main:...".
  const std::string tagged = testing_lxd() ? "LXD has breakfix/runtime-test-main:" : "Successfully tagged breakfix/runtime-test-main:";
  CHECK(std::any_of(progress.begin(), progress.end(), [&](const std::string& line) { return line.find(tagged) != std::string::npos; }));

  SessionGuard session(unique_session_id("build"));
  auto lab = provisioner.provision(*load.scenario, session.id(), nullptr);
  REQUIRE(lab.ok());
  CHECK(run(lab->entry().container_id, "cat /hello /built").out == "hello from the context\nbuilt\n");

  progress.clear();
  auto again = provisioner.ensure_image(*load.scenario, load.scenario->hosts[0], [&](std::string_view line) {
    progress.emplace_back(line);
  });
  REQUIRE(again.ok());
  CHECK(*again == *image);
  REQUIRE(progress.size() == 1);
  CHECK(progress[0].find("up to date") != std::string::npos);

  dir.write("image/Dockerfile", "FROM breakfix/base:bookworm\nRUN echo about-to-fail && false\n");
  auto failed = provisioner.ensure_image(*load.scenario, load.scenario->hosts[0], nullptr);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == ErrorCode::Failed);
  CHECK(failed.error().message.find("about-to-fail") != std::string::npos);
  CHECK(failed.error().message.find("non-zero code") != std::string::npos);
}

TEST_CASE("The engine's view of a host's files: its changes, a snapshot of it, and archives read as they stream") {
  SessionGuard session(unique_session_id("files"));
  const Lab lab = provision(kOneHostScenario, session.id());
  const std::string host = lab.entry().container_id;
  run(host, "mkdir -p /srv/app && printf 'port = 1\\n' > /srv/app/app.conf && chmod 640 /srv/app/app.conf && "
            "head -c 3000000 /dev/zero > /srv/app/big && chmod u+s /usr/bin/find && rm /etc/motd");
  std::map<std::string, FsChangeKind> changes;
  REQUIRE(lab_runtime().container_changes(host, [&](const FsChange& change) { changes[change.path] = change.kind; }).ok());
  CHECK(changes.at("/srv/app/app.conf") == FsChangeKind::Added);
  CHECK(changes.at("/usr/bin/find") == FsChangeKind::Modified);
  CHECK(changes.at("/etc/motd") == FsChangeKind::Deleted);

  LabProvisioner provisioner(lab_runtime(), {});
  auto image = provisioner.snapshot_host(session.id(), lab.entry());
  REQUIRE_MESSAGE(image.ok(), image.error().message);
  run(host, "printf 'port = 2\\n' > /srv/app/app.conf");  // after the snapshot
  auto reader = provisioner.open_snapshot(session.id(), "main", *image);
  REQUIRE_MESSAGE(reader.ok(), reader.error().message);
  CHECK(provisioner.find_lab(session.id())->hosts.size() == 1);  // the reader is no host

  // One archive of the directory, from the snapshot and from the live host.
  auto read = [&](const std::string& container, const std::string& path, std::uint64_t max_bytes) {
    std::map<std::string, FileRecord> records;
    auto whole = lab_runtime().read_tree(
        container, path, {max_bytes, 64}, [](const FileRecord&) { return ReadWant::Keep; },
        [&](FileRecord record) {
          records[record.path] = std::move(record);
          return true;
        });
    REQUIRE_MESSAGE(whole.ok(), whole.error().message);
    return std::make_pair(*whole, records);
  };
  auto [complete, before] = read(*reader, "/srv/app", 64 << 20);
  CHECK(complete);
  CHECK(before.at("/srv/app").type == FileType::Directory);
  CHECK(before.at("/srv/app/app.conf").head == "port = 1\n");
  CHECK(before.at("/srv/app/app.conf").mode == 0640);
  CHECK(before.at("/srv/app/big").size == 3000000);
  CHECK_FALSE(before.at("/srv/app/big").sha256.empty());
  auto [live_complete, now] = read(host, "/srv/app", 64 << 20);
  CHECK(now.at("/srv/app/app.conf").head == "port = 2\n");
  CHECK(now.at("/srv/app/app.conf").sha256 != before.at("/srv/app/app.conf").sha256);
  CHECK(now.at("/srv/app/big").sha256 == before.at("/srv/app/big").sha256);
  auto [find_complete, find] = read(host, "/usr/bin/find", 64 << 20);
  CHECK(find.at("/usr/bin/find").mode == 04755);
  // Cut at max_bytes: the archive is not read to its end.
  auto [cut_complete, cut] = read(host, "/srv/app", 1 << 20);
  CHECK_FALSE(cut_complete);
  CHECK(cut.at("/srv/app/big").sha256.empty());
  // A path that is not there.
  auto missing = lab_runtime().read_tree(host, "/etc/motd", {}, [](const FileRecord&) { return ReadWant::Hash; },
                                            [](FileRecord) { return true; });
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::NotFound);
  REQUIRE(lab_runtime().remove_container(*reader).ok());
}

// What a root in the lab does to the files the grader reads, to lead the engine's view
// astray: a link out of the lab, a FIFO where a file is read, an edit with its times set
// back, and (where the lab may mount, as on LXD) a decoy mounted over the edited file.
TEST_CASE("The engine's view holds against the lab's root: links out, FIFOs, times set back, mounts over files") {
  SessionGuard session(unique_session_id("view"));
  const Lab lab = provision(kOneHostScenario, session.id());
  const std::string host = lab.entry().container_id;
  run(host, "echo 'in the lab' > /etc/breakfix-probe && ln -s / /srv/escape && mkfifo /srv/pipe && "
            "cp -p /etc/issue /root/issue.orig && echo changed >> /etc/issue && touch -r /root/issue.orig /etc/issue && "
            "echo decoy > /root/decoy && { mount --bind /root/decoy /etc/issue 2>/dev/null || true; }");
  const bool mounted = run(host, "cat /etc/issue").out == "decoy\n";
  CAPTURE(mounted);

  std::map<std::string, FsChangeKind> changes;
  REQUIRE(lab_runtime().container_changes(host, [&](const FsChange& change) { changes[change.path] = change.kind; }).ok());
  CHECK(changes.count("/etc/issue"));

  auto read = [&](const std::string& path) {
    std::map<std::string, FileRecord> records;
    auto whole = lab_runtime().read_tree(
        host, path, {64 << 20, 256}, [](const FileRecord&) { return ReadWant::Keep; },
        [&](FileRecord record) {
          records[record.path] = std::move(record);
          return true;
        });
    REQUIRE_MESSAGE(whole.ok(), whole.error().message);
    CHECK(*whole);
    return records;
  };
  // The edit, not the decoy over it.
  if (!mounted || testing_lxd()) CHECK(read("/etc/issue").at("/etc/issue").head.find("changed") != std::string::npos);
  // Through the link to "/": the lab's root, where the probe is (this machine has none).
  REQUIRE_FALSE(std::filesystem::exists("/etc/breakfix-probe"));
  CHECK(read("/srv/escape/etc/breakfix-probe").begin()->second.head == "in the lab\n");
  // The FIFO is recorded and never waited on.
  auto srv = read("/srv");
  CHECK(srv.at("/srv/pipe").type == FileType::Other);
  CHECK(srv.at("/srv/escape").type == FileType::Symlink);
}

// The toolbox is what every check runs. A root that may mount (on LXD, a system
// container's root may) covers it with look-alikes that print what passes: once for good,
// and flapping, mounted and unmounted in a loop, to slip between the backend's looks.
TEST_CASE("A lab's root cannot have its own files run as the grader's tools") {
  SessionGuard session(unique_session_id("cover"));
  const Lab lab = provision(kOneHostScenario, session.id());
  const std::string host = lab.entry().container_id;
  run(host, "mkdir -p /root/fake/bin && printf '#!/bin/sh\\necho forged\\n' > /root/fake/bin/bash && "
            "chmod 755 /root/fake/bin/bash && cp /root/fake/bin/bash /root/fake/bin/busybox");
  const bool mounted = run(host, "mount --bind /root/fake /.breakfix 2>/dev/null && echo mounted || echo refused").out ==
                       "mounted\n";
  CAPTURE(mounted);
  auto grader = [&] {
    ExecSpec spec;
    spec.container = host;
    spec.command = {kToolboxBash, "-c", "echo real"};
    Collected output;
    auto result = run_exec(lab_runtime(), spec, "", output.sink(), 30s);
    return std::make_pair(result.ok() ? output.out : "error: " + result.error().message, result.ok());
  };
  if (!mounted) {
    CHECK(grader().first == "real\n");  // Docker: the lab's root may not mount at all
    return;
  }
  const auto [covered, covered_ok] = grader();
  CHECK_FALSE(covered_ok);
  CHECK(covered.find("covered") != std::string::npos);
  run(host, "umount /.breakfix");
  CHECK(grader().first == "real\n");  // the toolbox itself again

  run(host, "setsid -f bash -c 'while :; do mount --bind /root/fake /.breakfix; umount /.breakfix; done' "
            ">/dev/null 2>&1 </dev/null");
  int forged = 0, refused = 0, real = 0;
  for (int i = 0; i < 30; ++i) {
    const auto [out, ok] = grader();
    if (out.find("forged") != std::string::npos) ++forged;
    else if (ok && out == "real\n") ++real;
    else ++refused;
  }
  CAPTURE(real);
  CAPTURE(refused);
  CHECK(forged == 0);
  CHECK(refused > 0);  // the flapping was seen, not missed
  run(host, "pkill -f 'mount --bind /root/[f]ake'; umount /.breakfix 2>/dev/null; true");
}

// The engine's disk watchdog reads this: what a lab host wrote, whatever backend.
TEST_CASE("What a host writes to its disk is measured") {
  SessionGuard session(unique_session_id("disk"));
  const Lab lab = provision(kOneHostScenario, session.id());
  const std::string host = lab.entry().container_id;
  auto before = lab_runtime().writable_layer_bytes(host);
  REQUIRE_MESSAGE(before.ok(), before.error().message);
  run(host, "dd if=/dev/zero of=/var/tmp/fill bs=1M count=30 status=none && sync");
  auto after = lab_runtime().writable_layer_bytes(host);
  REQUIRE_MESSAGE(after.ok(), after.error().message);
  CHECK(*after >= *before + (30u << 20));
}
