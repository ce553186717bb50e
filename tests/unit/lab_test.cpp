#include <doctest/doctest.h>

#include "breakfix/lab.h"
#include "breakfix/scenario_loader.h"
#include "fake_runtime.h"
#include "temp_dir.h"
#include "test_scenarios.h"

using namespace breakfix;
using breakfix::testing::FakeRuntime;
using breakfix::testing::kOneHostScenario;
using breakfix::testing::kTwoHostScenario;

namespace {

ScenarioPtr lab_scenario(const std::string& text, const std::filesystem::path& dir = "/nonexistent") {
  ScenarioLoad load = parse_scenario(text, "scenario.yaml", dir);
  REQUIRE(load.scenario);
  return load.scenario;
}

FakeRuntime runtime_with_base() {
  FakeRuntime runtime;
  runtime.images["breakfix/base:bookworm"] = "sha256:base1";
  return runtime;
}

}  // namespace

TEST_CASE("A one-host lab is one started container with the scenario's limits and no network") {
  FakeRuntime runtime = runtime_with_base();
  LabProvisioner provisioner(runtime, {});
  auto lab = provisioner.provision(*lab_scenario(kOneHostScenario), "s1", nullptr);
  REQUIRE(lab.ok());
  CHECK(lab->network.empty());
  REQUIRE(lab->hosts.size() == 1);
  CHECK(lab->entry().name == "main");
  CHECK(lab->entry().container_name == "breakfix-s1-main");
  const ContainerSpec& spec = runtime.specs.at(lab->entry().container_id);
  CHECK(spec.image == "breakfix/base:bookworm");
  CHECK(spec.hostname == "main");
  CHECK(spec.network.empty());
  CHECK(spec.cpus == 0.5);
  CHECK(spec.memory_bytes == 128LL << 20);
  CHECK(spec.pids == 64);
  CHECK(spec.labels.at(kLabelSession) == "s1");
  CHECK(spec.labels.at(kLabelHost) == "main");
  CHECK(spec.labels.at(kLabelManaged) == "true");
  CHECK(runtime.containers.at(lab->entry().container_id).state == ContainerState::Running);
  CHECK(runtime.count_calls("create_network") == 0);
}

TEST_CASE("Several hosts share an internal network of their own and resolve each other by name") {
  FakeRuntime runtime = runtime_with_base();
  LabProvisioner provisioner(runtime, {});
  auto lab = provisioner.provision(*lab_scenario(kTwoHostScenario), "s2", nullptr);
  REQUIRE(lab.ok());
  CHECK(lab->network == "breakfix-s2");
  CHECK(runtime.network_kinds.at("breakfix-s2") == NetworkKind::Internal);
  CHECK(lab->entry().name == "app");
  for (const LabHost& host : lab->hosts) {
    const ContainerSpec& spec = runtime.specs.at(host.container_id);
    CHECK(spec.network == "breakfix-s2");
    CHECK(spec.aliases == std::vector<std::string>{host.name});
    CHECK(spec.dns == std::vector<std::string>{"127.0.0.1"});  // unknown names go nowhere
  }
}

TEST_CASE("network: outside is refused unless the daemon allows it") {
  FakeRuntime runtime = runtime_with_base();
  const ScenarioPtr scenario = lab_scenario(std::string(kTwoHostScenario) + "network: outside\n");
  auto refused = LabProvisioner(runtime, {}).provision(*scenario, "s3", nullptr);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::PermissionDenied);
  CHECK(runtime.containers.empty());

  auto allowed = LabProvisioner(runtime, {.allow_outside_network = true}).provision(*scenario, "s3", nullptr);
  REQUIRE(allowed.ok());
  CHECK(runtime.network_kinds.at("breakfix-s3") == NetworkKind::Outside);
}

TEST_CASE("A failure half way leaves nothing of the session behind") {
  for (int failing_create : {1, 2}) {
    CAPTURE(failing_create);
    FakeRuntime runtime = runtime_with_base();
    runtime.fail_create_container_at = failing_create;
    auto lab = LabProvisioner(runtime, {}).provision(*lab_scenario(kTwoHostScenario), "s4", nullptr);
    REQUIRE_FALSE(lab.ok());
    CHECK(lab.error().message == "injected create failure");
    CHECK(runtime.containers.empty());
    CHECK(runtime.networks.empty());
  }
  FakeRuntime runtime = runtime_with_base();
  runtime.fail_start_container_at = 2;
  auto lab = LabProvisioner(runtime, {}).provision(*lab_scenario(kTwoHostScenario), "s4", nullptr);
  REQUIRE_FALSE(lab.ok());
  CHECK(runtime.containers.empty());
  CHECK(runtime.networks.empty());
}

TEST_CASE("A missing image is a clear error that says how to get it, before anything is created") {
  FakeRuntime runtime;  // no base image
  auto lab = LabProvisioner(runtime, {}).provision(*lab_scenario(kOneHostScenario), "s5", nullptr);
  REQUIRE_FALSE(lab.ok());
  CHECK(lab.error().code == ErrorCode::NotFound);
  CHECK(lab.error().message.find("'breakfix/base:bookworm'") != std::string::npos);
  CHECK(lab.error().message.find("breakfix image base") != std::string::npos);
  CHECK(runtime.count_calls("create_") == 0);
}

TEST_CASE("A bad session id is refused") {
  FakeRuntime runtime = runtime_with_base();
  auto lab = LabProvisioner(runtime, {}).provision(*lab_scenario(kOneHostScenario), "../etc", nullptr);
  REQUIRE_FALSE(lab.ok());
  CHECK(lab.error().code == ErrorCode::Invalid);
}

TEST_CASE("A built image is tagged by content and rebuilt only when the content or its base changes") {
  breakfix::testing::TempDir dir;
  dir.write("image/Dockerfile", "FROM breakfix/base:bookworm\nRUN true\n");
  std::string text = kOneHostScenario;
  text.replace(text.find("image: breakfix/base:bookworm"), 29, "build: ./image");
  const ScenarioPtr scenario = lab_scenario(text, dir.path());
  FakeRuntime runtime = runtime_with_base();
  LabProvisioner provisioner(runtime, {});
  std::vector<std::string> progress;
  auto first = provisioner.ensure_image(*scenario, scenario->hosts[0], [&](std::string_view line) {
    progress.emplace_back(line);
  });
  REQUIRE(first.ok());
  CHECK(first->rfind("breakfix/runtime-test-main:", 0) == 0);
  CHECK(runtime.count_calls("build_image") == 1);
  CHECK_FALSE(progress.empty());

  auto again = provisioner.ensure_image(*scenario, scenario->hosts[0], nullptr);
  REQUIRE(again.ok());
  CHECK(*again == *first);
  CHECK(runtime.count_calls("build_image") == 1);  // cached

  dir.write("image/app.conf", "port = 8080\n");
  auto changed = provisioner.ensure_image(*scenario, scenario->hosts[0], nullptr);
  REQUIRE(changed.ok());
  CHECK(*changed != *first);
  CHECK(runtime.count_calls("build_image") == 2);

  runtime.images["breakfix/base:bookworm"] = "sha256:base2";  // `breakfix image base` ran again
  auto rebased = provisioner.ensure_image(*scenario, scenario->hosts[0], nullptr);
  REQUIRE(rebased.ok());
  CHECK(*rebased != *changed);
  CHECK(runtime.count_calls("build_image") == 3);
}

TEST_CASE("Removing a session removes its hosts and network and nothing else") {
  FakeRuntime runtime = runtime_with_base();
  LabProvisioner provisioner(runtime, {});
  REQUIRE(provisioner.provision(*lab_scenario(kTwoHostScenario), "keep", nullptr).ok());
  REQUIRE(provisioner.provision(*lab_scenario(kTwoHostScenario), "drop", nullptr).ok());
  REQUIRE(provisioner.remove_session("drop").ok());
  CHECK(runtime.containers.size() == 2);
  CHECK(runtime.networks.size() == 1);
  for (const auto& [id, container] : runtime.containers) CHECK(container.labels.at(kLabelSession) == "keep");
  CHECK(provisioner.remove_session("drop").ok());  // nothing left: still fine
}

TEST_CASE("Garbage collection removes what no live session owns, a dry run only lists it") {
  FakeRuntime runtime = runtime_with_base();
  LabProvisioner provisioner(runtime, {});
  REQUIRE(provisioner.provision(*lab_scenario(kTwoHostScenario), "live", nullptr).ok());
  REQUIRE(provisioner.provision(*lab_scenario(kOneHostScenario), "dead", nullptr).ok());
  runtime.containers["foreign"] = {"foreign", "someone-elses", "img", ContainerState::Running, {}, {}, ""};

  auto dry = provisioner.collect_garbage({"live"}, /*dry_run=*/true);
  REQUIRE(dry.ok());
  CHECK(dry->containers == std::vector<std::string>{"breakfix-dead-main"});
  CHECK(runtime.containers.size() == 4);

  auto report = provisioner.collect_garbage({"live"}, /*dry_run=*/false);
  REQUIRE(report.ok());
  CHECK(report->containers == std::vector<std::string>{"breakfix-dead-main"});
  CHECK(runtime.containers.size() == 3);
  CHECK(runtime.containers.count("foreign") == 1);  // not ours: never touched
}

TEST_CASE("Garbage collection goes on past what it cannot remove or reach, and names each") {
  FakeRuntime runtime = runtime_with_base();
  LabProvisioner provisioner(runtime, {});
  REQUIRE(provisioner.provision(*lab_scenario(kOneHostScenario), "stuck", nullptr).ok());
  REQUIRE(provisioner.provision(*lab_scenario(kOneHostScenario), "dead", nullptr).ok());
  // A host whose removal fails (its machine stopped answering between list and remove),
  // and one the backend could not even inspect.
  std::string stuck;
  for (const auto& [id, container] : runtime.containers) {
    if (container.name == "breakfix-stuck-main") stuck = id;
  }
  runtime.fail_call = [stuck](const std::string& call) -> std::optional<Error> {
    if (call == "remove_container " + stuck) {
      return make_error(ErrorCode::Failed, "Missing event connection with target cluster member");
    }
    return std::nullopt;
  };
  runtime.unreachable = {"breakfix-gone-main (its LXD cluster member m2 is offline)"};
  auto report = provisioner.collect_garbage({}, /*dry_run=*/false);
  REQUIRE(report.ok());
  CHECK(report->containers == std::vector<std::string>{"breakfix-dead-main"});  // the rest is still done
  REQUIRE(report->left.size() == 2);
  CHECK(report->left[0] == "container breakfix-stuck-main: Missing event connection with target cluster member");
  CHECK(report->left[1] == "container breakfix-gone-main (its LXD cluster member m2 is offline)");
}

TEST_CASE("A session's lab is found again from its labels") {
  FakeRuntime runtime = runtime_with_base();
  LabProvisioner provisioner(runtime, {});
  auto made = provisioner.provision(*lab_scenario(kTwoHostScenario), "s6", nullptr);
  REQUIRE(made.ok());
  auto found = provisioner.find_lab("s6");
  REQUIRE(found.ok());
  CHECK(found->network == "breakfix-s6");
  CHECK(found->hosts.size() == 2);
  CHECK(found->entry().name == "app");
  CHECK(found->find("db")->container_id == made->find("db")->container_id);
  CHECK(provisioner.find_lab("nope").error().code == ErrorCode::NotFound);
}

TEST_CASE("A host's tmpfs list becomes the container's tmpfs mounts") {
  FakeRuntime runtime = runtime_with_base();
  LabProvisioner provisioner(runtime, {});
  std::string text = kOneHostScenario;
  const std::string anchor = "image: breakfix/base:bookworm\n";
  const auto at = text.find(anchor);
  REQUIRE(at != std::string::npos);
  text.insert(at + anchor.size(), "tmpfs:\n  - {path: /srv/spool, size: 4Mi, inodes: 500, mode: \"0700\"}\n");
  auto lab = provisioner.provision(*lab_scenario(text), "s3", nullptr);
  REQUIRE(lab.ok());
  const ContainerSpec& spec = runtime.specs.at(lab->entry().container_id);
  REQUIRE(spec.tmpfs.size() == 1);
  CHECK(spec.tmpfs[0].path == "/srv/spool");
  CHECK(spec.tmpfs[0].size_bytes == 4LL << 20);
  CHECK(spec.tmpfs[0].inodes == 500);
  CHECK(spec.tmpfs[0].mode == 0700);
}

TEST_CASE("A host's snapshot is an image of the session: its reader is no host, and removal and gc take both") {
  FakeRuntime runtime = runtime_with_base();
  runtime.image_labels["breakfix/scenario-web:0123"] = {{kLabelManaged, "true"}};  // built from a scenario
  runtime.images["breakfix/scenario-web:0123"] = "sha256:built";
  LabProvisioner provisioner(runtime, {});
  auto lab = provisioner.provision(*lab_scenario(kOneHostScenario), "s7", nullptr);
  REQUIRE(lab.ok());
  auto image = provisioner.snapshot_host("s7", lab->entry());
  REQUIRE(image.ok());
  CHECK(runtime.count_calls("commit_container " + lab->entry().container_id + " breakfix/snapshot:s7.main") == 1);
  // Made from the snapshot, and so carrying the host's labels, the reader is no host of the lab.
  CHECK(runtime.image_labels.at("breakfix/snapshot:s7.main").at(kLabelHost) == "main");
  auto reader = provisioner.open_snapshot("s7", "main", *image);
  REQUIRE(reader.ok());
  auto again = provisioner.open_snapshot("s7", "main", *image);  // an interrupted grading's reader is replaced
  REQUIRE(again.ok());
  CHECK(runtime.containers.count(*reader) == 0);
  CHECK(runtime.specs.at(*again).name == "breakfix-s7-main.ready");
  CHECK(runtime.containers.at(*again).labels.at(kLabelHost) == "main");
  auto found = provisioner.find_lab("s7");
  REQUIRE(found.ok());
  CHECK(found->hosts.size() == 1);

  auto dry = provisioner.collect_garbage({}, /*dry_run=*/true);
  REQUIRE(dry.ok());
  CHECK(dry->images == std::vector<std::string>{"breakfix/snapshot:s7.main"});  // never a scenario's image
  REQUIRE(provisioner.remove_session("s7").ok());
  CHECK(runtime.containers.empty());
  CHECK(runtime.image_labels.count("breakfix/snapshot:s7.main") == 0);
  CHECK(runtime.image_labels.count("breakfix/scenario-web:0123") == 1);
}
