#include "session/report.h"

#include "session/channel_timeline.h"
#include "session/grader.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>
#include <map>

namespace breakfix {
namespace {

using nlohmann::json;

// The final result of each check: the last "final" run of it.
std::map<std::string, const CheckRunRecord*> final_results(const std::vector<CheckRunRecord>& runs) {
  std::map<std::string, const CheckRunRecord*> last;
  for (const CheckRunRecord& run : runs) {
    if (run.phase == "final") last[run.check] = &run;
  }
  return last;
}

struct Progress {
  std::optional<WallTime> first_passed;
  std::vector<WallTime> regressions;  // passed before, failed at this run
};

// From the progress and final runs (the precheck is before the candidate starts).
std::map<std::string, Progress> progress_of(const std::vector<CheckRunRecord>& runs) {
  std::map<std::string, Progress> progress;
  std::map<std::string, bool> passing;
  for (const CheckRunRecord& run : runs) {
    if (run.phase == "precheck") continue;
    Progress& p = progress[run.check];
    if (run.passed && !p.first_passed) p.first_passed = run.time;
    if (!run.passed && passing[run.check]) p.regressions.push_back(run.time);
    passing[run.check] = run.passed;
  }
  return progress;
}

}  // namespace

std::string minutes_into(WallTime time, WallTime ready) {
  // Minutes:seconds since the session became ready; before that (provisioning) negative.
  const long long seconds = std::chrono::duration_cast<std::chrono::seconds>(time - ready).count();
  const long long magnitude = seconds < 0 ? -seconds : seconds;
  char text[32];
  std::snprintf(text, sizeof text, "%s%lld:%02lld", seconds < 0 ? "-" : "", magnitude / 60, magnitude % 60);
  return text;
}

std::string escape_cell(std::string text) {
  for (std::size_t at = 0; (at = text.find_first_of("|\n", at)) != std::string::npos; at += 2) {
    text.replace(at, 1, text[at] == '|' ? "\\|" : " ");
  }
  return text;
}

std::string iso_time(WallTime time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

Report build_report(const ReportInput& input) {
  const Scenario& scenario = *input.scenario;
  const auto finals = final_results(input.check_runs);
  const auto progress = progress_of(input.check_runs);
  Report report;
  std::vector<CheckResult> verdicts;  // for score(): the same rule as the live grade
  json checks = json::array();
  for (const Check& check : scenario.checks) {
    const auto found = finals.find(check.name);
    const CheckRunRecord* run = found == finals.end() ? nullptr : found->second;
    const bool passed = run && run->passed;
    verdicts.push_back({check.name, check.expect, check.weight, passed, {}});
    json entry = {{"name", check.name}, {"expect", to_string(check.expect)}, {"weight", check.weight}, {"passed", passed}};
    if (run) {
      entry["exit_code"] = run->exit_code;
      entry["timed_out"] = run->timed_out;
      entry["duration_ms"] = run->duration.count();
      entry["output"] = run->output;
    }
    const auto p = progress.find(check.name);
    entry["first_passed_at"] = p != progress.end() && p->second.first_passed ? json(iso_time(*p->second.first_passed)) : json();
    json regressions = json::array();
    if (p != progress.end()) {
      for (WallTime time : p->second.regressions) regressions.push_back(iso_time(time));
    }
    entry["regressed_at"] = regressions;
    checks.push_back(entry);
  }
  report.score = score(verdicts);
  json events = json::array();
  for (const SessionEvent& event : input.events) {
    events.push_back({{"time", iso_time(event.time)}, {"kind", event.kind}, {"detail", event.detail}});
  }
  const SessionRecord& r = input.record;
  const json document = {
      {"session", input.session_id},
      {"scenario", {{"id", scenario.id}, {"title", scenario.title}}},
      {"candidate", input.candidate},
      {"seed", std::to_string(input.seed)},
      {"vars", input.vars},
      {"state", to_string(r.state)},
      {"ready_at", iso_time(r.ready_at)},
      {"deadline", iso_time(r.deadline)},
      {"ended_at", iso_time(r.ended_at)},
      {"score", report.score},
      {"checks", checks},
      {"events", events},
      {"recordings", input.recordings},
      {"channels", channel_timeline_json(input.channels)},
  };
  report.json = document.dump(2);

  char score_text[16];
  std::snprintf(score_text, sizeof score_text, "%.0f%%", report.score * 100);
  std::string md = "# " + scenario.title + "\n\n";
  md += "- Candidate: " + input.candidate + "\n- Session: `" + input.session_id + "` (scenario `" + scenario.id +
        "`, seed " + std::to_string(input.seed) + ")\n";
  md += "- Started " + iso_time(r.ready_at) + ", deadline " + iso_time(r.deadline) + ", ended " + iso_time(r.ended_at) + "\n";
  md += "- **Score: " + std::string(score_text) + "**\n\n## Checks\n\n| check | kind | weight | result | first passed |\n|---|---|---|---|---|\n";
  for (const json& check : checks) {
    std::string first = "-";
    if (check["first_passed_at"].is_string()) {
      const auto p = progress.find(check["name"].get<std::string>());
      first = minutes_into(*p->second.first_passed, r.ready_at);
      if (!p->second.regressions.empty()) first += " (regressed " + std::to_string(p->second.regressions.size()) + "x)";
    }
    char weight[16];
    std::snprintf(weight, sizeof weight, "%g", check["weight"].get<double>());
    md += "| " + escape_cell(check["name"].get<std::string>()) + " | " + check["expect"].get<std::string>() + " | " + weight +
          " | " + (check["passed"].get<bool>() ? "pass" : "**fail**") + " | " + first + " |\n";
  }
  md += "\n## Events\n\n";
  for (const SessionEvent& event : input.events) {
    md += "- " + minutes_into(event.time, r.ready_at) + " " + event.kind + (event.detail.empty() ? "" : ": " + event.detail) + "\n";
  }
  md += "\n## Recordings\n\n";
  if (input.recordings.empty()) md += "The candidate opened no terminal.\n";
  for (const std::string& name : input.recordings) {
    md += "- `" + name + "`: `breakfix session replay " + input.session_id + " --name " + name + "`\n";
  }
  md += channel_timeline_markdown(input.channels, r.ready_at, input.session_id);
  report.markdown = md;
  return report;
}

}  // namespace breakfix
