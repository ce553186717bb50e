#include <doctest/doctest.h>

#include "daemon/metrics.h"

#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

using breakfix::Metrics;

namespace {

// A deliberately small reader of the text exposition format 0.0.4: enough to prove that
// what we serve is well-formed and to look values up, and strict where we are strict.

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string value_text;
  double value = 0;
};

struct Family {
  std::string help;
  std::string type;
  std::vector<Sample> samples;
};

struct Exposition {
  std::map<std::string, Family> families;
  std::vector<std::string> order;  // family names as declared
  std::string error;               // "line N: ..." on the first problem, empty when it parsed
};

bool is_name_start(char c, bool colon_allowed) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_allowed && c == ':');
}

bool is_name_char(char c, bool colon_allowed) { return is_name_start(c, colon_allowed) || (c >= '0' && c <= '9'); }

// Reads a metric (colon_allowed) or label name at text[pos]; empty when there is none.
std::string read_name(std::string_view text, std::size_t& pos, bool colon_allowed) {
  std::size_t start = pos;
  if (pos >= text.size() || !is_name_start(text[pos], colon_allowed)) return {};
  while (pos < text.size() && is_name_char(text[pos], colon_allowed)) ++pos;
  return std::string(text.substr(start, pos - start));
}

std::optional<double> parse_value(std::string_view text) {
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Parses `{name="value",...}` at text[pos]; returns an error message or empty.
std::string parse_labels(std::string_view text, std::size_t& pos, std::map<std::string, std::string>& labels) {
  ++pos;  // '{'
  while (pos < text.size() && text[pos] != '}') {
    std::string name = read_name(text, pos, false);
    if (name.empty()) return "bad label name";
    if (pos + 1 >= text.size() || text[pos] != '=' || text[pos + 1] != '"') return "expected =\" after label name";
    pos += 2;
    std::string value;
    while (pos < text.size() && text[pos] != '"') {
      if (text[pos] == '\\') {
        if (++pos >= text.size()) return "dangling escape";
        char c = text[pos];
        if (c == 'n') value += '\n';
        else if (c == '\\' || c == '"') value += c;
        else return "bad escape";
      } else {
        value += text[pos];
      }
      ++pos;
    }
    if (pos >= text.size()) return "unterminated label value";
    ++pos;  // closing quote
    if (!labels.emplace(name, value).second) return "duplicate label " + name;
    if (pos < text.size() && text[pos] == ',') ++pos;
  }
  if (pos >= text.size()) return "unterminated label set";
  ++pos;  // '}'
  return {};
}

// Which declared family a sample belongs to: itself, or a histogram's _bucket/_sum/_count.
const char* family_of(const Exposition& exposition, const std::string& sample_name, std::string& family) {
  if (exposition.families.count(sample_name)) {
    family = sample_name;
    return nullptr;
  }
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (sample_name.size() > suffix.size() && sample_name.ends_with(suffix)) {
      std::string base = sample_name.substr(0, sample_name.size() - suffix.size());
      auto it = exposition.families.find(base);
      if (it != exposition.families.end() && it->second.type == "histogram") {
        family = base;
        return nullptr;
      }
    }
  }
  return "sample before its family's # HELP and # TYPE";
}

Exposition parse_exposition(std::string_view text) {
  Exposition result;
  std::size_t line_number = 0;
  auto fail = [&](const std::string& message) {
    result.error = "line " + std::to_string(line_number) + ": " + message;
    return result;
  };
  if (!text.empty() && !text.ends_with('\n')) return fail("exposition does not end with a newline");
  std::string last_help;  // family named by the latest # HELP, awaiting its # TYPE
  while (!text.empty()) {
    ++line_number;
    std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline + 1);
    if (line.empty()) return fail("empty line");

    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      bool is_help = line[2] == 'H';
      std::size_t pos = 7;
      std::string name = read_name(line, pos, true);
      if (name.empty() || pos >= line.size() || line[pos] != ' ') return fail("bad metric name in comment");
      std::string rest(line.substr(pos + 1));
      if (is_help) {
        if (result.families.count(name)) return fail("second # HELP for " + name);
        result.families[name].help = rest;
        result.order.push_back(name);
        last_help = name;
      } else {
        if (name != last_help) return fail("# TYPE for " + name + " not right after its # HELP");
        if (rest != "counter" && rest != "gauge" && rest != "histogram") return fail("unknown type " + rest);
        result.families[name].type = rest;
        last_help.clear();
      }
      continue;
    }
    if (line.starts_with("#")) continue;  // any other comment is allowed

    Sample sample;
    std::size_t pos = 0;
    sample.name = read_name(line, pos, true);
    if (sample.name.empty()) return fail("bad metric name");
    if (pos < line.size() && line[pos] == '{') {
      std::string error = parse_labels(line, pos, sample.labels);
      if (!error.empty()) return fail(error);
    }
    if (pos >= line.size() || line[pos] != ' ') return fail("expected a space before the value");
    sample.value_text = std::string(line.substr(pos + 1));
    auto value = parse_value(sample.value_text);
    if (!value) return fail("bad value '" + sample.value_text + "'");
    sample.value = *value;

    std::string family;
    if (const char* error = family_of(result, sample.name, family)) return fail(error);
    Family& declared = result.families[family];
    if (declared.type.empty()) return fail("sample of " + family + " before its # TYPE");
    if (declared.type == "counter" && !sample.name.ends_with("_total")) return fail("counter without _total");
    declared.samples.push_back(std::move(sample));
  }
  return result;
}

Exposition render_and_parse(const Metrics& metrics) {
  Exposition exposition = parse_exposition(metrics.render());
  REQUIRE_MESSAGE(exposition.error.empty(), exposition.error);
  return exposition;
}

const Sample* find_sample(const Exposition& exposition, const std::string& name,
                          const std::map<std::string, std::string>& labels = {}) {
  for (const auto& [family_name, family] : exposition.families) {
    for (const Sample& sample : family.samples) {
      if (sample.name == name && sample.labels == labels) return &sample;
    }
  }
  return nullptr;
}

double value_of(const Exposition& exposition, const std::string& name,
                const std::map<std::string, std::string>& labels = {}) {
  const Sample* sample = find_sample(exposition, name, labels);
  REQUIRE_MESSAGE(sample != nullptr, "no sample " << name);
  return sample->value;
}

// The _bucket samples of a histogram in order, as (le text, cumulative count).
std::vector<std::pair<std::string, double>> buckets(const Exposition& exposition, const std::string& name) {
  std::vector<std::pair<std::string, double>> result;
  auto family = exposition.families.find(name);
  REQUIRE(family != exposition.families.end());
  for (const Sample& sample : family->second.samples) {
    if (sample.name != name + "_bucket") continue;
    REQUIRE(sample.labels.size() == 1);
    REQUIRE(sample.labels.count("le") == 1);
    result.emplace_back(sample.labels.at("le"), sample.value);
  }
  return result;
}

// Given any histogram: counts never decrease, +Inf comes last and equals _count.
void check_histogram_shape(const Exposition& exposition, const std::string& name) {
  CAPTURE(name);
  auto rows = buckets(exposition, name);
  REQUIRE_FALSE(rows.empty());
  double previous_le = -std::numeric_limits<double>::infinity();
  double previous_count = 0;
  for (const auto& [le, count] : rows) {
    const auto bound_text = le;  // a binding: clang 14 cannot capture it
    CAPTURE(bound_text);
    auto bound = parse_value(le);
    REQUIRE(bound.has_value());
    CHECK(*bound > previous_le);
    CHECK(count >= previous_count);
    CHECK(le.find_first_of("eE") == std::string::npos);
    previous_le = *bound;
    previous_count = count;
  }
  CHECK(rows.back().first == "+Inf");
  CHECK(rows.back().second == value_of(exposition, name + "_count"));
  CHECK(find_sample(exposition, name + "_sum") != nullptr);
}

const std::vector<std::string> kStates = {"provisioning", "injecting", "warm",    "ready",
                                          "grading",      "graded",    "failed", "removed"};

}  // namespace

TEST_CASE("metrics: the test parser rejects what Prometheus would reject") {
  // Given hand-written broken expositions, the parser we rely on below should notice each.
  CHECK_FALSE(parse_exposition("x_total 1\n").error.empty());                              // no HELP/TYPE
  CHECK_FALSE(parse_exposition("# HELP x h\nx 1\n").error.empty());                        // no TYPE
  CHECK_FALSE(parse_exposition("# HELP x h\n# TYPE x gauge\nx one\n").error.empty());      // bad value
  CHECK_FALSE(parse_exposition("# HELP x h\n# TYPE x gauge\nx{a=\"1} 1\n").error.empty());  // open label
  CHECK_FALSE(parse_exposition("# HELP x h\n# TYPE x gauge\nx 1").error.empty());          // no final newline
  CHECK(parse_exposition("# HELP x h\n# TYPE x gauge\nx{a=\"q\\\"\"} 1.5\n").error.empty());
}

TEST_CASE("metrics: a fresh exposition parses and declares every family with HELP and TYPE") {
  Metrics metrics;
  Exposition exposition = render_and_parse(metrics);

  const std::map<std::string, std::string> expected = {
      {"breakfix_sessions", "gauge"},
      {"breakfix_sessions_started_total", "counter"},
      {"breakfix_sessions_failed_total", "counter"},
      {"breakfix_session_launch_seconds", "histogram"},
      {"breakfix_grading_seconds", "histogram"},
      {"breakfix_ssh_connections_total", "counter"},
      {"breakfix_ssh_connections_open", "gauge"},
      {"breakfix_ssh_auth_failures_total", "counter"},
      {"breakfix_runtime_errors_total", "counter"},
      {"breakfix_api_requests_total", "counter"},
  };
  // No request answered yet: a family with labels and no sample is left out whole, as
  // Prometheus' own clients do; it appears with its first request.
  CHECK(exposition.families.size() == expected.size() - 1);
  CHECK(exposition.families.count("breakfix_api_requests_total") == 0);
  metrics.count_api_request(200);
  exposition = render_and_parse(metrics);
  CHECK(exposition.families.size() == expected.size());
  for (const auto& [name, type] : expected) {
    const auto family_name = name;  // a binding: clang 14 cannot capture it
    CAPTURE(family_name);
    auto family = exposition.families.find(name);
    REQUIRE(family != exposition.families.end());
    CHECK(family->second.type == type);
    CHECK_FALSE(family->second.help.empty());
  }
  for (const char* counter : {"breakfix_sessions_started_total", "breakfix_sessions_failed_total",
                              "breakfix_ssh_connections_total", "breakfix_ssh_auth_failures_total",
                              "breakfix_runtime_errors_total", "breakfix_ssh_connections_open"}) {
    CAPTURE(counter);
    CHECK(value_of(exposition, counter) == 0);
    CHECK(find_sample(exposition, counter)->value_text == "0");
  }
  check_histogram_shape(exposition, "breakfix_session_launch_seconds");
  check_histogram_shape(exposition, "breakfix_grading_seconds");
  CHECK(find_sample(exposition, "breakfix_grading_seconds_sum")->value_text == "0");
}

TEST_CASE("metrics: histogram bounds are printed like Prometheus clients print them") {
  Metrics metrics;
  Exposition exposition = render_and_parse(metrics);
  using Les = std::vector<std::string>;
  Les launch;
  for (const auto& [le, count] : buckets(exposition, "breakfix_session_launch_seconds")) launch.push_back(le);
  CHECK(launch == Les{"0.5", "1", "2", "5", "10", "20", "30", "60", "120", "300", "+Inf"});
  Les grading;
  for (const auto& [le, count] : buckets(exposition, "breakfix_grading_seconds")) grading.push_back(le);
  CHECK(grading == Les{"0.5", "1", "2", "5", "10", "30", "60", "120", "+Inf"});
}

TEST_CASE("metrics: histogram buckets are cumulative and +Inf equals the count") {
  // Given observations below, exactly on, between and above the bounds, each lands in the
  // first bucket whose bound is >= it, and every later bucket includes it too.
  Metrics metrics;
  for (double value : {0.0, 0.5, 1.0, 1.5, 2.0, 4.0, 5.0, 5.5, 500.0}) metrics.observe_grading(value);
  metrics.observe_grading(std::nan(""));  // dropped: the sum would be NaN for ever

  Exposition exposition = render_and_parse(metrics);
  const std::string h = "breakfix_grading_seconds";
  check_histogram_shape(exposition, h);
  using Rows = std::vector<std::pair<std::string, double>>;
  CHECK(buckets(exposition, h) == Rows{{"0.5", 2}, {"1", 3}, {"2", 5}, {"5", 7}, {"10", 8}, {"30", 8},
                                       {"60", 8}, {"120", 8}, {"+Inf", 9}});
  CHECK(value_of(exposition, h + "_count") == 9);
  CHECK(find_sample(exposition, h + "_count")->value_text == "9");
  CHECK(value_of(exposition, h + "_sum") == 519.5);
}

TEST_CASE("metrics: histogram sums add up") {
  Metrics metrics;
  // Values exact in binary, so the sum is exact too.
  for (double value : {0.25, 1.5, 400.0}) metrics.observe_launch(value);
  for (double value : {0.5, 0.75}) metrics.observe_grading(value);
  Exposition exposition = render_and_parse(metrics);

  CHECK(value_of(exposition, "breakfix_session_launch_seconds_sum") == 401.75);
  CHECK(find_sample(exposition, "breakfix_session_launch_seconds_sum")->value_text == "401.75");
  CHECK(value_of(exposition, "breakfix_session_launch_seconds_count") == 3);
  CHECK(value_of(exposition, "breakfix_session_launch_seconds_bucket", {{"le", "0.5"}}) == 1);
  CHECK(value_of(exposition, "breakfix_session_launch_seconds_bucket", {{"le", "2"}}) == 2);
  CHECK(value_of(exposition, "breakfix_session_launch_seconds_bucket", {{"le", "300"}}) == 2);
  CHECK(value_of(exposition, "breakfix_session_launch_seconds_bucket", {{"le", "+Inf"}}) == 3);
  check_histogram_shape(exposition, "breakfix_session_launch_seconds");

  CHECK(value_of(exposition, "breakfix_grading_seconds_sum") == 1.25);
  CHECK(value_of(exposition, "breakfix_grading_seconds_count") == 2);
  CHECK(value_of(exposition, "breakfix_grading_seconds_bucket", {{"le", "0.5"}}) == 1);
  CHECK(value_of(exposition, "breakfix_grading_seconds_bucket", {{"le", "1"}}) == 2);
  check_histogram_shape(exposition, "breakfix_grading_seconds");
}

TEST_CASE("metrics: the sessions gauge shows every state, zero when absent") {
  Metrics metrics;
  auto state_values = [&metrics] {
    Exposition exposition = render_and_parse(metrics);
    std::map<std::string, double> values;
    for (const Sample& sample : exposition.families.at("breakfix_sessions").samples) {
      REQUIRE(sample.name == "breakfix_sessions");
      REQUIRE(sample.labels.count("state") == 1);
      values[sample.labels.at("state")] = sample.value;
    }
    return values;
  };

  auto initial = state_values();
  CHECK(initial.size() == kStates.size());
  for (const std::string& state : kStates) CHECK(initial[state] == 0);

  metrics.set_sessions_by_state({{"ready", 3}, {"grading", 1}});
  auto some = state_values();
  CHECK(some.size() == kStates.size());
  CHECK(some["ready"] == 3);
  CHECK(some["grading"] == 1);
  CHECK(some["provisioning"] == 0);
  CHECK(some["removed"] == 0);

  // Each call replaces the previous picture: a state missing now is back to 0.
  metrics.set_sessions_by_state({{"graded", 2}});
  auto replaced = state_values();
  CHECK(replaced["ready"] == 0);
  CHECK(replaced["grading"] == 0);
  CHECK(replaced["graded"] == 2);

  // A state this build does not list is still shown, its label value escaped.
  metrics.set_sessions_by_state({{"odd\"state", 4}});
  auto unknown = state_values();
  CHECK(unknown.size() == kStates.size() + 1);
  CHECK(unknown["odd\"state"] == 4);
}

TEST_CASE("metrics: counters increase") {
  Metrics metrics;
  metrics.count_session_started();
  metrics.count_session_started();
  metrics.count_session_started();
  metrics.count_session_failed();
  metrics.count_ssh_connection();
  metrics.count_ssh_connection();
  metrics.ssh_connection_opened();
  metrics.ssh_connection_opened();
  metrics.ssh_connection_closed();
  metrics.count_auth_failure();
  metrics.count_runtime_error();
  metrics.count_runtime_error();

  Exposition first = render_and_parse(metrics);
  CHECK(value_of(first, "breakfix_sessions_started_total") == 3);
  CHECK(value_of(first, "breakfix_sessions_failed_total") == 1);
  CHECK(value_of(first, "breakfix_ssh_connections_total") == 2);
  CHECK(value_of(first, "breakfix_ssh_connections_open") == 1);
  CHECK(value_of(first, "breakfix_ssh_auth_failures_total") == 1);
  CHECK(value_of(first, "breakfix_runtime_errors_total") == 2);

  metrics.count_session_started();
  metrics.count_auth_failure();
  metrics.ssh_connection_closed();
  Exposition second = render_and_parse(metrics);
  CHECK(value_of(second, "breakfix_sessions_started_total") == 4);
  CHECK(value_of(second, "breakfix_ssh_auth_failures_total") == 2);
  CHECK(value_of(second, "breakfix_ssh_connections_open") == 0);
  CHECK(value_of(second, "breakfix_ssh_connections_total") == 2);  // closing does not uncount
}

TEST_CASE("metrics: API requests are counted per status code") {
  Metrics metrics;
  for (int i = 0; i < 5; ++i) metrics.count_api_request(200);
  metrics.count_api_request(201);
  metrics.count_api_request(404);
  metrics.count_api_request(404);
  metrics.count_api_request(500);

  Exposition exposition = render_and_parse(metrics);
  const auto& samples = exposition.families.at("breakfix_api_requests_total").samples;
  CHECK(samples.size() == 4);
  CHECK(value_of(exposition, "breakfix_api_requests_total", {{"code", "200"}}) == 5);
  CHECK(value_of(exposition, "breakfix_api_requests_total", {{"code", "201"}}) == 1);
  CHECK(value_of(exposition, "breakfix_api_requests_total", {{"code", "404"}}) == 2);
  CHECK(value_of(exposition, "breakfix_api_requests_total", {{"code", "500"}}) == 1);
  CHECK(find_sample(exposition, "breakfix_api_requests_total", {{"code", "409"}}) == nullptr);
}

TEST_CASE("metrics: concurrent observations from several threads are all counted") {
  // Given several threads updating everything while another keeps scraping, no update is
  // lost and every scrape along the way is well-formed.
  Metrics metrics;
  constexpr int kThreads = 8;
  constexpr int kIterations = 2000;
  std::atomic<bool> done{false};
  std::atomic<int> bad_scrapes{0};
  std::atomic<int> scrapes{0};

  std::thread scraper([&] {
    while (!done.load()) {
      if (!parse_exposition(metrics.render()).error.empty()) bad_scrapes++;
      metrics.set_sessions_by_state({{"ready", scrapes.load()}});
      scrapes++;
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&metrics, &scrapes, t] {
      // Begin once the scraper is under way: on a busy machine it was once not scheduled
      // at all before the workers were done.
      while (scrapes.load() == 0) std::this_thread::yield();
      for (int i = 0; i < kIterations; ++i) {
        metrics.count_session_started();
        metrics.count_session_failed();
        metrics.count_ssh_connection();
        metrics.ssh_connection_opened();
        if (i % 2 == 0) metrics.ssh_connection_closed();
        metrics.count_auth_failure();
        metrics.count_runtime_error();
        metrics.count_api_request(t % 2 == 0 ? 200 : 404);
        metrics.observe_launch(0.25);  // exact in binary: the sum is order-independent
        metrics.observe_grading(i % 2 == 0 ? 1.0 : 200.0);
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  done = true;
  scraper.join();

  CHECK(bad_scrapes.load() == 0);
  CHECK(scrapes.load() > 0);
  constexpr double kTotal = double(kThreads) * kIterations;
  Exposition exposition = render_and_parse(metrics);
  CHECK(value_of(exposition, "breakfix_sessions_started_total") == kTotal);
  CHECK(value_of(exposition, "breakfix_sessions_failed_total") == kTotal);
  CHECK(value_of(exposition, "breakfix_ssh_connections_total") == kTotal);
  CHECK(value_of(exposition, "breakfix_ssh_connections_open") == kTotal / 2);
  CHECK(value_of(exposition, "breakfix_ssh_auth_failures_total") == kTotal);
  CHECK(value_of(exposition, "breakfix_runtime_errors_total") == kTotal);
  CHECK(value_of(exposition, "breakfix_api_requests_total", {{"code", "200"}}) == kTotal / 2);
  CHECK(value_of(exposition, "breakfix_api_requests_total", {{"code", "404"}}) == kTotal / 2);

  CHECK(value_of(exposition, "breakfix_session_launch_seconds_count") == kTotal);
  CHECK(value_of(exposition, "breakfix_session_launch_seconds_sum") == kTotal * 0.25);
  CHECK(value_of(exposition, "breakfix_session_launch_seconds_bucket", {{"le", "0.5"}}) == kTotal);
  check_histogram_shape(exposition, "breakfix_session_launch_seconds");

  CHECK(value_of(exposition, "breakfix_grading_seconds_count") == kTotal);
  CHECK(value_of(exposition, "breakfix_grading_seconds_sum") == kTotal / 2 * 1.0 + kTotal / 2 * 200.0);
  CHECK(value_of(exposition, "breakfix_grading_seconds_bucket", {{"le", "1"}}) == kTotal / 2);
  CHECK(value_of(exposition, "breakfix_grading_seconds_bucket", {{"le", "120"}}) == kTotal / 2);
  CHECK(value_of(exposition, "breakfix_grading_seconds_bucket", {{"le", "+Inf"}}) == kTotal);
  check_histogram_shape(exposition, "breakfix_grading_seconds");
}

TEST_CASE("metrics: the warm pool by scenario, a scenario that left it reads 0") {
  Metrics metrics;
  metrics.set_warm_labs({{"web-502", {2, 1, 1}}});
  auto values = [&metrics] {
    std::map<std::string, double> out;
    Exposition exposition = render_and_parse(metrics);
    for (const Sample& sample : exposition.families.at("breakfix_warm_labs").samples) {
      out[sample.labels.at("scenario") + "/" + sample.labels.at("kind")] = sample.value;
    }
    return out;
  };
  auto first = values();
  CHECK(first["web-502/target"] == 2);
  CHECK(first["web-502/warm"] == 1);
  CHECK(first["web-502/preparing"] == 1);
  metrics.set_warm_labs({});
  CHECK(values()["web-502/warm"] == 0);
}
