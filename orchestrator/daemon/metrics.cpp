#include "daemon/metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <iterator>
#include <string_view>
#include <utility>

namespace breakfix {
namespace {

// The states a session can be in; the gauge always lists all of them so a dashboard
// sees an explicit 0 instead of a vanished series.
constexpr std::array<std::string_view, 7> kSessionStates = {"provisioning", "injecting", "ready",  "grading",
                                                             "graded",       "failed",    "removed"};

// Fixed notation in the shortest form that reads back exactly: 1 -> "1", 0.5 -> "0.5",
// 300 -> "300", never "3e+02". std::to_chars ignores the global locale, so a daemon
// started under a locale with a decimal comma still writes a point.
void append_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  // The longest fixed form of a finite double (the smallest subnormal) is ~330 characters.
  std::array<char, 400> buffer;
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value, std::chars_format::fixed);
  if (ec != std::errc()) {  // cannot happen with this buffer; stay well-formed regardless
    out += "NaN";
    return;
  }
  out.append(buffer.data(), end);
}

void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void append_header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

template <typename Integer>
void append_sample(std::string& out, std::string_view name, Integer value) {
  out.append(name).append(" ").append(std::to_string(value)).append("\n");
}

template <typename Integer>
void append_counter(std::string& out, std::string_view name, std::string_view help, Integer value) {
  append_header(out, name, "counter", help);
  append_sample(out, name, value);
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  // Tolerate a careless caller rather than emit a malformed histogram: Prometheus wants
  // strictly ascending, finite bounds, with +Inf added once by us.
  std::erase_if(bounds_, [](double bound) { return !std::isfinite(bound); });
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double value) {
  if (std::isnan(value)) return;
  auto bucket = static_cast<std::size_t>(
      std::distance(bounds_.begin(), std::lower_bound(bounds_.begin(), bounds_.end(), value)));
  std::lock_guard lock(mutex_);
  counts_[bucket]++;
  sum_ += value;
  count_++;
}

void Histogram::render(const std::string& name, std::string& out) const {
  std::vector<std::uint64_t> counts;
  double sum = 0;
  std::uint64_t count = 0;
  {
    std::lock_guard lock(mutex_);
    counts = counts_;
    sum = sum_;
    count = count_;
  }
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    out.append(name).append("_bucket{le=\"");
    if (i < bounds_.size()) {
      append_double(out, bounds_[i]);
    } else {
      out += "+Inf";
    }
    out.append("\"} ").append(std::to_string(cumulative)).append("\n");
  }
  out.append(name).append("_sum ");
  append_double(out, sum);
  out += "\n";
  out.append(name).append("_count ").append(std::to_string(count)).append("\n");
}

Metrics::Metrics()
    : launch_({0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300}), grading_({0.5, 1, 2, 5, 10, 30, 60, 120}) {}

void Metrics::set_sessions_by_state(const std::map<std::string, int>& counts) {
  std::lock_guard lock(mutex_);
  sessions_by_state_ = counts;
}

void Metrics::observe_launch(double seconds) { launch_.observe(seconds); }

void Metrics::observe_grading(double seconds) { grading_.observe(seconds); }

void Metrics::count_api_request(int status) {
  std::lock_guard lock(mutex_);
  api_requests_by_status_[status]++;
}

std::string Metrics::render() const {
  std::map<std::string, int> sessions;
  std::map<int, std::uint64_t> requests;
  {
    std::lock_guard lock(mutex_);
    sessions = sessions_by_state_;
    requests = api_requests_by_status_;
  }

  std::string out;
  out.reserve(4096);

  append_header(out, "breakfix_sessions", "gauge", "Sessions currently known to the daemon, by state.");
  auto append_state = [&out](std::string_view state, int value) {
    out.append("breakfix_sessions{state=\"");
    append_label_value(out, state);
    out.append("\"} ").append(std::to_string(value)).append("\n");
  };
  for (std::string_view state : kSessionStates) {
    auto it = sessions.find(std::string(state));
    append_state(state, it == sessions.end() ? 0 : it->second);
  }
  // A state this list does not know yet is still worth seeing rather than hiding.
  for (const auto& [state, value] : sessions) {
    if (std::find(kSessionStates.begin(), kSessionStates.end(), state) == kSessionStates.end()) {
      append_state(state, value);
    }
  }

  append_counter(out, "breakfix_sessions_started_total", "Sessions created since the daemon started.",
                 sessions_started_.load());
  append_counter(out, "breakfix_sessions_failed_total", "Sessions that ended in the failed state.",
                 sessions_failed_.load());

  append_header(out, "breakfix_session_launch_seconds", "histogram",
                "Time from session creation until the lab is ready, in seconds.");
  launch_.render("breakfix_session_launch_seconds", out);
  append_header(out, "breakfix_grading_seconds", "histogram", "Time taken by one final grading, in seconds.");
  grading_.render("breakfix_grading_seconds", out);

  append_counter(out, "breakfix_ssh_connections_total", "SSH connections accepted by the gateway.",
                 ssh_connections_.load());
  append_header(out, "breakfix_ssh_connections_open", "gauge", "SSH connections currently open.");
  append_sample(out, "breakfix_ssh_connections_open", ssh_open_.load());
  append_counter(out, "breakfix_ssh_auth_failures_total", "Failed SSH authentication attempts.",
                 auth_failures_.load());
  append_counter(out, "breakfix_runtime_errors_total", "Errors returned by the container runtime.",
                 runtime_errors_.load());

  append_header(out, "breakfix_api_requests_total", "counter", "HTTP API requests answered, by status code.");
  for (const auto& [status, count] : requests) {
    out.append("breakfix_api_requests_total{code=\"")
        .append(std::to_string(status))
        .append("\"} ")
        .append(std::to_string(count))
        .append("\n");
  }
  return out;
}

}  // namespace breakfix
