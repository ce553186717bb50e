#include <doctest/doctest.h>

#include <algorithm>

#include "breakfix/scenario_loader.h"
#include "temp_dir.h"

using namespace breakfix;
using std::chrono::seconds;

namespace {

constexpr const char* kMinimal = R"(apiVersion: breakfix/v1
id: minimal
title: Minimal
kind: break-fix
description: The motd is gone.
image: breakfix/base:bookworm
faults:
  - name: remove motd
    run: rm -f /etc/motd
checks:
  - name: motd is back
    run: test -f /etc/motd
solution:
  - run: touch /etc/motd
)";

constexpr const char* kTwoHosts = R"(apiVersion: breakfix/v1
id: two-hosts
title: Two hosts
kind: break-fix
description: The app cannot reach its database.
vars:
  DB_PORT: {range: [5433, 5435]}
  MODE: {choice: [a, b]}
hosts:
  - name: app
    image: breakfix/base:bookworm
    entry: true
    user: dev
    resources: {cpus: 0.5, memory: 256Mi, pids: 128}
    setup: echo setup
  - name: db
    image: breakfix/base:bookworm
    workdir: /srv
faults:
  - name: move the port
    host: db
    timeout: 5m
    run: echo "$DB_PORT ${MODE}"
checks:
  - name: app reaches db
    host: app
    weight: 2.5
    timeout: 10s
    run: "true"
  - name: rows survive
    host: db
    expect: guard
    serial: true
    run: "true"
solution:
  - host: db
    run: "true"
hints:
  - after: 30m
    text: second
  - after: 10m
    text: first
)";

ScenarioLoad parse(const std::string& text, const std::filesystem::path& dir = "/nonexistent") {
  return parse_scenario(text, "scenario.yaml", dir);
}

// Every diagnostic, one a line: CAPTURE shows it when a check fails.
std::string messages(const ScenarioLoad& load) {
  std::string out;
  for (const Diagnostic& diagnostic : load.diagnostics) out += format_diagnostic(diagnostic) + "\n";
  return out;
}

bool mentions(const ScenarioLoad& load, const std::string& text) { return messages(load).find(text) != std::string::npos; }

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("A minimal scenario loads with every default filled in") {
  ScenarioLoad load = parse(kMinimal);
  CAPTURE(messages(load));
  REQUIRE(load.scenario);
  CHECK(load.diagnostics.empty());
  const Scenario& scenario = *load.scenario;
  CHECK(scenario.id == "minimal");
  CHECK(scenario.kind == ScenarioKind::BreakFix);
  CHECK(scenario.difficulty == Difficulty::Medium);
  CHECK(scenario.duration == seconds(90 * 60));
  CHECK(scenario.network == NetworkMode::None);
  REQUIRE(scenario.hosts.size() == 1);
  const Host& host = scenario.entry_host();
  CHECK(host.name == "main");
  CHECK(host.entry);
  CHECK(host.image == "breakfix/base:bookworm");
  CHECK(host.user == "root");
  CHECK(host.workdir == "/root");
  CHECK(host.resources.cpus == 1.0);
  CHECK(host.resources.memory_bytes == 512LL * 1024 * 1024);
  CHECK(host.resources.pids == 512);
  CHECK_FALSE(host.setup.has_value());
  REQUIRE(scenario.faults.size() == 1);
  CHECK(scenario.faults[0].host == "main");
  CHECK(scenario.faults[0].run.timeout == seconds(120));
  CHECK(scenario.faults[0].run.where.line == 9);
  REQUIRE(scenario.checks.size() == 1);
  CHECK(scenario.checks[0].weight == 1.0);
  CHECK(scenario.checks[0].expect == CheckExpectation::Fix);
  CHECK(scenario.checks[0].run.timeout == seconds(30));
  CHECK_FALSE(scenario.checks[0].serial);
  REQUIRE(scenario.solution.size() == 1);
  CHECK(scenario.solution[0].run.text == "touch /etc/motd");
}

TEST_CASE("Several hosts get an internal network, named hosts and every field as written") {
  ScenarioLoad load = parse(kTwoHosts);
  CAPTURE(messages(load));
  REQUIRE(load.scenario);
  const Scenario& scenario = *load.scenario;
  CHECK(scenario.network == NetworkMode::Internal);
  CHECK(scenario.entry_host().name == "app");
  const Host* app = scenario.find_host("app");
  const Host* db = scenario.find_host("db");
  REQUIRE(app);
  REQUIRE(db);
  CHECK(app->user == "dev");
  CHECK(app->workdir == "/home/dev");
  CHECK(app->resources.cpus == 0.5);
  CHECK(app->resources.memory_bytes == 256LL * 1024 * 1024);
  CHECK(app->resources.pids == 128);
  REQUIRE(app->setup.has_value());
  CHECK(app->setup->text == "echo setup");
  CHECK_FALSE(db->entry);
  CHECK(db->workdir == "/srv");
  CHECK(scenario.faults[0].host == "db");
  CHECK(scenario.faults[0].run.timeout == seconds(300));
  CHECK(scenario.checks[0].weight == 2.5);
  CHECK(scenario.checks[0].run.timeout == seconds(10));
  CHECK(scenario.checks[1].expect == CheckExpectation::Guard);
  CHECK(scenario.checks[1].serial);
  REQUIRE(scenario.vars.size() == 2);
  CHECK(scenario.vars[0].name == "DB_PORT");
  CHECK(scenario.vars[0].choices == std::vector<std::string>{"5433", "5434", "5435"});
  CHECK(scenario.vars[1].choices == std::vector<std::string>{"a", "b"});
  REQUIRE(scenario.hints.size() == 2);
  CHECK(scenario.hints[0].text == "first");  // sorted by time
  CHECK(scenario.hints[1].after == seconds(1800));
  CHECK(scenario.hints[1].cost == 0);
}

TEST_CASE("An unknown key is reported at its line and column with the nearest known key") {
  ScenarioLoad load = parse(replace(kTwoHosts, "    weight: 2.5\n", "    wieght: 2.5\n"));
  CHECK_FALSE(load.scenario);
  REQUIRE(load.diagnostics.size() == 1);
  const Diagnostic& diagnostic = load.diagnostics[0];
  CHECK(diagnostic.where.file == "scenario.yaml");
  CHECK(diagnostic.where.line == 27);
  CHECK(diagnostic.where.column == 5);
  CHECK(format_diagnostic(diagnostic) ==
        "scenario.yaml:27:5: checks[0]: unknown key 'wieght' (did you mean 'weight'?)");
}

TEST_CASE("A bad value is reported where the value stands, naming the field") {
  ScenarioLoad load = parse(replace(kTwoHosts, "memory: 256Mi", "memory: 256MB"));
  REQUIRE(load.diagnostics.size() == 1);
  CHECK(format_diagnostic(load.diagnostics[0]) ==
        "scenario.yaml:14:36: hosts[0].resources.memory: '256MB' is not a size (write it as 512Mi, 1Gi or 800M)");
}

TEST_CASE("Every error of a file is reported, in file order") {
  std::string text = replace(kTwoHosts, "id: two-hosts", "id: Two_Hosts");
  text = replace(text, "kind: break-fix", "kind: fix");
  text = replace(text, "    host: db\n    timeout: 5m", "    host: dbb\n    timeout: 5");
  text = replace(text, "    weight: 2.5", "    weight: -1");
  ScenarioLoad load = parse(text);
  CAPTURE(messages(load));
  CHECK_FALSE(load.scenario);
  CHECK(load.diagnostics.size() == 5);
  CHECK(mentions(load, "id: 'Two_Hosts' is not a valid id"));
  CHECK(mentions(load, "kind: 'fix' is not one of"));
  CHECK(mentions(load, "faults[0].host: unknown host 'dbb' (did you mean 'db'?)"));
  CHECK(mentions(load, "faults[0].timeout: '5' is not a duration; add a unit"));
  CHECK(mentions(load, "checks[0].weight: must be greater than 0"));
  CHECK(std::is_sorted(load.diagnostics.begin(), load.diagnostics.end(), [](const auto& a, const auto& b) {
    return a.where.line < b.where.line;
  }));
}

TEST_CASE("An unused variable is a warning and the scenario still loads") {
  ScenarioLoad load = parse(replace(kTwoHosts, "run: echo \"$DB_PORT ${MODE}\"", "run: echo \"$DB_PORT ${MODES}\""));
  REQUIRE(load.scenario);
  REQUIRE(load.diagnostics.size() == 1);
  CHECK(load.diagnostics[0].severity == Severity::Warning);
  CHECK(format_diagnostic(load.diagnostics[0]) ==
        "scenario.yaml:8:9: warning: vars.MODE: variable MODE is not used by any script");
}

TEST_CASE("Two hosts with network none load with a warning that they cannot talk") {
  ScenarioLoad load = parse(std::string(kTwoHosts) + "network: none\n");
  REQUIRE(load.scenario);
  CHECK(load.scenario->network == NetworkMode::None);
  CHECK(mentions(load, "warning: network: with 'none' the 2 hosts cannot reach each other"));
}

TEST_CASE("A build directory is resolved against the scenario directory and needs a Dockerfile") {
  testing::TempDir dir;
  const std::string text = replace(kMinimal, "image: breakfix/base:bookworm", "build: ./image");

  ScenarioLoad missing = parse(text, dir.path());
  CHECK(mentions(missing, "build: directory './image' does not exist"));

  std::filesystem::create_directories(dir.path() / "image");
  ScenarioLoad no_dockerfile = parse(text, dir.path());
  CHECK(mentions(no_dockerfile, "build: directory './image' has no Dockerfile"));

  dir.write("image/Dockerfile", "FROM breakfix/base:bookworm\n");
  ScenarioLoad good = parse(text, dir.path());
  REQUIRE(good.scenario);
  CHECK(good.scenario->hosts[0].image.empty());
  CHECK(good.scenario->hosts[0].build_context == dir.path() / "image");
}

TEST_CASE("Memory limits accept binary and decimal suffixes") {
  for (const auto& size : std::vector<std::pair<std::string, std::int64_t>>{
           {"512Mi", 512LL << 20}, {"1Gi", 1LL << 30}, {"800M", 800'000'000}, {"1.5Gi", 3LL << 29}, {"67108864", 1LL << 26}}) {
    const auto& [text, bytes] = size;
    CAPTURE(size.first);
    ScenarioLoad load = parse(std::string(kMinimal) + "resources: {memory: " + text + "}\n");
    REQUIRE(load.scenario);
    CHECK(load.scenario->hosts[0].resources.memory_bytes == bytes);
  }
}

TEST_CASE("A bug-fix scenario may carry its bug in the image and have no faults") {
  std::string text = replace(kMinimal, "kind: break-fix", "kind: bug-fix");
  text = replace(text, "faults:\n  - name: remove motd\n    run: rm -f /etc/motd\n", "");
  ScenarioLoad load = parse(text);
  CAPTURE(messages(load));
  REQUIRE(load.scenario);
  CHECK(load.scenario->faults.empty());
}

TEST_CASE("A file over the size limit is refused before parsing") {
  std::string text = kMinimal;
  text += "# " + std::string(kMaxScenarioFileBytes, 'x') + "\n";
  ScenarioLoad load = parse(text);
  CHECK_FALSE(load.scenario);
  CHECK(mentions(load, "scenario.yaml:1:1: file is larger than 1024 KiB"));
}

TEST_CASE("Arbitrary bytes give diagnostics, never an exception") {
  const std::vector<std::string> inputs = {
      std::string("\0\0\0", 3), "\xff\xfe\xfd", "{", "}", "[", "- - - -", ":", "? : ?", "&a [*a]", "*unknown",
      "!!binary AAAA", "id: !!int x", "%YAML 9.9\n---\n", "a: |\n bad\n  indent\n x", std::string(kMinimal) + "\t",
  };
  for (const std::string& input : inputs) {
    CAPTURE(input);
    ScenarioLoad load;
    CHECK_NOTHROW(load = parse(input));
    CHECK_FALSE(load.scenario);
    CHECK_FALSE(load.diagnostics.empty());
  }
}

TEST_CASE("load_scenario_file names the file it could not read") {
  ScenarioLoad load = load_scenario_file("/nonexistent/scenario.yaml");
  CHECK_FALSE(load.scenario);
  REQUIRE(load.diagnostics.size() == 1);
  CHECK(format_diagnostic(load.diagnostics[0]) == "/nonexistent/scenario.yaml:1:1: cannot read the file");
}

TEST_CASE("Regression: a stray leading comma no longer hangs the loader (yaml-cpp issue 1040)") {
  // Given input on which yaml-cpp 0.7's LoadAll allocates empty documents forever,
  // the loader should return at once with a syntax error on the comma's line.
  for (const std::string input : {",", ",\n", "\n\n,a\n", "# comment\n,\napiVersion: breakfix/v1\n"}) {
    CAPTURE(input);
    ScenarioLoad load = parse(input);
    CHECK_FALSE(load.scenario);
    CHECK(mentions(load, "YAML syntax error: no value could be read here"));
  }
}

TEST_CASE("tmpfs: a host's bounded file systems load with their size, inodes and mode") {
  const std::string text = replace(kMinimal, "image: breakfix/base:bookworm\n",
                                   "image: breakfix/base:bookworm\n"
                                   "resources: {memory: 256Mi}\n"
                                   "tmpfs:\n"
                                   "  - {path: /var/spool/mail/, size: 8Mi, inodes: 2000, mode: \"0750\"}\n"
                                   "  - {path: /data, size: 64Mi}\n");
  ScenarioLoad load = parse(text);
  CAPTURE(messages(load));
  REQUIRE(load.scenario);
  const auto& tmpfs = load.scenario->hosts[0].tmpfs;
  REQUIRE(tmpfs.size() == 2);
  CHECK(tmpfs[0].path == "/var/spool/mail");
  CHECK(tmpfs[0].size_bytes == 8LL << 20);
  CHECK(tmpfs[0].inodes == 2000);
  CHECK(tmpfs[0].mode == 0750);
  CHECK(tmpfs[1].path == "/data");
  CHECK(tmpfs[1].inodes == 0);
  CHECK(tmpfs[1].mode == 01777);
}

TEST_CASE("tmpfs: every bad entry is reported where it stands, naming the field") {
  const std::string text = replace(kMinimal, "image: breakfix/base:bookworm\n",
                                   "image: breakfix/base:bookworm\n"
                                   "resources: {memory: 64Mi}\n"
                                   "tmpfs:\n"
                                   "  - {path: data, size: 8Mi}\n"
                                   "  - {path: /proc/x, size: 8Mi}\n"
                                   "  - {path: /a, size: 8MB}\n"
                                   "  - {path: /b, size: 128Mi}\n"
                                   "  - {path: /c, size: 8Mi, inodes: 3, mode: 999}\n"
                                   "  - {path: /c/, size: 8Mi}\n"
                                   "  - {size: 8Mi}\n");
  ScenarioLoad load = parse(text);
  CAPTURE(messages(load));
  CHECK_FALSE(load.scenario);
  CHECK(mentions(load, "scenario.yaml:9:12: tmpfs[0].path: must be an absolute path, got 'data'"));
  CHECK(mentions(load, "tmpfs[1].path: '/proc/x' cannot be a tmpfs"));
  CHECK(mentions(load, "tmpfs[2].size: '8MB' is not a size"));
  CHECK(mentions(load, "tmpfs[3].size: is larger than the host's memory (64Mi)"));
  CHECK(mentions(load, "tmpfs[4].inodes: must be between 16 and 100000000"));
  CHECK(mentions(load, "tmpfs[4].mode: must be 3 or 4 octal digits"));
  CHECK(mentions(load, "tmpfs[5].path: duplicate tmpfs path '/c'"));
  CHECK(mentions(load, "tmpfs[6]: missing required key 'path'"));
}

TEST_CASE("tmpfs: sizes that add up to more than the host's memory are refused") {
  const std::string text = replace(kMinimal, "image: breakfix/base:bookworm\n",
                                   "image: breakfix/base:bookworm\n"
                                   "resources: {memory: 64Mi}\n"
                                   "tmpfs:\n"
                                   "  - {path: /a, size: 40Mi}\n"
                                   "  - {path: /b, size: 40Mi}\n");
  ScenarioLoad load = parse(text);
  CHECK_FALSE(load.scenario);
  CHECK(mentions(load, "tmpfs: the tmpfs sizes add up to 80Mi, more than the host's memory (64Mi)"));
}

TEST_CASE("A build directory outside the scenario directory, by '..' or by a symlink, is an error") {
  testing::TempDir dir;
  dir.write("shared/image/Dockerfile", "FROM breakfix/base:bookworm\n");
  dir.write("lab/scenario.yaml", "");
  dir.write("lab/own/Dockerfile", "FROM breakfix/base:bookworm\n");
  std::filesystem::create_directory_symlink(dir.path() / "shared/image", dir.path() / "lab/image");
  std::string text = replace(kMinimal, "image: breakfix/base:bookworm\n", "build: ../shared/image\n");
  ScenarioLoad load = parse(text, dir.path() / "lab");
  CAPTURE(messages(load));
  CHECK_FALSE(load.scenario);
  CHECK(mentions(load, "build: '../shared/image' leads outside the scenario directory"));
  // ./image looks inside, but is a symlink to the same place.
  load = parse(replace(kMinimal, "image: breakfix/base:bookworm\n", "build: ./image\n"), dir.path() / "lab");
  CHECK_FALSE(load.scenario);
  CHECK(mentions(load, "build: './image' leads outside the scenario directory"));
  load = parse(replace(kMinimal, "image: breakfix/base:bookworm\n", "build: ./own\n"), dir.path() / "lab");
  CHECK(load.scenario);
}

TEST_CASE("capabilities: grantable ones load normalised, others are refused where they stand") {
  ScenarioLoad good = parse(replace(kMinimal, "image: breakfix/base:bookworm\n",
                                    "image: breakfix/base:bookworm\ncapabilities: [sys_ptrace, CAP_SYS_NICE]\n"));
  CAPTURE(messages(good));
  REQUIRE(good.scenario);
  CHECK(good.scenario->hosts[0].capabilities == std::vector<std::string>{"SYS_PTRACE", "SYS_NICE"});
  CHECK(parse(kMinimal).scenario->hosts[0].capabilities.empty());

  ScenarioLoad bad = parse(replace(kMinimal, "image: breakfix/base:bookworm\n",
                                   "image: breakfix/base:bookworm\ncapabilities: [SYS_ADMIN, SYS_PTRACE, SYS_PTRACE, NET_RAW]\n"));
  CAPTURE(messages(bad));
  CHECK_FALSE(bad.scenario);
  CHECK(mentions(bad, "scenario.yaml:7:16: capabilities[0]: 'SYS_ADMIN' cannot be granted to a lab host"));
  CHECK(mentions(bad, "capabilities[2]: duplicate capability 'SYS_PTRACE'"));
  CHECK(mentions(bad, "capabilities[3]: 'NET_RAW' cannot be granted"));
}

TEST_CASE("init: systemd loads on the shorthand host or under hosts, default when absent, a bad value is refused") {
  CHECK(parse(kMinimal).scenario->hosts[0].init == HostInit::Default);
  CHECK_FALSE(parse(kMinimal).scenario->needs_systemd());

  ScenarioLoad shorthand = parse(replace(kMinimal, "image: breakfix/base:bookworm\n",
                                         "image: breakfix/base:bookworm\ninit: systemd\n"));
  CAPTURE(messages(shorthand));
  REQUIRE(shorthand.scenario);
  CHECK(shorthand.diagnostics.empty());
  CHECK(shorthand.scenario->hosts[0].init == HostInit::Systemd);
  CHECK(shorthand.scenario->needs_systemd());
  CHECK(std::string(to_string(HostInit::Systemd)) == "systemd");

  ScenarioLoad hosts = parse(replace(kTwoHosts, "    workdir: /srv\n", "    workdir: /srv\n    init: systemd\n"));
  CAPTURE(messages(hosts));
  REQUIRE(hosts.scenario);
  CHECK(hosts.scenario->find_host("app")->init == HostInit::Default);
  CHECK(hosts.scenario->find_host("db")->init == HostInit::Systemd);
  CHECK(hosts.scenario->needs_systemd());
  ScenarioLoad explicit_default = parse(replace(kTwoHosts, "    workdir: /srv\n", "    workdir: /srv\n    init: default\n"));
  REQUIRE(explicit_default.scenario);
  CHECK_FALSE(explicit_default.scenario->needs_systemd());

  ScenarioLoad bad = parse(replace(kTwoHosts, "    workdir: /srv\n", "    workdir: /srv\n    init: sysvinit\n"));
  CAPTURE(messages(bad));
  CHECK_FALSE(bad.scenario);
  CHECK(mentions(bad, "scenario.yaml:19:11: hosts[1].init: 'sysvinit' is not one of: default, systemd"));
  ScenarioLoad not_scalar = parse(replace(kMinimal, "image: breakfix/base:bookworm\n",
                                          "image: breakfix/base:bookworm\ninit: [systemd]\n"));
  CHECK_FALSE(not_scalar.scenario);
  CHECK(mentions(not_scalar, "scenario.yaml:7:7: init: "));

  // With hosts:, a top-level init is the single-host shorthand out of place.
  ScenarioLoad top = parse(replace(kTwoHosts, "hosts:\n", "init: systemd\nhosts:\n"));
  CAPTURE(messages(top));
  CHECK_FALSE(top.scenario);
  CHECK(mentions(top, "'init' at the top level is shorthand for a single host; with 'hosts:' write it under the host"));
}

TEST_CASE("progress: false keeps a check out of the progress runs, a non-boolean is an error") {
  ScenarioLoad quiet = parse(replace(kMinimal, "    run: test -f /etc/motd\n", "    progress: false\n    run: test -f /etc/motd\n"));
  REQUIRE(quiet.scenario);
  CHECK_FALSE(quiet.scenario->checks[0].progress);
  CHECK(parse(kMinimal).scenario->checks[0].progress);
  ScenarioLoad bad = parse(replace(kMinimal, "    run: test -f /etc/motd\n", "    progress: sometimes\n    run: test -f /etc/motd\n"));
  CAPTURE(messages(bad));
  CHECK_FALSE(bad.scenario);
  CHECK(mentions(bad, "checks[0].progress"));
}

TEST_CASE("expected_changes: a host's patterns load as written, on the shorthand host or under hosts") {
  ScenarioLoad shorthand = parse(replace(kMinimal, "image: breakfix/base:bookworm\n",
                                         "image: breakfix/base:bookworm\n"
                                         "expected_changes: [/srv/wordfreq/**, /usr/local/bin/wordfreq]\n"));
  CAPTURE(messages(shorthand));
  REQUIRE(shorthand.scenario);
  CHECK(shorthand.scenario->hosts[0].expected_changes ==
        std::vector<std::string>{"/srv/wordfreq/**", "/usr/local/bin/wordfreq"});

  ScenarioLoad hosts = parse(replace(kTwoHosts, "    workdir: /srv\n",
                                     "    workdir: /srv\n"
                                     "    expected_changes:\n"
                                     "      - /etc/sudoers.d/*\n"));
  CAPTURE(messages(hosts));
  REQUIRE(hosts.scenario);
  CHECK(hosts.scenario->find_host("db")->expected_changes == std::vector<std::string>{"/etc/sudoers.d/*"});
  CHECK(hosts.scenario->find_host("app")->expected_changes.empty());
}

TEST_CASE("expected_changes: a pattern that is not absolute, hides everything or repeats is reported where it stands") {
  ScenarioLoad load = parse(replace(kMinimal, "image: breakfix/base:bookworm\n",
                                    "image: breakfix/base:bookworm\n"
                                    "expected_changes: [etc/x, \"/**\", /a**, /srv/../etc, /srv/, /ok, /ok]\n"));
  CAPTURE(messages(load));
  CHECK_FALSE(load.scenario);
  CHECK(mentions(load, "scenario.yaml:7:20: expected_changes[0]: must be an absolute path such as /srv/app/** (got 'etc/x')"));
  CHECK(mentions(load, "expected_changes[1]: '/**' matches every path, which would hide any tampering"));
  CHECK(mentions(load, "expected_changes[2]: '**' must stand alone between slashes"));
  CHECK(mentions(load, "expected_changes[3]: must not contain '.' or '..' components"));
  CHECK(mentions(load, "expected_changes[4]: must not end with '/' (write /srv/** for a directory and what is in it)"));
  CHECK(mentions(load, "expected_changes[6]: duplicate pattern '/ok'"));
}

TEST_CASE("Lint: a '!' command before a script's last line, and a check's long sleep, are warnings") {
  const std::string negated = replace(kMinimal, "    run: test -f /etc/motd\n",
                                      "    run: |\n      ! grep -q secret /etc/motd\n      # a comment\n      test -f /etc/motd\n      ! false\n");
  ScenarioLoad load = parse(negated);
  CAPTURE(messages(load));
  REQUIRE(load.scenario);  // warnings only
  CHECK(mentions(load, "warning: checks[0].run: line 1 of the script: a '!' command that is not the last has no effect"));
  CHECK_FALSE(mentions(load, "line 4 of the script"));  // the last line's '!' decides the result
  load = parse(replace(kMinimal, "    run: test -f /etc/motd\n", "    run: sleep 1; sleep 0.5m && test -f /etc/motd\n"));
  CHECK(mentions(load, "warning: checks[0].run: sleeps 30 s"));
  load = parse(replace(kMinimal, "    run: test -f /etc/motd\n", "    run: sleep 5; nosleep 9; test -f /etc/motd\n"));
  CHECK(load.diagnostics.empty());
}

TEST_CASE("lib: helpers come from the scenario's directory or the library's lib/, and every script gets them") {
  testing::TempDir dir;
  dir.write("lib/lab.sh", "blend_in() { :; }\n");
  dir.write("lab/own.sh", "mine() { :; }");
  dir.write("lab/scenario.yaml", "");
  const std::string text = std::string(kMinimal) + "lib: [own.sh, lab.sh]\n";
  ScenarioLoad load = parse(text, dir.path() / "lab");
  CAPTURE(messages(load));
  REQUIRE(load.scenario);
  const Scenario& scenario = *load.scenario;
  REQUIRE(scenario.faults[0].run.lib);
  CHECK(*scenario.faults[0].run.lib == "# own.sh\nmine() { :; }\n# lab.sh\nblend_in() { :; }\n");
  CHECK(scenario.checks[0].run.lib == scenario.faults[0].run.lib);  // one copy, shared
  CHECK(scenario.solution[0].run.lib == scenario.faults[0].run.lib);
  CHECK(mentions(parse(std::string(kMinimal) + "lib: [../lab/own.sh]\n", dir.path() / "lab"),
                 "lib[0]: '../lab/own.sh' is not a file name"));
  CHECK(mentions(parse(std::string(kMinimal) + "lib: [nope.sh]\n", dir.path() / "lab"), "lib[0]: no helper 'nope.sh' in "));
  CHECK_FALSE(parse(kMinimal, dir.path() / "lab").scenario->faults[0].run.lib);
  // A helper that is a symlink out of its directory is not read.
  dir.write("secret", "root:x:0:0\n");
  std::filesystem::create_symlink(dir.path() / "secret", dir.path() / "lib/leak.sh");
  load = parse(std::string(kMinimal) + "lib: [leak.sh]\n", dir.path() / "lab");
  CHECK_FALSE(load.scenario);
  CHECK(mentions(load, "lib[0]: 'leak.sh' leads outside "));
}

TEST_CASE("variants: each replaces what it sets, keeps the scenario's rest, and is checked like the scenario") {
  const std::string text = std::string(kMinimal) + R"(variants:
  - name: deleted
    difficulty: easy
    faults: [{name: remove motd, run: rm -f /etc/motd}]
  - name: emptied
    faults: [{name: empty motd, run: rm -f /etc/motd}]
    solution: [{run: echo hello > /etc/motd}]
    hints: [{text: look at /etc/motd}]
)";
  ScenarioLoad load = parse(text);
  CAPTURE(messages(load));
  REQUIRE(load.scenario);
  REQUIRE(load.scenario->variants.size() == 2);
  const ScenarioPtr emptied = with_variant(load.scenario, 1);
  CHECK(emptied->variant == "emptied");
  CHECK(emptied->variants.empty());
  CHECK(emptied->faults[0].name == "empty motd");
  CHECK(emptied->solution[0].run.text == "echo hello > /etc/motd");
  CHECK(emptied->hints.size() == 1);
  CHECK(emptied->difficulty == Difficulty::Medium);  // the scenario's
  const ScenarioPtr deleted = with_variant(load.scenario, 0);
  CHECK(deleted->difficulty == Difficulty::Easy);
  CHECK(deleted->solution[0].run.text == "touch /etc/motd");  // the scenario's
  CHECK(with_variant(load.scenario, 7) == load.scenario);

  // A variant's scripts are checked as the scenario's are; names are unique.
  load = parse(std::string(kMinimal) + "variants:\n  - {name: a1, faults: [{name: f, host: nope, run: 'true'}]}\n"
               "  - {name: a1}\n");
  CHECK(mentions(load, "variants[0].faults[0].host: unknown host 'nope'"));
  CHECK(mentions(load, "variants[1].name: duplicate variant name 'a1'"));
  // Without faults of its own a scenario needs every variant to bring them.
  std::string no_faults = replace(kMinimal, "faults:\n  - name: remove motd\n    run: rm -f /etc/motd\n", "");
  load = parse(no_faults + "variants:\n  - {name: a1, faults: [{name: f, run: 'true'}]}\n  - {name: b2}\n");
  CHECK(mentions(load, "variants[1]: variant 'b2' has no faults, and neither has the scenario"));
  CHECK_FALSE(mentions(load, "variant 'a1'"));
}

TEST_CASE("unchanged: paths become a critical guard of their host, bad paths are errors") {
  ScenarioLoad load = parse(replace(kMinimal, "image: breakfix/base:bookworm\n",
                                    "image: breakfix/base:bookworm\nunchanged: [/srv/data/, /usr/local/bin/tool]\n"));
  CAPTURE(messages(load));
  REQUIRE(load.scenario);
  const Host& host = load.scenario->hosts[0];
  CHECK(host.unchanged == std::vector<std::string>{"/srv/data/", "/usr/local/bin/tool"});
  const Check& guard = load.scenario->checks.back();
  CHECK(guard.name == "main: files that must not change");
  CHECK(guard.expect == CheckExpectation::Guard);
  CHECK(guard.critical);
  CHECK(guard.run.text.find(unchanged_listing_command(host)) != std::string::npos);
  CHECK(guard.run.text.find("${BREAKFIX_UNCHANGED_MAIN-unknown}") != std::string::npos);
  CHECK(unchanged_listing_command(host) ==
        "find '/srv/data/' '/usr/local/bin/tool' -xdev -type f -exec sha256sum {} \\; 2>/dev/null | sort -k 2");
  for (const char* bad : {"relative/path", "/", "/srv/it's", "/srv/*"}) {
    CAPTURE(bad);
    load = parse(replace(kMinimal, "image: breakfix/base:bookworm\n",
                         std::string("image: breakfix/base:bookworm\nunchanged: [\"") + bad + "\"]\n"));
    CHECK_FALSE(load.scenario);
    CHECK(mentions(load, "unchanged[0]: "));
  }
}
