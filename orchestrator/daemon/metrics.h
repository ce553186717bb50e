#pragma once

// The daemon's metrics in the Prometheus text exposition format (version 0.0.4), served
// at GET /metrics. Hand-written: Debian 12 packages no Prometheus client library for C++.
// Every method is thread-safe; the values are plain atomics and a mutex around the
// histogram buckets, since updates are rare (a few per session event).

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/gateway_metrics.h"

namespace breakfix {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);  // seconds, ascending; +Inf is implied
  // Counts value in the first bucket whose bound is >= value (Prometheus' "le"). NaN is
  // dropped: it would turn _sum into NaN for the rest of the process's life.
  void observe(double value);
  // Lines "NAME_bucket{le=\"...\"} N", NAME_sum, NAME_count.
  void render(const std::string& name, std::string& out) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// The daemon's metrics; the gateway counts through its own seam (gateway_metrics.h).
class Metrics final : public GatewayMetrics {
 public:
  Metrics();

  // Gauges filled in at scrape time by the caller (sessions by state).
  void set_sessions_by_state(const std::map<std::string, int>& counts);

  void observe_launch(double seconds);   // session created -> ready
  void observe_grading(double seconds);  // one final grading
  void count_session_started() { sessions_started_++; }
  void count_session_failed() { sessions_failed_++; }
  void count_ssh_connection() override { ssh_connections_++; }
  void ssh_connection_opened() override { ssh_open_++; }
  void ssh_connection_closed() override { ssh_open_--; }
  void count_auth_failure() override { auth_failures_++; }
  void count_runtime_error() override { runtime_errors_++; }
  void count_api_request(int status);

  // The whole exposition, with # HELP and # TYPE for every family.
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, int> sessions_by_state_;
  std::map<int, std::uint64_t> api_requests_by_status_;
  Histogram launch_;
  Histogram grading_;
  std::atomic<std::uint64_t> sessions_started_{0};
  std::atomic<std::uint64_t> sessions_failed_{0};
  std::atomic<std::uint64_t> ssh_connections_{0};
  std::atomic<std::int64_t> ssh_open_{0};
  std::atomic<std::uint64_t> auth_failures_{0};
  std::atomic<std::uint64_t> runtime_errors_{0};
};

}  // namespace breakfix
