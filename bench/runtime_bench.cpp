// Launch-to-ready and exec throughput: breakfix's runtime against the docker CLI a user
// would otherwise script, side by side in one run (docs/benchmarks.md).
//
//   launch: create + start a one-host lab and run a trivial setup script in it
//           breakfix: LabProvisioner::provision + run_exec("true")
//           docker CLI: `docker run -d --network none ...` + `docker exec C true`
//   exec:   `cat` of a 200 MiB file inside the host, output read to the end
//           breakfix: run_exec with a discarding sink; docker CLI: `docker exec C cat F > /dev/null`
//
// usage: breakfix_runtime_bench [RUNS]   (default 10; needs breakfix/base:bookworm)

#include <boost/process.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "breakfix/docker_runtime.h"
#include "breakfix/lab.h"
#include "breakfix/scenario_loader.h"
#include "bench_util.h"

namespace bp = boost::process;
using namespace breakfix;
using namespace breakfix::bench;

namespace {

constexpr std::int64_t kBulkBytes = 200LL << 20;

int docker(const std::vector<std::string>& args, std::string* out = nullptr) {
  bp::ipstream output;
  bp::child child(bp::search_path("docker"), bp::args(args), bp::std_out > output, bp::std_err > bp::null);
  std::string text, line;
  while (std::getline(output, line)) text += line + "\n";
  child.wait();
  if (out) *out = text;
  return child.exit_code();
}

ExecSpec shell(const std::string& container, const std::string& command) {
  ExecSpec spec;
  spec.container = container;
  spec.command = {"/bin/bash", "-c", command};
  return spec;
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = runs_argument(argc, argv);
  auto runtime = connect_docker();
  ScenarioLoad load = parse_scenario(kOneHostLab, "bench.yaml", "/nonexistent");
  require(load.scenario != nullptr, "loading the bench scenario");
  LabProvisioner provisioner(*runtime, {});
  const auto discard = [](OutputStream, std::string_view) {};

  std::vector<double> ours_launch, cli_launch, ours_exec, cli_exec;
  for (int run = 0; run < runs; ++run) {
    // breakfix
    const std::string session = "bench-" + std::to_string(run);
    auto start = SteadyClock::now();
    auto lab = provisioner.provision(*load.scenario, session, nullptr);
    require(lab.ok(), "provision");
    auto setup = run_exec(*runtime, shell(lab->entry().container_id, "true"), "", discard, std::chrono::seconds(30));
    require(setup.ok() && setup->exit_code == 0, "setup exec");
    ours_launch.push_back(ms_since(start));

    // the docker CLI, the same container settings that matter for start-up
    start = SteadyClock::now();
    std::string id;
    require(docker({"run", "-d", "--network", "none", "--label", "breakfix.managed=true", "--label",
                    "breakfix.session=bench-cli", "--entrypoint", "/bin/sh", "breakfix/base:bookworm", "-c",
                    "while :; do sleep 2147483647 & wait; done"},
                   &id) == 0,
            "docker run");
    id.erase(id.find_last_not_of("\n") + 1);
    require(docker({"exec", id, "true"}) == 0, "docker exec");
    cli_launch.push_back(ms_since(start));

    // throughput, in the same two containers
    const std::string make_blob = "head -c " + std::to_string(kBulkBytes) + " /dev/zero > /tmp/blob";
    require(run_exec(*runtime, shell(lab->entry().container_id, make_blob), "", discard, std::chrono::seconds(60)).ok(),
            "make blob");
    std::int64_t received = 0;
    start = SteadyClock::now();
    auto cat = run_exec(*runtime, shell(lab->entry().container_id, "cat /tmp/blob"), "",
                        [&](OutputStream, std::string_view data) { received += static_cast<std::int64_t>(data.size()); },
                        std::chrono::seconds(120));
    ours_exec.push_back(ms_since(start));
    require(cat.ok() && received == kBulkBytes, "cat through breakfix");

    require(docker({"exec", id, "sh", "-c", make_blob}) == 0, "make blob (cli)");
    start = SteadyClock::now();
    bp::child cli_cat(bp::search_path("docker"), "exec", id, "cat", "/tmp/blob", bp::std_out > bp::null);
    cli_cat.wait();
    cli_exec.push_back(ms_since(start));
    require(cli_cat.exit_code() == 0, "docker exec cat");

    require(provisioner.remove_session(session).ok(), "remove");
    docker({"rm", "-f", id});
    std::fprintf(stderr, "run %d/%d: launch %.0f ms vs %.0f ms, cat %.0f ms vs %.0f ms\n", run + 1, runs,
                 ours_launch.back(), cli_launch.back(), ours_exec.back(), cli_exec.back());
  }

  const double mib = static_cast<double>(kBulkBytes) / (1 << 20);
  std::printf("| measurement (median of %d) | breakfix runtime | docker CLI | breakfix / CLI |\n", runs);
  std::printf("|---|---|---|---|\n");
  std::printf("| launch-to-ready, one host (ms) | %.0f | %.0f | %.2f |\n", median(ours_launch), median(cli_launch),
              median(ours_launch) / median(cli_launch));
  std::printf("| exec `cat` 200 MiB (MiB/s) | %.0f | %.0f | %.2f |\n", mib / median(ours_exec) * 1000,
              mib / median(cli_exec) * 1000, median(cli_exec) / median(ours_exec));
  return 0;
}
