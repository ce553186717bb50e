// The two backends side by side in one run, for the same one-host lab (docs/benchmarks.md):
//
//   launch-to-ready: LabProvisioner::provision (create + start; on LXD, until systemd says
//                    the system is running) + a trivial setup exec, on Docker and on LXD
//   memory:          what each engine reports the lab's container using once ready
//                    (Docker: `docker stats`; LXD: the instance state's memory usage)
//
// usage: breakfix_backend_bench [RUNS]   (default 10; needs breakfix/base:bookworm on both:
//        breakfix image base && breakfix image base --backend lxd)

#include <boost/process.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.h"
#include "breakfix/lab.h"
#include "breakfix/runtime_factory.h"
#include "breakfix/scenario_loader.h"

namespace bp = boost::process;
using namespace breakfix;
using namespace breakfix::bench;

namespace {


std::string output_of(const std::string& program, const std::vector<std::string>& args) {
  bp::ipstream output;
  bp::child child(bp::search_path(program), bp::args(args), bp::std_out > output, bp::std_err > bp::null);
  std::string text, line;
  while (std::getline(output, line)) text += line + "\n";
  child.wait();
  require(child.exit_code() == 0, program + " " + (args.empty() ? "" : args.front()));
  return text;
}

// "12.5MiB / 23.5GiB" -> MiB
double docker_memory_mib(const std::string& container) {
  const std::string usage = output_of("docker", {"stats", "--no-stream", "--format", "{{.MemUsage}}", container});
  double value = 0;
  char unit[8] = {0};
  require(std::sscanf(usage.c_str(), "%lf%7[A-Za-z]", &value, unit) == 2, "reading docker stats");
  const std::string u = unit;
  if (u == "KiB" || u == "kB") return value / 1024;
  if (u == "GiB" || u == "GB") return value * 1024;
  if (u == "B") return value / (1 << 20);
  return value;
}

double lxd_memory_mib(const std::string& instance) {
  const auto state = nlohmann::json::parse(output_of("lxc", {"query", "/1.0/instances/" + instance + "/state"}));
  return state.at("memory").at("usage").get<double>() / (1 << 20);
}

struct Measured {
  std::vector<double> launch_ms, memory_mib;
};

void measure(Backend backend, const Scenario& scenario, int run, Measured& into) {
  RuntimeChoice choice;
  choice.backend = backend;
  auto runtime = make_runtime(choice);
  LabProvisioner provisioner(*runtime, {});
  const std::string session = std::string(backend == Backend::Lxd ? "bench-lxd-" : "bench-docker-") + std::to_string(run);
  const auto start = SteadyClock::now();
  auto lab = provisioner.provision(scenario, session, nullptr);
  require(lab.ok(), "provision");
  ExecSpec setup;
  setup.container = lab->entry().container_id;
  setup.command = {"/bin/true"};
  auto ran = run_exec(*runtime, setup, "", [](OutputStream, std::string_view) {}, std::chrono::seconds(30));
  require(ran.ok() && ran->exit_code == 0, "setup exec");
  into.launch_ms.push_back(ms_since(start));
  into.memory_mib.push_back(backend == Backend::Lxd ? lxd_memory_mib(lab->entry().container_id)
                                                    : docker_memory_mib(lab->entry().container_id));
  require(provisioner.remove_session(session).ok(), "remove");
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = runs_argument(argc, argv);
  ScenarioLoad load = parse_scenario(kOneHostLab, "bench.yaml", "/nonexistent");
  require(load.scenario != nullptr, "loading the bench scenario");
  Measured docker, lxd;
  for (int run = 0; run < runs; ++run) {  // alternating, so that drift hits both alike
    measure(Backend::Docker, *load.scenario, run, docker);
    measure(Backend::Lxd, *load.scenario, run, lxd);
    std::fprintf(stderr, "run %d/%d: launch %.0f ms (Docker) vs %.0f ms (LXD), memory %.1f vs %.1f MiB\n", run + 1,
                 runs, docker.launch_ms.back(), lxd.launch_ms.back(), docker.memory_mib.back(), lxd.memory_mib.back());
  }
  std::printf("| measurement (median of %d) | Docker | LXD | LXD / Docker |\n", runs);
  std::printf("|---|---|---|---|\n");
  std::printf("| launch-to-ready, one host (ms) | %.0f | %.0f | %.2f |\n", median(docker.launch_ms),
              median(lxd.launch_ms), median(lxd.launch_ms) / median(docker.launch_ms));
  std::printf("| memory of the ready lab (MiB) | %.1f | %.1f | %.2f |\n", median(docker.memory_mib),
              median(lxd.memory_mib), median(lxd.memory_mib) / median(docker.memory_mib));
  return 0;
}
