#include "daemon/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>

#include "breakfix/session_record.h"

namespace breakfix {
namespace {

prometheus::Counter& counter(prometheus::Registry& registry, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Histogram& histogram(prometheus::Registry& registry, const char* name, const char* help,
                                 const prometheus::Histogram::BucketBoundaries& bounds) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add({}, bounds);
}

}  // namespace

Metrics::Metrics()
    : sessions_(prometheus::BuildGauge()
                    .Name("breakfix_sessions")
                    .Help("Sessions currently known to the daemon, by state.")
                    .Register(registry_)),
      warm_labs_(prometheus::BuildGauge()
                     .Name("breakfix_warm_labs")
                     .Help("The warm pool by scenario: its target, labs warm now, labs being prepared.")
                     .Register(registry_)),
      sessions_started_(counter(registry_, "breakfix_sessions_started_total", "Sessions created since the daemon started.")),
      sessions_failed_(counter(registry_, "breakfix_sessions_failed_total", "Sessions that ended in the failed state.")),
      launch_(histogram(registry_, "breakfix_session_launch_seconds",
                        "Time from session creation until the lab is ready, in seconds.",
                        {0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300})),
      grading_(histogram(registry_, "breakfix_grading_seconds", "Time taken by one final grading, in seconds.",
                         {0.5, 1, 2, 5, 10, 30, 60, 120})),
      ssh_connections_(counter(registry_, "breakfix_ssh_connections_total", "SSH connections accepted by the gateway.")),
      ssh_open_(prometheus::BuildGauge()
                    .Name("breakfix_ssh_connections_open")
                    .Help("SSH connections currently open.")
                    .Register(registry_)
                    .Add({})),
      auth_failures_(counter(registry_, "breakfix_ssh_auth_failures_total", "Failed SSH authentication attempts.")),
      runtime_errors_(counter(registry_, "breakfix_runtime_errors_total", "Errors returned by the container runtime.")),
      api_requests_(prometheus::BuildCounter()
                        .Name("breakfix_api_requests_total")
                        .Help("HTTP API requests answered, by status code.")
                        .Register(registry_)) {
  // Every state is listed from the start, so a dashboard sees an explicit 0 instead of a
  // series that appears with the first session in that state.
  for (SessionState state : kSessionStates) {
    session_states_.emplace_back(to_string(state));
    sessions_.Add({{"state", session_states_.back()}});
  }
}

void Metrics::set_sessions_by_state(const std::map<std::string, int>& counts) {
  std::lock_guard lock(sessions_mutex_);
  // A state this build does not list is still worth seeing rather than hiding.
  for (const auto& [state, count] : counts) {
    if (std::find(session_states_.begin(), session_states_.end(), state) == session_states_.end()) {
      session_states_.push_back(state);
    }
  }
  for (const std::string& state : session_states_) {
    auto found = counts.find(state);
    sessions_.Add({{"state", state}}).Set(found == counts.end() ? 0 : found->second);
  }
}

void Metrics::set_warm_labs(const std::map<std::string, WarmLabs>& by_scenario) {
  std::lock_guard lock(sessions_mutex_);
  for (const auto& [scenario, labs] : by_scenario) {
    if (std::find(warm_scenarios_.begin(), warm_scenarios_.end(), scenario) == warm_scenarios_.end()) {
      warm_scenarios_.push_back(scenario);
    }
  }
  // A scenario that left the pool reads 0 rather than its last value.
  for (const std::string& scenario : warm_scenarios_) {
    auto found = by_scenario.find(scenario);
    const WarmLabs labs = found == by_scenario.end() ? WarmLabs{} : found->second;
    warm_labs_.Add({{"scenario", scenario}, {"kind", "target"}}).Set(labs.target);
    warm_labs_.Add({{"scenario", scenario}, {"kind", "warm"}}).Set(labs.warm);
    warm_labs_.Add({{"scenario", scenario}, {"kind", "preparing"}}).Set(labs.preparing);
  }
}

// NaN is dropped: it would turn _sum into NaN for the rest of the process's life.
void Metrics::observe_launch(double seconds) {
  if (!std::isnan(seconds)) launch_.Observe(seconds);
}

void Metrics::observe_grading(double seconds) {
  if (!std::isnan(seconds)) grading_.Observe(seconds);
}

void Metrics::count_api_request(int status) { api_requests_.Add({{"code", std::to_string(status)}}).Increment(); }

std::string Metrics::render() const {
  std::lock_guard lock(sessions_mutex_);
  return prometheus::TextSerializer().Serialize(registry_.Collect());
}

}  // namespace breakfix
