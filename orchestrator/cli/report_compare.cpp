#include "cli/report_compare.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>

namespace breakfix::cli {
namespace {

using nlohmann::json;

// "2026-11-27T00:41:12Z" as seconds since the epoch; none for anything else.
std::optional<long long> epoch_seconds(const json& value) {
  if (!value.is_string()) return std::nullopt;
  std::tm tm{};
  char zone = 0;
  if (std::sscanf(value.get<std::string>().c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &zone) != 7 || zone != 'Z') {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<long long>(timegm(&tm));
}

// "12:05" since ready, as the reports show times.
std::string since(long long at, long long ready) {
  const long long offset = at - ready;
  const long long magnitude = offset < 0 ? -offset : offset;
  char text[32];
  std::snprintf(text, sizeof text, "%s%lld:%02lld", offset < 0 ? "-" : "", magnitude / 60, magnitude % 60);
  return text;
}

std::string percent(double fraction) {
  char text[16];
  std::snprintf(text, sizeof text, "%.0f%%", fraction * 100);
  return text;
}


// One report's cells, by column. Every report's checks come before any rubric column, so
// the groups are kept apart until the columns of all reports are merged.
using Column = std::pair<std::string, std::string>;
struct Row {
  std::vector<Column> lead;  // who and how much: the same columns for every report of one scenario or plan
  std::vector<Column> checks;
  std::vector<Column> rubric;
};

// Each check's cell: "pass 12:05" (first passed, after ready), "fail", "fail (passed 12:05)".
void add_checks(const json& report, const std::string& prefix, Row& row) {
  const auto ready = epoch_seconds(report.at("ready_at"));
  for (const json& check : report.at("checks")) {
    const bool passed = check.at("passed").get<bool>();
    const auto first = epoch_seconds(check.at("first_passed_at"));
    std::string cell = passed ? "pass" : "fail";
    if (first && ready) cell += passed ? " " + since(*first, *ready) : " (passed " + since(*first, *ready) + ")";
    row.checks.push_back({prefix + check.at("name").get<std::string>(), cell});
  }
}

// Each criterion's "3/4", or "-" when not rated.
void add_rubric(const json& report, const std::string& prefix, Row& row) {
  for (const json& criterion : report.value("rubric", json::array())) {
    const json& rating = criterion.at("rating");
    row.rubric.push_back({prefix + "rubric: " + criterion.at("name").get<std::string>(),
                          rating.is_object() ? std::to_string(rating.at("level").get<int>()) + "/" +
                                                   std::to_string(rating.at("of").get<int>())
                                             : "-"});
  }
}

Row scenario_row(const json& report) {
  Row row;
  const json& tampered = report.at("tampering").at("tampered");
  int hints = 0;
  for (const json& hint : report.value("hints", json::array())) hints += hint.at("given").get<bool>();
  row.lead = {{"session", report.value("session", std::string("?"))},
              {"candidate", report.at("candidate").get<std::string>()},
              {"variant", report.at("scenario").value("variant", json()).is_string()
                              ? report["scenario"]["variant"].get<std::string>()
                              : "-"},
              {"score", percent(report.at("score").get<double>())},
              {"tampered", tampered.is_boolean() ? (tampered.get<bool>() ? "yes" : "no") : "unknown"},
              {"hints", std::to_string(hints)},
              {"notes", std::to_string(report.value("notes", json::array()).size())}};
  add_checks(report, "", row);
  add_rubric(report, "", row);
  return row;
}

// A plan's report (session/plan_sessions.h): each part's score, checks and rubric under
// the part's name, then the plan's own rubric.
Row plan_row(const json& report) {
  Row row;
  const json& score = report.at("score");
  row.lead = {{"session", report.value("session", std::string("?"))},
              {"candidate", report.at("candidate").get<std::string>()},
              {"score", score.is_number() ? percent(score.get<double>()) : "-"},
              {"notes", std::to_string(report.value("notes", json::array()).size())}};
  for (const json& part : report.at("parts")) {
    const std::string name = part.at("name").get<std::string>();
    const json& part_score = part.at("score");
    row.lead.push_back({name + ": score", part_score.is_number() ? percent(part_score.get<double>())
                                          : part.at("state").is_string() ? part["state"].get<std::string>()
                                                                          : "not started"});
    if (part.at("report").is_object()) {
      add_checks(part["report"], name + ": ", row);
      add_rubric(part["report"], name + ": ", row);
    }
  }
  add_rubric(report, "", row);
  return row;
}

// "scenario web-502" or "plan support-engineer-interview": what a report is of.
std::pair<std::string, std::string> report_of(const json& report) {
  if (report.value("kind", std::string()) == "plan") return {"plan", report.at("plan").get<std::string>()};
  return {"scenario", report.at("scenario").at("id").get<std::string>()};
}

// Adds `columns`' names to `headers` in the order they first appear.
void merge_headers(const std::vector<Column>& columns, std::vector<std::string>& headers) {
  for (const auto& [name, cell] : columns) {
    if (std::find(headers.begin(), headers.end(), name) == headers.end()) headers.push_back(name);
  }
}

}  // namespace

Result<Comparison> compare_reports(const std::vector<json>& reports) {
  if (reports.empty()) return make_error(ErrorCode::Invalid, "no reports to compare");
  std::vector<Row> rows;
  std::pair<std::string, std::string> first_of;
  std::string first_session;
  for (const json& report : reports) {
    const std::string session = report.value("session", std::string("?"));
    try {
      const auto of = report_of(report);
      if (rows.empty()) {
        first_of = of;
        first_session = session;
      } else if (of != first_of) {
        return make_error(ErrorCode::Invalid, "session " + session + " ran " + of.first + " " + of.second + ", session " +
                                                  first_session + " ran " + first_of.second + ": compare reports of one " +
                                                  first_of.first);
      }
      rows.push_back(of.first == "plan" ? plan_row(report) : scenario_row(report));
    } catch (const json::exception& error) {
      return make_error(ErrorCode::Invalid, "the report of session " + session + " cannot be read: " + error.what());
    }
  }
  // Checks and criteria in the order they first appear (variants may differ in checks).
  Comparison comparison;
  std::vector<std::string> checks, criteria;
  for (const Row& row : rows) {
    merge_headers(row.lead, comparison.headers);
    merge_headers(row.checks, checks);
    merge_headers(row.rubric, criteria);
  }
  comparison.headers.insert(comparison.headers.end(), checks.begin(), checks.end());
  comparison.headers.insert(comparison.headers.end(), criteria.begin(), criteria.end());
  for (const Row& row : rows) {
    std::map<std::string, std::string> cells;
    for (const auto* group : {&row.lead, &row.checks, &row.rubric}) cells.insert(group->begin(), group->end());
    std::vector<std::string> line;
    for (const std::string& header : comparison.headers) line.push_back(cells.count(header) ? cells[header] : "-");
    comparison.rows.push_back(std::move(line));
  }
  return comparison;
}

std::string to_csv(const Comparison& comparison) {
  auto field = [](const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
  };
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t i = 0; i < cells.size(); ++i) text += (i ? "," : "") + field(cells[i]);
    return text + "\r\n";
  };
  std::string csv = line(comparison.headers);
  for (const auto& row : comparison.rows) csv += line(row);
  return csv;
}

}  // namespace breakfix::cli
