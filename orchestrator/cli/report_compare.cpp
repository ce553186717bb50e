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

}  // namespace

Result<Comparison> compare_reports(const std::vector<json>& reports) {
  Comparison comparison;
  if (reports.empty()) return make_error(ErrorCode::Invalid, "no reports to compare");
  // Checks and criteria in the order they first appear (variants may differ in checks).
  std::vector<std::string> checks, criteria;
  std::string scenario;
  std::string first_session;
  for (const json& report : reports) {
    const std::string session = report.value("session", std::string("?"));
    try {
      const std::string id = report.at("scenario").at("id").get<std::string>();
      if (scenario.empty()) {
        scenario = id;
        first_session = session;
      } else if (id != scenario) {
        return make_error(ErrorCode::Invalid, "session " + session + " ran scenario " + id + ", session " + first_session +
                                                  " ran " + scenario + ": compare reports of one scenario");
      }
      for (const json& check : report.at("checks")) {
        const std::string name = check.at("name").get<std::string>();
        if (std::find(checks.begin(), checks.end(), name) == checks.end()) checks.push_back(name);
      }
      for (const json& criterion : report.value("rubric", json::array())) {
        const std::string name = criterion.at("name").get<std::string>();
        if (std::find(criteria.begin(), criteria.end(), name) == criteria.end()) criteria.push_back(name);
      }
    } catch (const json::exception& error) {
      return make_error(ErrorCode::Invalid, "the report of session " + session + " cannot be read: " + error.what());
    }
  }
  comparison.headers = {"session", "candidate", "variant", "score", "tampered", "hints", "notes"};
  comparison.headers.insert(comparison.headers.end(), checks.begin(), checks.end());
  for (const std::string& criterion : criteria) comparison.headers.push_back("rubric: " + criterion);

  for (const json& report : reports) {
    const std::string session = report.value("session", std::string("?"));
    try {
      const auto ready = epoch_seconds(report.at("ready_at"));
      const json& tampered = report.at("tampering").at("tampered");
      int hints = 0;
      for (const json& hint : report.value("hints", json::array())) hints += hint.at("given").get<bool>();
      std::vector<std::string> row = {
          session,
          report.at("candidate").get<std::string>(),
          report.at("scenario").value("variant", json()).is_string() ? report["scenario"]["variant"].get<std::string>() : "-",
          percent(report.at("score").get<double>()),
          tampered.is_boolean() ? (tampered.get<bool>() ? "yes" : "no") : "unknown",
          std::to_string(hints),
          std::to_string(report.value("notes", json::array()).size()),
      };
      std::map<std::string, std::string> cells;
      for (const json& check : report.at("checks")) {
        const bool passed = check.at("passed").get<bool>();
        const auto first = epoch_seconds(check.at("first_passed_at"));
        std::string cell = passed ? "pass" : "fail";
        if (first && ready) cell += passed ? " " + since(*first, *ready) : " (passed " + since(*first, *ready) + ")";
        cells[check.at("name").get<std::string>()] = cell;
      }
      for (const std::string& check : checks) row.push_back(cells.count(check) ? cells[check] : "-");
      std::map<std::string, std::string> ratings;
      for (const json& criterion : report.value("rubric", json::array())) {
        const json& rating = criterion.at("rating");
        ratings[criterion.at("name").get<std::string>()] =
            rating.is_object() ? std::to_string(rating.at("level").get<int>()) + "/" + std::to_string(rating.at("of").get<int>())
                               : "-";
      }
      for (const std::string& criterion : criteria) row.push_back(ratings.count(criterion) ? ratings[criterion] : "-");
      comparison.rows.push_back(std::move(row));
    } catch (const json::exception& error) {
      return make_error(ErrorCode::Invalid, "the report of session " + session + " cannot be read: " + error.what());
    }
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
