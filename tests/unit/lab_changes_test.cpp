// Tamper evidence and the candidate's changes over the fake runtime, whose containers
// have file systems that its changes, commits and archives are computed from the way
// Docker's are. Each test: an image, a host made from it, what setup and the faults did,
// the baseline at ready, what the candidate did, and the comparison at the end.

#include <doctest/doctest.h>

#include "breakfix/scenario_loader.h"
#include "fake_runtime.h"
#include "session/lab_changes.h"

using namespace breakfix;
using breakfix::testing::FakeFile;
using breakfix::testing::FakeFs;
using breakfix::testing::FakeRuntime;

namespace {

FakeFile dir(std::uint32_t mode = 0755) { return {FileType::Directory, "", "", mode, 0, 0}; }
FakeFile file(std::string content, std::uint32_t mode = 0644) { return {FileType::Regular, std::move(content), "", mode, 0, 0}; }

constexpr const char* kChangesScenario = R"(apiVersion: breakfix/v1
id: lab
title: Lab
kind: break-fix
description: d
image: img
expected_changes: [/srv/app/**, /usr/local/bin/app]
faults: [{name: f, run: "true"}]
checks: [{name: c, run: "true"}]
solution: [{run: "true"}]
)";

struct Lab1 {
  FakeRuntime runtime;
  ScenarioPtr scenario;
  Lab lab;
  std::string id;  // the host's container

  Lab1() {
    runtime.images["img"] = "sha256:img";
    runtime.image_files["img"] = {
        {"/etc", dir()},
        {"/etc/app.conf", file("name = shop\nport = 8080\nworkers = 4\n")},
        {"/etc/pam.d", dir()},
        {"/etc/pam.d/su", file("auth sufficient pam_rootok.so\n")},
        {"/srv", dir()},
        {"/srv/app", dir()},
        {"/srv/app/main.c", file("int main() { return 1; }\n")},
        {"/tmp", dir(01777)},
        {"/usr", dir()},
        {"/usr/bin", dir()},
        {"/usr/bin/bash", file(std::string("\x7f" "ELF bash\0", 10), 0755)},
        {"/usr/bin/su", file(std::string("\x7f" "ELF su\0", 8), 04755)},
        {"/usr/local", dir()},
        {"/usr/local/bin", dir()},
        {"/var", dir()},
        {"/var/log", dir()},
    };
    ScenarioLoad load = parse_scenario(kChangesScenario, "scenario.yaml", "/nonexistent");
    REQUIRE(load.scenario);
    scenario = load.scenario;
    ContainerSpec spec;
    spec.name = "breakfix-s1-main";
    spec.image = "img";
    spec.labels = {{kLabelManaged, "true"}, {kLabelSession, "s1"}, {kLabelHost, "main"}};
    id = *runtime.create_container(spec);
    lab = Lab{"s1", "", {{"main", id, spec.name, true}}};
  }

  FakeFs& fs() { return runtime.files[id]; }

  // Setup and faults have run; the session becomes ready.
  std::vector<HostBaseline> ready(const ChangeLimits& limits = {}) {
    auto baselines = snapshot_lab(runtime, lab, {});
    REQUIRE(baselines.ok());
    REQUIRE(list_baseline_changes(runtime, lab, *baselines, limits).ok());
    return *baselines;
  }

  LabChanges end(const std::vector<HostBaseline>& baseline, const ChangeLimits& limits = {}) {
    return compare_lab(runtime, lab, *scenario, baseline, {}, limits);
  }
};

const PathChange* find(const LabChanges& changes, const std::string& path) {
  for (const PathChange& change : changes.hosts.at(0).changes) {
    if (change.path == path) return &change;
  }
  return nullptr;
}

std::vector<std::string> listed(const LabChanges& changes) {
  std::vector<std::string> paths;
  for (const PathChange& change : changes.hosts.at(0).changes) paths.push_back(change.path);
  return paths;
}

}  // namespace

TEST_CASE("A tool replaced after ready is tampering, the repaired config is a change with its diff") {
  Lab1 l;
  // The fault: a wrong port. Setup started a service that logs.
  l.fs()["/etc/app.conf"].content = "name = shop\nport = 9090\nworkers = 4\n";
  l.fs()["/var/log/app.log"] = file("started\n");
  const auto baseline = l.ready();

  // The candidate: repairs the port, fakes su, leaves notes; the service logs on.
  l.fs()["/etc/app.conf"].content = "name = shop\nport = 8080\nworkers = 4\n";
  l.fs()["/usr/bin/su"] = file("#!/bin/sh\nexit 0\n", 04755);
  l.fs()["/root"] = dir(0700);
  l.fs()["/root/notes.txt"] = file("port was 9090\n");
  l.fs()["/var/log/app.log"].content = "started\nrequest\n";
  const LabChanges changes = l.end(baseline);

  CHECK(changes.tampered() == true);
  CHECK(listed(changes) ==
        std::vector<std::string>{"/etc/app.conf", "/root/notes.txt", "/usr/bin/su", "/var/log/app.log"});
  const PathChange* su = find(changes, "/usr/bin/su");
  CHECK(su->kind == ChangeKind::Modified);
  CHECK(su->what == "content");
  CHECK(su->tampering);
  CHECK(su->no_diff == "binary");  // it was an ELF file; the script is shown for created files only
  const PathChange* conf = find(changes, "/etc/app.conf");
  CHECK_FALSE(conf->tampering);
  CHECK(conf->diff ==
        "--- /etc/app.conf (at ready)\n+++ /etc/app.conf (at the end)\n@@ -1,3 +1,3 @@\n name = shop\n-port = 9090\n"
        "+port = 8080\n workers = 4\n");
  const PathChange* notes = find(changes, "/root/notes.txt");
  CHECK(notes->kind == ChangeKind::Created);
  CHECK(notes->diff.find("+port was 9090\n") != std::string::npos);
  const PathChange* log = find(changes, "/var/log/app.log");
  CHECK(log->noisy);
  CHECK(log->diff.empty());
  // The snapshot and its reader stay until the session is removed; comparing again
  // replaces the reader.
  CHECK(l.runtime.containers.size() == 2);
  CHECK(l.runtime.image_labels.size() == 1);
  CHECK(l.end(baseline).tampered() == true);
  CHECK(l.runtime.containers.size() == 2);
  REQUIRE(LabProvisioner(l.runtime, {}).remove_session("s1").ok());
  CHECK(l.runtime.containers.empty());
  CHECK(l.runtime.image_labels.empty());
}

TEST_CASE("Nothing done since ready lists nothing, and what setup and faults changed is not the candidate's") {
  Lab1 l;
  l.fs()["/etc/app.conf"].content = "port = 1\n";
  l.fs()["/usr/bin/su"].mode = 0755;  // a fault that drops setuid: protected, but before ready
  l.fs().erase("/etc/pam.d/su");
  l.fs()["/srv/new"] = file("made by setup\n");
  const auto baseline = l.ready();
  const LabChanges changes = l.end(baseline);
  CHECK(changes.tampered() == false);
  CHECK(listed(changes).empty());
  CHECK(changes.hosts[0].cut.empty());
}

TEST_CASE("What the scenario expects the candidate to change is listed, with diffs, and is not tampering") {
  Lab1 l;
  const auto baseline = l.ready();
  l.fs()["/srv/app/main.c"].content = "int main() { return 0; }\n";
  l.fs()["/srv/app/main.o"] = file(std::string("obj\0", 4));
  l.fs()["/usr/local/bin/app"] = file(std::string("\x7f" "ELF app\0", 9), 0755);
  const LabChanges changes = l.end(baseline);
  CHECK(changes.tampered() == false);
  REQUIRE(listed(changes) == std::vector<std::string>{"/srv/app/main.c", "/srv/app/main.o", "/usr/local/bin/app"});
  const PathChange* installed = find(changes, "/usr/local/bin/app");
  CHECK(installed->expected);
  CHECK_FALSE(installed->tampering);
  CHECK(find(changes, "/srv/app/main.c")->diff.find("-int main() { return 1; }\n+int main() { return 0; }\n") !=
        std::string::npos);
  CHECK(find(changes, "/srv/app/main.o")->no_diff == "binary");
}

TEST_CASE("Mode, owner and symlink changes are told apart from content, deletions and creations are listed") {
  Lab1 l;
  l.fs()["/srv/made-by-setup"] = file("x\n");
  l.fs()["/usr/bin/sh"] = {FileType::Symlink, "", "dash", 0777, 0, 0};
  const auto baseline = l.ready();
  l.fs()["/usr/bin/bash"].mode = 04755;              // a setuid shell
  l.fs()["/etc/app.conf"].uid = 1000;                // chown
  l.fs()["/usr/bin/sh"].link_target = "/tmp/evil";   // a symlink made by setup, retargeted
  l.fs().erase("/srv/made-by-setup");                 // setup's file, deleted
  l.fs().erase("/etc/pam.d/su");                      // the image's file, deleted
  l.fs()["/etc/sudoers.d"] = dir();                   // created with a file in it
  l.fs()["/etc/sudoers.d/me"] = file("me ALL=(ALL) NOPASSWD: ALL\n", 0440);
  const LabChanges changes = l.end(baseline);

  CHECK(find(changes, "/usr/bin/bash")->what == "mode 0755 -> 4755");
  CHECK(find(changes, "/usr/bin/bash")->tampering);
  CHECK(find(changes, "/etc/app.conf")->what == "owner 0:0 -> 1000:0");
  CHECK_FALSE(find(changes, "/etc/app.conf")->tampering);
  CHECK(find(changes, "/usr/bin/sh")->what == "target dash -> /tmp/evil");
  CHECK(find(changes, "/srv/made-by-setup")->kind == ChangeKind::Deleted);
  CHECK(find(changes, "/srv/made-by-setup")->diff.find("-x\n") != std::string::npos);
  CHECK(find(changes, "/etc/pam.d/su")->kind == ChangeKind::Deleted);
  CHECK(find(changes, "/etc/pam.d/su")->tampering);
  CHECK(find(changes, "/etc/sudoers.d/me")->kind == ChangeKind::Created);
  CHECK(find(changes, "/etc/sudoers.d/me")->tampering);
  CHECK_FALSE(find(changes, "/etc/sudoers.d"));  // a directory is implied by what is in it
  CHECK(changes.tampered() == true);
}

TEST_CASE("Without the list of changes at ready, the snapshot alone says what existed then") {
  Lab1 l;
  l.fs()["/srv/made-by-setup"] = file("v1\n");
  auto baselines = snapshot_lab(l.runtime, l.lab, {});  // the daemon stopped before listing the changes
  REQUIRE(baselines.ok());
  l.fs()["/srv/made-by-setup"].content = "v2\n";
  l.fs()["/srv/new"] = file("n\n");
  const LabChanges changes = l.end(*baselines);
  REQUIRE(listed(changes) == std::vector<std::string>{"/srv/made-by-setup", "/srv/new"});
  CHECK(find(changes, "/srv/made-by-setup")->kind == ChangeKind::Modified);
  CHECK(find(changes, "/srv/new")->kind == ChangeKind::Created);
  REQUIRE(changes.hosts[0].cut.size() == 1);
  CHECK(changes.hosts[0].cut[0].find("were not listed") != std::string::npos);
  CHECK(changes.tampered() == false);
}

TEST_CASE("What the candidate did while the changes at ready were listed is told by the snapshot") {
  Lab1 l;
  auto baselines = snapshot_lab(l.runtime, l.lab, {});
  REQUIRE(baselines.ok());
  l.fs()["/srv/racy"] = file("made in the first second\n");  // listed as if setup had made it
  l.fs()["/srv/kept"] = file("also\n");
  REQUIRE(list_baseline_changes(l.runtime, l.lab, *baselines).ok());
  l.fs().erase("/srv/racy");
  const LabChanges changes = l.end(*baselines);
  CHECK(listed(changes) == std::vector<std::string>{"/srv/kept"});  // no "deleted /srv/racy"
  CHECK(find(changes, "/srv/kept")->kind == ChangeKind::Created);
}

TEST_CASE("Files of one directory are read with one archive request per side, not one each") {
  Lab1 l;
  for (int i = 0; i < 5; ++i) l.fs()["/etc/app" + std::to_string(i)] = file("v1\n");
  const auto baseline = l.ready();
  for (int i = 0; i < 5; ++i) l.fs()["/etc/app" + std::to_string(i)].content = "v2\n";
  l.runtime.calls.clear();
  const LabChanges changes = l.end(baseline);
  CHECK(listed(changes).size() == 5);
  CHECK(l.runtime.count_calls("read_tree") == 2);
  CHECK(l.runtime.count_calls("read_tree " + l.id + " /etc") == 1);
}

TEST_CASE("A candidate who creates far too many files costs only the limits, and says so") {
  Lab1 l;
  const auto baseline = l.ready();
  for (int i = 0; i < 50; ++i) l.fs()["/tmp/junk" + std::to_string(i)] = file("x");
  ChangeLimits limits;
  limits.max_tracked_paths = 10;
  limits.max_listed_paths = 5;
  const LabChanges clean = l.end(baseline, limits);
  CHECK(clean.tampered() == false);  // junk in /tmp is no tampering
  CHECK(listed(clean).size() == 5);
  REQUIRE(clean.hosts[0].cut.size() == 2);
  CHECK(clean.hosts[0].cut[0].find("more changed paths were not examined (over 10)") != std::string::npos);
  CHECK(clean.hosts[0].cut[1].find("more changed paths are not listed (over 5)") != std::string::npos);

  // Past the limit under protected paths, what was not examined counts as tampering.
  for (int i = 0; i < 20; ++i) l.fs()["/usr/bin/x" + std::to_string(i)] = file("x");
  const LabChanges flooded = l.end(baseline, limits);
  CHECK(flooded.hosts[0].protected_unexamined > 0);
  CHECK(flooded.tampered() == true);
}

TEST_CASE("A file too large to read is compared by size, the same size unread is unverified, and tampering if protected") {
  Lab1 l;
  l.fs()["/usr/bin/big"] = file(std::string(10000, 'a'), 0755);
  l.fs()["/srv/big"] = file(std::string(10000, 'a'));
  const auto baseline = l.ready();
  l.fs()["/usr/bin/big"].content = std::string(10000, 'b');  // same size, other content
  l.fs()["/srv/big"].content = std::string(20000, 'b');
  ChangeLimits limits;
  limits.max_request_bytes = 4096;
  const LabChanges changes = l.end(baseline, limits);
  const PathChange* tool = find(changes, "/usr/bin/big");
  REQUIRE(tool);
  CHECK(tool->unverified);
  CHECK(tool->tampering);
  CHECK(tool->what.find("not compared") != std::string::npos);
  const PathChange* data = find(changes, "/srv/big");
  REQUIRE(data);
  CHECK(data->what == "content (9 KiB -> 19 KiB)");
  CHECK_FALSE(data->unverified);
}

TEST_CASE("A huge file the candidate created costs its header, not its content") {
  Lab1 l;
  const auto baseline = l.ready();
  l.fs()["/srv/huge.bin"] = file(std::string(10 << 20, 'z'));
  l.fs()["/srv/note.txt"] = file("small\n");
  ChangeLimits limits;
  limits.max_request_bytes = 1 << 20;  // far below the file: reading it would be cut and retried
  l.runtime.calls.clear();
  const LabChanges changes = l.end(baseline, limits);
  const PathChange* huge = find(changes, "/srv/huge.bin");
  REQUIRE(huge);
  CHECK(huge->kind == ChangeKind::Created);
  CHECK(huge->type == "file");
  CHECK(huge->no_diff == "larger than 128 KiB");
  CHECK_FALSE(huge->unverified);
  CHECK(find(changes, "/srv/note.txt")->diff.find("+small\n") != std::string::npos);
  // The archive of /srv stopped within the limit, in the huge file; note.txt, after it,
  // was read on its own.
  CHECK(l.runtime.count_calls("read_tree") == 2);
  CHECK(l.runtime.count_calls("read_tree " + l.id + " /srv/note.txt") == 1);
}

TEST_CASE("Diffs are bounded: large files get none, long diffs are cut, and the reason is given") {
  Lab1 l;
  std::string lines;
  for (int i = 0; i < 2000; ++i) lines += "line " + std::to_string(i) + "\n";
  l.fs()["/srv/long.txt"] = file(lines);
  l.fs()["/srv/huge.txt"] = file(std::string(200000, 'h'));
  const auto baseline = l.ready();
  std::string changed;
  for (int i = 0; i < 2000; ++i) changed += "changed " + std::to_string(i) + "\n";
  l.fs()["/srv/long.txt"].content = changed;
  l.fs()["/srv/huge.txt"].content = std::string(200000, 'H');
  ChangeLimits limits;
  limits.max_diff_bytes = 1000;
  const LabChanges changes = l.end(baseline, limits);
  const PathChange* longer = find(changes, "/srv/long.txt");
  CHECK(longer->diff.size() <= 1000);
  CHECK(longer->no_diff == "diff cut at 1000 bytes");
  CHECK(find(changes, "/srv/huge.txt")->diff.empty());
  CHECK(find(changes, "/srv/huge.txt")->no_diff == "larger than 128 KiB");
}

TEST_CASE("Without a baseline nothing is known, a lost snapshot is an error for that host") {
  Lab1 l;
  const LabChanges none = l.end({});
  CHECK(none.tampered() == std::nullopt);
  CHECK(none.unchecked.has_value());

  auto baseline = l.ready();
  l.fs()["/etc/app.conf"].content = "x\n";
  baseline[0].snapshot_image = "gone";
  l.runtime.image_files.erase("gone");
  l.runtime.images.clear();
  l.fs()["/usr/bin/su"].content = "fake";  // created vs. image: found without the snapshot
  const LabChanges lost = l.end(baseline);
  CHECK(lost.hosts[0].error.has_value());
  CHECK(lost.tampered() == std::nullopt);
}

TEST_CASE("Baselines survive JSON, and protected and noisy paths are the documented ones") {
  const std::vector<HostBaseline> baselines = {
      {"web", "sha256:1", true, {{"/etc/x", FsChangeKind::Modified}, {"/tmp/y", FsChangeKind::Deleted}}, false}};
  auto back = baselines_from_json(baselines_to_json(baselines));
  REQUIRE(back.ok());
  REQUIRE(back->size() == 1);
  CHECK((*back)[0].host == "web");
  CHECK((*back)[0].snapshot_image == "sha256:1");
  CHECK_FALSE((*back)[0].complete);
  CHECK((*back)[0].changes[1].path == "/tmp/y");
  CHECK((*back)[0].changes[1].kind == FsChangeKind::Deleted);
  CHECK_FALSE(baselines_from_json("{}").ok());
  CHECK((*back)[0].listed);
  CHECK_FALSE(baselines_from_json(R"([{"host":"a","snapshot":"b","listed":true,"complete":true,"changes":[["/x",9]]}])").ok());

  for (const char* path : {"/usr/bin/su", "/bin", "/lib64/ld-linux-x86-64.so.2", "/etc/ld.so.preload", "/etc/pam.d/su",
                           "/etc/sudoers", "/etc/sudoers.d/deploy", "/etc/security/limits.conf", "/usr/local/bin/curl",
                           "/etc/nsswitch.conf", "/.breakfix/bin/bash"}) {
    CAPTURE(path);
    CHECK(protected_path(path));
  }
  for (const char* path : {"/etc/passwd", "/etc/nginx/nginx.conf", "/usr2", "/etc/sudoers-not", "/root/.bashrc", "/srv/usr/bin"}) {
    CAPTURE(path);
    CHECK_FALSE(protected_path(path));
  }
  CHECK(noisy_path("/var/log/nginx/error.log"));
  CHECK(noisy_path("/run/nginx.pid"));
  CHECK(noisy_path("/root/.bash_history"));
  CHECK(noisy_path("/home/dev/.bash_history"));
  CHECK(noisy_path("/srv/app/__pycache__/x.cpython-311.pyc"));
  CHECK_FALSE(noisy_path("/etc/app.conf"));
  CHECK_FALSE(noisy_path("/var/lib/app/data"));
}

TEST_CASE("Each host of a lab is compared with its own baseline, and says which one was tampered with") {
  Lab1 l;
  ContainerSpec spec;
  spec.name = "breakfix-s1-db";
  spec.image = "img";
  spec.labels = {{kLabelManaged, "true"}, {kLabelSession, "s1"}, {kLabelHost, "db"}};
  const std::string db = *l.runtime.create_container(spec);
  l.lab.hosts.push_back({"db", db, spec.name, false});
  const auto baseline = l.ready();
  REQUIRE(baseline.size() == 2);
  l.runtime.files[db]["/etc/pam.d/su"].content = "auth sufficient pam_permit.so\n";
  l.fs()["/etc/app.conf"].content = "changed\n";
  const LabChanges changes = l.end(baseline);
  REQUIRE(changes.hosts.size() == 2);
  CHECK(changes.hosts[0].host == "main");
  CHECK_FALSE(changes.hosts[0].tampered());
  CHECK(changes.hosts[1].host == "db");
  CHECK(changes.hosts[1].tampered());
  REQUIRE(changes.hosts[1].changes.size() == 1);
  CHECK(changes.hosts[1].changes[0].diff.find("+auth sufficient pam_permit.so\n") != std::string::npos);
  CHECK(changes.tampered() == true);
}
