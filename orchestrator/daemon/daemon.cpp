#include "daemon/daemon.h"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <signal.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <nlohmann/json.hpp>

#include "breakfix/runtime_factory.h"
#include "breakfix/scenario_catalog.h"
#include "breakfix/version.h"
#include "daemon/api.h"
#include "daemon/credentials.h"
#include "daemon/host_key.h"
#include "daemon/http_server.h"
#include "daemon/metrics.h"
#include "session/warm_pool.h"
#include "gateway/ssh_gateway.h"
#include "session/plan_sessions.h"
#include "session/session_engine.h"

namespace breakfix {
namespace {

// "%*" in a pattern: the message as a JSON string, quotes included, for JSON-lines logs.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&, spdlog::memory_buf_t& out) override {
    const std::string text = nlohmann::json(std::string(message.payload.data(), message.payload.size())).dump();
    out.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

void set_up_logging(const DaemonConfig& config) {
  auto logger = std::make_shared<spdlog::logger>("breakfix", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (config.log_format == "json") {
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","message":%*})");
  } else {
    formatter->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(spdlog::level::from_str(config.log_level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

// The scenarios in force; SIGHUP swaps them whole, readers keep the copy they took.
class CatalogHolder {
 public:
  std::shared_ptr<const ScenarioCatalog> get() const {
    std::lock_guard lock(mutex_);
    return catalog_;
  }
  void set(std::shared_ptr<const ScenarioCatalog> catalog) {
    std::lock_guard lock(mutex_);
    catalog_ = std::move(catalog);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const ScenarioCatalog> catalog_ = std::make_shared<ScenarioCatalog>();
};

// Loads the scenario dirs. On a reload, a scenario whose file now fails to lint keeps
// its previous version, so a typo saved in an editor never takes a scenario away.
std::shared_ptr<const ScenarioCatalog> load_catalog(const DaemonConfig& config, const ScenarioCatalog* previous) {
  auto catalog = std::make_shared<ScenarioCatalog>(load_scenario_catalog(config.scenario_dirs));
  std::set<std::string> broken_files;
  for (const Diagnostic& diagnostic : catalog->diagnostics) {
    if (diagnostic.severity == Severity::Error) {
      broken_files.insert(diagnostic.where.file);
      spdlog::warn("scenario: {}", format_diagnostic(diagnostic));
    }
  }
  if (previous) {
    for (const ScenarioPtr& old : previous->scenarios) {
      if (catalog->find(old->id)) continue;
      if (broken_files.count(old->source_file.string())) {
        spdlog::warn("scenario {}: {} fails to lint; keeping the version loaded before", old->id, old->source_file.string());
        catalog->scenarios.push_back(old);
      } else {
        spdlog::info("scenario {} is gone from the scenario dirs", old->id);
      }
    }
    std::sort(catalog->scenarios.begin(), catalog->scenarios.end(),
              [](const ScenarioPtr& a, const ScenarioPtr& b) { return a->id < b->id; });
  }
  spdlog::info("{} scenarios loaded from {} files", catalog->scenarios.size(), catalog->files_read);
  return catalog;
}

std::string this_host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}


// How long SIGTERM waits for work under way (a provisioning, a grading) to finish.
constexpr std::chrono::seconds kShutdownGrace{25};
// SIGTERM to exit, at the most (systemd's TimeoutStopSec is longer).
constexpr std::chrono::seconds kShutdownBound{32};

// Blocks SIGTERM, SIGINT and SIGHUP for this thread and every thread made after it, so
// that only sigtimedwait in the main loop takes them; returns that set.
sigset_t block_daemon_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  for (int signal_number : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, signal_number);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return signals;
}

// The engine's options from the config; its work runs on `workers`, and work that
// throws is logged instead of ending the process.
EngineOptions engine_options_from(const DaemonConfig& config, boost::asio::thread_pool& workers) {
  EngineOptions options;
  options.retention = config.retention;
  options.progress_interval = config.progress_interval;
  options.lab.allow_outside_network = config.allow_outside_network;
  options.report_dir = config.data_dir / "reports";
  options.recordings_dir = config.data_dir / "recordings";
  options.max_live_sessions = config.max_sessions;
  options.max_disk_bytes = static_cast<std::uint64_t>(config.max_disk_mib) * 1024 * 1024;
  options.disk_check_interval = config.disk_check_interval;
  options.post = [&workers](WorkFn work) {
    boost::asio::post(workers, [work = std::move(work)] {
      try {
        work();
      } catch (const std::exception& error) {
        spdlog::error("session work failed: {}", error.what());
      }
    });
  };
  options.log_error = [](const std::string& session, const std::string& message) {
    if (session.empty()) spdlog::error("sessions: {}", message);
    else spdlog::error("session {}: {}", session, message);
  };
  return options;
}

// Logs each state change and turns it into metrics.
StateChangeFn log_and_count_changes(Metrics& metrics) {
  return [&metrics](const SessionView& view, SessionState before) {
    spdlog::info("session {} ({}, {}): {} -> {}{}", view.id, view.scenario_id, view.candidate, to_string(before),
                 to_string(view.state), view.failure.empty() ? "" : ": " + view.failure);
    // A claimed warm lab's launch was its making, long before: its wait is no launch time.
    if (view.state == SessionState::Ready && before != SessionState::Warm) {
      metrics.observe_launch(std::chrono::duration<double>(view.ready_at - view.created).count());
    } else if (view.state == SessionState::Failed) {
      // A warm lab removed unused failed nothing.
      if (view.failure != kWarmLabRemoved && view.failure != kWarmLabStale) metrics.count_session_failed();
      if (before == SessionState::Provisioning || before == SessionState::Injecting) metrics.count_runtime_error();
    } else if (view.state == SessionState::Graded) {
      metrics.observe_grading(std::chrono::duration<double>(view.graded_at - view.ended_at).count());
    }
  };
}

GatewayOptions gateway_options_from(const DaemonConfig& config, const HostKeyInfo& host_key) {
  GatewayOptions options;
  options.listen = config.ssh_listen;
  options.host_key = host_key.file;
  options.recordings_dir = config.data_dir / "recordings";
  options.max_connections = config.ssh_max_connections;
  options.max_connections_per_session = config.ssh_max_connections_per_session;
  options.max_unauthenticated_per_address = config.ssh_max_unauthenticated_per_address;
  options.key_exchange_timeout = config.ssh_key_exchange_timeout;
  options.login_grace = config.ssh_login_grace;
  options.logins.free_failures = config.ssh_free_failures;
  options.logins.max_failures = config.ssh_max_failures;
  options.logins.window = config.ssh_failure_window;
  options.logins.first_delay = config.ssh_failure_delay;
  options.logins.max_password_checks = config.ssh_max_password_checks;
  options.recordings.max_bytes = static_cast<std::uint64_t>(config.ssh_max_recording_mib) * 1024 * 1024;
  options.recordings.max_files = config.ssh_max_recording_files;
  for (const Interviewer& interviewer : config.interviewers) {
    for (const std::string& key : interviewer.ssh_keys) {
      // The config checked each line; the gateway compares "<type> <base64>".
      if (auto normal = validate_public_key(key)) options.watcher_keys.push_back(*normal);
    }
  }
  return options;
}

// Opens the API's listeners the config names; the first that fails is the error.
Status listen_api(HttpServer& http, const DaemonConfig& config) {
  if (!config.api_socket.empty()) {
    if (Status listening = http.listen_unix(config.api_socket, config.api_socket_mode, config.api_socket_group); !listening) {
      return listening;
    }
    spdlog::info("API on unix socket {}", config.api_socket.string());
  }
  if (!config.api_tcp.empty()) {
    if (Status listening = http.listen_tcp(config.api_tcp); !listening) return listening;
    spdlog::info("API on TCP {} (bearer tokens), port {}", config.api_tcp, http.tcp_port());
  }
  return {};
}

// Sessions left by the previous run resume once the engine answers (they need it to find
// their hosts again); until then /healthz says the runtime is down, and each attempt()
// tries again.
class SessionRecovery {
 public:
  SessionRecovery(Runtime& runtime, SessionEngine& engine, PlanSessions& plans)
      : runtime_(runtime), engine_(engine), plans_(plans) {}

  bool done() const { return done_; }

  void attempt() {
    if (done_) return;
    if (Status up = runtime_.ping(); !up) {
      spdlog::warn("{}; sessions resume when it answers", up.error().message);
      return;
    }
    if (!sessions_done_) {
      auto count = engine_.recover();
      if (!count) {
        spdlog::error("recovering sessions: {}", count.error().message);
        return;
      }
      sessions_done_ = true;
      if (*count > 0) spdlog::info("resumed {} sessions from the store", *count);
    }
    // The plans' layer after the engine: it asks the engine about its parts.
    auto plans = plans_.recover();
    if (!plans) {
      spdlog::error("recovering plans' sessions: {}", plans.error().message);
      return;
    }
    done_ = true;
    if (*plans > 0) spdlog::info("resumed {} plans' sessions from the store", *plans);
  }

 private:
  Runtime& runtime_;
  SessionEngine& engine_;
  PlanSessions& plans_;
  bool sessions_done_ = false;  // the engine's part, which must not run twice
  bool done_ = false;
};

// The daemon's life once it serves: a tick a second, SIGHUP reloads the scenarios, and
// SIGTERM or SIGINT returns.
void run_until_stopped(const sigset_t& signals, const DaemonConfig& config, CatalogHolder& catalog,
                       SessionRecovery& recovery, SessionEngine& engine, PlanSessions& plans, WarmPool& warm_pool,
                       boost::asio::thread_pool& workers) {
  // The plans' tick waits on the engine (ending a part takes its work lock): it runs on
  // the pool, one at a time, so this loop keeps every deadline and signal on time.
  std::atomic<bool> plans_ticking{false};
  int ticks = 0;
  for (;;) {
    timespec one_second{1, 0};
    const int received = sigtimedwait(&signals, nullptr, &one_second);
    if (received == SIGTERM || received == SIGINT) {
      spdlog::info("{}: stopping; sessions keep running and are resumed at the next start",
                   received == SIGTERM ? "SIGTERM" : "SIGINT");
      return;
    }
    if (received == SIGHUP) {
      spdlog::info("SIGHUP: reloading scenarios");
      catalog.set(load_catalog(config, catalog.get().get()));
      continue;
    }
    if (!recovery.done() && ++ticks % 5 == 0) recovery.attempt();
    if (recovery.done()) {
      engine.tick();
      // After the recovery: the warm labs it resumed count, none is made twice.
      warm_pool.refill();
      if (!plans_ticking.exchange(true)) {
        boost::asio::post(workers, [&plans, &plans_ticking] {
          plans.tick();
          plans_ticking = false;
        });
      }
    }
  }
}

// Ends the process if the shutdown it watches takes longer than `bound`; joined when
// the shutdown finishes in time, as it does unless something blocks that should not.
class ShutdownWatchdog {
 public:
  explicit ShutdownWatchdog(std::chrono::seconds bound)
      : thread_([this, bound] {
          std::unique_lock lock(mutex_);
          if (done_.wait_for(lock, bound, [this] { return finished_; })) return;
          spdlog::warn("still stopping after {}s; exiting now (sessions resume at the next start)", bound.count());
          spdlog::default_logger()->flush();
          std::_Exit(0);
        }) {}
  ~ShutdownWatchdog() {
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    done_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  bool finished_ = false;
  std::thread thread_;  // last: it starts once the rest is built
};

// However the labs behave, the daemon is gone within kShutdownBound: scripts are
// cancelled first, and a watchdog ends the process if anything still blocks. Returns
// once no session work is left and every thread is joined.
void stop_serving(SessionEngine& engine, HttpServer& http, SshGateway& gateway, boost::asio::thread_pool& workers) {
  engine.shutdown();
  ShutdownWatchdog watchdog(kShutdownBound);
  http.stop();
  gateway.stop();
  const auto give_up = std::chrono::steady_clock::now() + kShutdownGrace;
  while (engine.busy_sessions() > 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (int busy = engine.busy_sessions(); busy > 0) {
    // Their state is in the store as of their last event: the next start fails an
    // interrupted provisioning cleanly and re-runs an interrupted grading.
    spdlog::warn("{} sessions still busy after {}s; leaving them to the next start", busy, kShutdownGrace.count());
    spdlog::default_logger()->flush();
    std::_Exit(0);
  }
  workers.join();
}

}  // namespace

int serve(const DaemonConfig& config, const ServeOptions& options) {
  set_up_logging(config);
  spdlog::info("breakfix {} starting (config {})", kVersion, options.config_file.string());
  const sigset_t signals = block_daemon_signals();
  auto fail = [](const std::string& message) {
    spdlog::error("{}", message);
    return 1;
  };

  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) return fail("cannot create the data dir " + config.data_dir.string() + ": " + ec.message());
  auto store = make_sqlite_store(config.data_dir / "breakfix.db");
  if (!store) return fail(store.error().message);
  auto host_key = ensure_host_key(config.data_dir);
  if (!host_key) return fail(host_key.error().message);
  RuntimeChoice choice;
  choice.backend = config.backend;
  choice.docker_socket = config.docker_socket;
  choice.lxd_socket = config.lxd_socket;
  choice.lxd_pool = config.lxd_pool;
  choice.io_timeout = config.runtime_timeout;
  std::unique_ptr<Runtime> runtime = make_runtime(choice);

  CatalogHolder catalog;
  catalog.set(load_catalog(config, nullptr));
  Metrics metrics;
  SystemClock clock;
  boost::asio::thread_pool workers(static_cast<std::size_t>(config.provision_workers));
  // The gateway is made after the engine (it asks the engine about sessions); until then
  // there is nobody to tell.
  std::atomic<SshGateway*> gateway_for_notices{nullptr};
  // Likewise the plans' layer, made after the engine, words the notices of a plan's parts.
  std::atomic<PlanSessions*> plans_for_notices{nullptr};
  auto notices = [&gateway_for_notices, &plans_for_notices](const std::string& id, const std::string& notice) {
    PlanSessions* plans = plans_for_notices.load();
    const std::string text = plans ? plans->notice_text(id, notice) : notice;
    spdlog::info("session {}: {}", id, text);
    if (SshGateway* gateway = gateway_for_notices.load()) gateway->notice(id, text);
  };
  SessionEngine engine(*runtime, **store, clock, [&catalog](const std::string& id) { return catalog.get()->find(id); },
                       engine_options_from(config, workers), notices, log_and_count_changes(metrics));
  PlanSessions plans(engine, **store, clock, [&catalog](const std::string& id) { return catalog.get()->find_plan(id); },
                     config.data_dir / "reports");
  plans_for_notices = &plans;

  const CredentialAuthenticator authenticator;
  GatewayOptions gateway_options = gateway_options_from(config, *host_key);
  gateway_options.next_part_marker = kNextPartMarker;
  // Off the connection's thread: moving on ends a part and starts the next.
  gateway_options.on_next_part = [&plans, &workers](const std::string& session_id) {
    boost::asio::post(workers, [&plans, session_id] { plans.next_requested_from(session_id); });
  };
  SshGateway gateway(
      std::move(gateway_options),
      [&engine, &plans](const std::string& id, const std::string& host) {
        return plans.owns(id) ? plans.access(id, host) : engine.access(id);
      },
      authenticator, *runtime, &metrics);
  if (Status listening = gateway.listen(); !listening) return fail(listening.error().message);
  gateway.start();
  gateway_for_notices = &gateway;
  spdlog::info("ssh gateway on {} (port {})", config.ssh_listen, gateway.port());

  std::vector<std::string> tokens;
  for (const Interviewer& interviewer : config.interviewers) tokens.push_back(interviewer.token);
  WebConsole console(tokens, clock);
  ApiContext context;
  context.console = &console;
  context.gateway = &gateway;
  context.engine = &engine;
  context.plans = &plans;
  context.runtime = runtime.get();
  context.metrics = &metrics;
  context.config = &config;
  context.catalog = [&catalog] { return catalog.get(); };
  context.recordings_dir = config.data_dir / "recordings";
  context.ssh.host = config.ssh_public_host.empty() ? this_host_name() : config.ssh_public_host;
  context.ssh.port = config.ssh_public_port ? config.ssh_public_port : gateway.port();
  context.ssh.host_key_fingerprint = host_key->fingerprint;
  context.ssh.host_key_line = host_key->public_line;
  Api api(context);
  HttpLimits http_limits;
  http_limits.max_connections = config.api_max_connections;
  http_limits.request_timeout = config.api_request_timeout;
  HttpServer http([&api](const HttpRequest& request) { return api.handle(request); }, http_limits);
  if (Status listening = listen_api(http, config); !listening) return fail(listening.error().message);
  http.start();
  spdlog::info("ssh host key {} ({})", host_key->fingerprint, host_key->file.string());

  SessionRecovery recovery(*runtime, engine, plans);
  recovery.attempt();
  WarmPool warm_pool(engine, clock, config.warm);
  for (const auto& [scenario_id, target] : config.warm) {
    if (!catalog.get()->find(scenario_id)) {
      spdlog::warn("sessions.warm names scenario '{}', which the library does not have: its pool stays empty",
                   scenario_id);
    } else if (target > 0) {
      spdlog::info("warm pool: {} lab(s) of {} kept ready", target, scenario_id);
    }
  }
  if (options.on_ready) options.on_ready();
  spdlog::info("ready");
  run_until_stopped(signals, config, catalog, recovery, engine, plans, warm_pool, workers);

  gateway_for_notices = nullptr;
  plans_for_notices = nullptr;
  stop_serving(engine, http, gateway, workers);
  spdlog::info("stopped");
  return 0;
}

}  // namespace breakfix
