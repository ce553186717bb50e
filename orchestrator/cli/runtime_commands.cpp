#include "cli/runtime_commands.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>

#include "breakfix/base_image.h"
#include "breakfix/toolbox.h"
#include "breakfix/runtime_factory.h"
#include "breakfix/lab.h"
#include "breakfix/scenario_catalog.h"
#include "cli/exit_codes.h"
#include "cli/scenario_command.h"

namespace breakfix::cli {

std::unique_ptr<Runtime> connect_runtime(const std::string& backend) {
  auto choice = runtime_choice_from_environment();
  if (!choice) {
    std::cerr << "breakfix: " << choice.error().message << "\n";
    return nullptr;
  }
  if (!backend.empty()) {
    auto parsed = parse_backend(backend);
    if (!parsed) {
      std::cerr << "breakfix: --backend " << backend << ": docker or lxd\n";
      return nullptr;
    }
    choice->backend = *parsed;
  }
  auto runtime = make_runtime(*choice);
  if (Status ping = runtime->ping(); !ping) {
    std::cerr << "breakfix: " << ping.error().message << "\n";
    return nullptr;
  }
  return runtime;
}

namespace {

void print_progress(std::string_view line) { std::cout << line << std::endl; }

int fail(const Error& error) {
  std::cerr << "breakfix: " << error.message << "\n";
  return kExitFailure;
}

struct ImageBuildOptions {
  std::vector<std::filesystem::path> paths;
  std::string backend;
};

// The packages a backend's base image adds to base_image_packages(): LXD hosts are
// system containers that boot systemd.
std::vector<std::string> backend_packages(const std::string& backend) {
  if (backend == "lxd") return {"systemd", "systemd-sysv", "dbus"};
  return {};
}

const char* kBackendHelp = "The runtime: docker or lxd (default: $BREAKFIX_BACKEND, else docker)";

int build_scenario_images(const ImageBuildOptions& options) {
  const ScenarioCatalog catalog = load_scenario_catalog(options.paths.empty() ? default_scenario_dirs() : options.paths);
  for (const Diagnostic& diagnostic : catalog.diagnostics) std::cerr << format_diagnostic(diagnostic) << "\n";
  if (has_errors(catalog.diagnostics)) return kExitFailure;
  auto runtime = connect_runtime(options.backend);
  if (!runtime) return kExitFailure;
  LabProvisioner provisioner(*runtime, {});
  std::size_t done = 0, total = 0;
  for (const ScenarioPtr& scenario : catalog.scenarios) total += scenario->hosts.size();
  for (const ScenarioPtr& scenario : catalog.scenarios) {
    for (const Host& host : scenario->hosts) {
      std::cout << "[" << ++done << "/" << total << "] " << scenario->id << "/" << host.name << std::endl;
      auto image = provisioner.ensure_image(*scenario, host, [&](std::string_view line) {
        std::cout << "  " << line << std::endl;
      });
      if (!image) return fail(image.error());
      std::cout << "  -> " << *image << std::endl;
    }
  }
  return kExitOk;
}

}  // namespace

void add_runtime_commands(CLI::App& app, int& exit_code) {
  CLI::App* image = app.add_subcommand("image", "Build the images labs run on");
  image->require_subcommand(1);

  auto base_options = std::make_shared<BaseImageOptions>();
  auto base_backend = std::make_shared<std::string>();
  CLI::App* base = image->add_subcommand(
      "base", "Build the offline base image breakfix/base:bookworm from Debian packages (debootstrap, then import), "
              "and the grader's toolbox breakfix/toolbox:bookworm (static bash and busybox)");
  base->add_flag("--rebuild", base_options->rebuild, "Build even when the image exists");
  base->add_option("--mirror", base_options->mirror, "Debian mirror (default: the host's apt mirror)");
  base->add_option("--work-dir", base_options->work_dir, "Where the root file system is made")
      ->capture_default_str();
  base->add_option("--tag", base_options->tag, "Image tag")->capture_default_str();
  base->add_option("--backend", *base_backend, kBackendHelp)->check(CLI::IsMember({"docker", "lxd"}));
  base->callback([base_options, base_backend, &exit_code] {
    const char* from_environment = std::getenv("BREAKFIX_BACKEND");
    const std::string backend = !base_backend->empty() ? *base_backend : from_environment ? from_environment : "";
    base_options->extra_packages = backend_packages(backend);
    auto runtime = connect_runtime(backend);
    if (!runtime) {
      exit_code = kExitFailure;
      return;
    }
    Status built = build_base_image(*runtime, *base_options, print_progress);
    if (built) {
      ToolboxOptions toolbox;
      toolbox.rebuild = base_options->rebuild;
      toolbox.work_dir = base_options->work_dir;
      built = build_toolbox_image(*runtime, toolbox, print_progress);
    }
    exit_code = built ? kExitOk : fail(built.error());
  });

  auto build_options = std::make_shared<ImageBuildOptions>();
  CLI::App* build = image->add_subcommand(
      "build", "Build the images of scenarios whose hosts use build: (skipped when their content is unchanged)");
  build->add_option("paths", build_options->paths, "Scenarios, scenario directories or libraries (default: as lint)");
  build->add_option("--backend", build_options->backend, kBackendHelp)->check(CLI::IsMember({"docker", "lxd"}));
  build->callback([build_options, &exit_code] { exit_code = build_scenario_images(*build_options); });

  auto dry_run = std::make_shared<bool>(false);
  auto gc_backend = std::make_shared<std::string>();
  CLI::App* gc = app.add_subcommand(
      "gc", "Remove every container and network labelled by breakfix that no live session owns (after a crash)");
  gc->add_flag("--dry-run", *dry_run, "Only list what would be removed");
  gc->add_option("--backend", *gc_backend, kBackendHelp)->check(CLI::IsMember({"docker", "lxd"}));
  gc->callback([dry_run, gc_backend, &exit_code] {
    auto runtime = connect_runtime(*gc_backend);
    if (!runtime) {
      exit_code = kExitFailure;
      return;
    }
    // No session store yet (it comes with the session engine): every labelled object
    // is an orphan. With the daemon, the live sessions are the store's.
    // Nothing is live: the daemon is down (after a crash).
    auto report = LabProvisioner(*runtime, {}).collect_garbage(std::set<std::string>{}, *dry_run);
    if (!report) {
      exit_code = fail(report.error());
      return;
    }
    const char* verb = *dry_run ? "would remove" : "removed";
    for (const std::string& name : report->containers) std::cout << verb << " container " << name << "\n";
    for (const std::string& name : report->networks) std::cout << verb << " network " << name << "\n";
    for (const std::string& name : report->images) std::cout << verb << " image " << name << "\n";
    std::cout << verb << " " << report->containers.size() << " containers, " << report->networks.size()
              << " networks and " << report->images.size() << " snapshot images\n";
    // What could not be inspected or removed is said, and the run fails, so that a gc
    // from cron is seen to be unfinished.
    for (const std::string& what : report->left) std::cerr << "breakfix gc: left " << what << "\n";
    if (!report->left.empty()) std::cerr << "breakfix gc: run it again once what is left can be reached\n";
    exit_code = report->left.empty() ? kExitOk : kExitFailure;
  });
}

}  // namespace breakfix::cli
