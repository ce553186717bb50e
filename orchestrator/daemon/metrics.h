#pragma once

// The daemon's metrics, served at GET /metrics in the Prometheus text exposition format
// (0.0.4). prometheus-cpp's core library (Debian's prometheus-cpp-dev) holds the values
// and writes the text; its HTTP exposer is not used, the API serves the text itself.
// Every method is thread-safe.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/gateway_metrics.h"

namespace breakfix {

// The daemon's metrics; the gateway counts through its own seam (gateway_metrics.h).
class Metrics final : public GatewayMetrics {
 public:
  Metrics();

  // Gauges filled in at scrape time by the caller (sessions by state). Each call
  // replaces the last: a state missing from `counts` reads 0.
  void set_sessions_by_state(const std::map<std::string, int>& counts);

  // The warm pool (sessions.warm), by scenario: its target, the labs warm now, and those
  // being prepared. Replaced whole, as set_sessions_by_state.
  struct WarmLabs {
    int target = 0;
    int warm = 0;
    int preparing = 0;
  };
  void set_warm_labs(const std::map<std::string, WarmLabs>& by_scenario);

  void observe_launch(double seconds);   // session created -> ready
  void observe_grading(double seconds);  // one final grading
  void count_session_started() { sessions_started_.Increment(); }
  void count_session_failed() { sessions_failed_.Increment(); }
  void count_ssh_connection() override { ssh_connections_.Increment(); }
  void ssh_connection_opened() override { ssh_open_.Increment(); }
  void ssh_connection_closed() override { ssh_open_.Decrement(); }
  void count_auth_failure() override { auth_failures_.Increment(); }
  void count_runtime_error() override { runtime_errors_.Increment(); }
  void count_api_request(int status);

  // The whole exposition, with # HELP and # TYPE for every family.
  std::string render() const;

 private:
  prometheus::Registry registry_;
  // Held across a whole set_sessions_by_state and a whole render, so that a scrape never
  // sees half of one picture of the sessions.
  mutable std::mutex sessions_mutex_;
  prometheus::Family<prometheus::Gauge>& sessions_;
  std::vector<std::string> session_states_;  // every state label shown so far
  prometheus::Family<prometheus::Gauge>& warm_labs_;
  std::vector<std::string> warm_scenarios_;  // every scenario shown so far
  prometheus::Counter& sessions_started_;
  prometheus::Counter& sessions_failed_;
  prometheus::Histogram& launch_;
  prometheus::Histogram& grading_;
  prometheus::Counter& ssh_connections_;
  prometheus::Gauge& ssh_open_;
  prometheus::Counter& auth_failures_;
  prometheus::Counter& runtime_errors_;
  prometheus::Family<prometheus::Counter>& api_requests_;
};

}  // namespace breakfix
