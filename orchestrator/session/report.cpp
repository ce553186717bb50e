#include "session/report.h"

#include "session/channel_timeline.h"
#include "session/assessment.h"
#include "session/grader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
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
  const long long offset = std::chrono::duration_cast<std::chrono::seconds>(time - ready).count();
  const long long magnitude = offset < 0 ? -offset : offset;
  char text[32];
  std::snprintf(text, sizeof text, "%s%lld:%02lld", offset < 0 ? "-" : "", magnitude / 60, magnitude % 60);
  return text;
}

std::string escape_cell(std::string text) {
  for (std::size_t at = 0; (at = text.find_first_of("|\n\r", at)) != std::string::npos;) {
    const bool pipe = text[at] == '|';
    text.replace(at, 1, pipe ? "\\|" : " ");
    at += pipe ? 2 : 1;
  }
  return text;
}

namespace {

// A path from a host, which the candidate named, as a Markdown code span: control
// characters shown escaped (a newline must not start a heading), backticks fenced.
std::string md_path(const std::string& path) {
  std::string text;
  for (const char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(c));
      text += escaped;
    } else {
      text += c;
    }
  }
  const std::string fence = text.find('`') == std::string::npos ? "`" : "`` ";
  return fence + text + (fence == "`" ? "`" : " ``");
}

// A code block fence that nothing in `text` (a diff of the candidate's files) can close.
std::string fence_for(const std::string& text) {
  std::size_t longest = 0, run = 0;
  for (const char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<std::size_t>(3, longest + 1), '`');
}

std::string describe(const PathChange& change) {
  std::string text = to_string(change.kind);
  if (change.kind == ChangeKind::Modified && !change.what.empty()) text += ": " + change.what;
  else if (!change.type.empty() && change.type != "file") text += " (" + change.type + ")";
  return text;
}

json changes_json(const LabChanges* changes) {
  json hosts = json::array();
  if (!changes) return hosts;
  for (const HostChanges& host : changes->hosts) {
    json paths = json::array();
    for (const PathChange& change : host.changes) {
      paths.push_back({{"path", change.path}, {"change", to_string(change.kind)}, {"type", change.type},
                       {"what", change.what}, {"tampering", change.tampering}, {"expected", change.expected},
                       {"noisy", change.noisy}, {"unverified", change.unverified},
                       {"diff", change.diff.empty() ? json(nullptr) : json(change.diff)},
                       {"no_diff", change.no_diff.empty() ? json(nullptr) : json(change.no_diff)}});
    }
    hosts.push_back({{"host", host.host}, {"error", host.error ? json(*host.error) : json(nullptr)},
                     {"paths", paths}, {"limits", host.cut}, {"protected_unexamined", host.protected_unexamined}});
  }
  return hosts;
}

json tampering_json(const LabChanges* changes) {
  const std::optional<bool> tampered = changes ? changes->tampered() : std::nullopt;
  json paths = json::array();
  if (changes) {
    for (const HostChanges& host : changes->hosts) {
      for (const PathChange& change : host.changes) {
        if (change.tampering) paths.push_back({{"host", host.host}, {"path", change.path}, {"change", describe(change)}});
      }
    }
  }
  std::string unchecked = !changes ? "the hosts were not compared" : changes->unchecked.value_or("");
  return {{"tampered", tampered ? json(*tampered) : json(nullptr)},
          {"unchecked", unchecked.empty() ? json(nullptr) : json(unchecked)},
          {"paths", paths}};
}

std::string tampering_markdown(const LabChanges* changes) {
  std::string md = "## Tampering\n\n";
  const std::optional<bool> tampered = changes ? changes->tampered() : std::nullopt;
  if (!changes || changes->unchecked) {
    return md + "Not checked: " + (changes ? *changes->unchecked : std::string("the hosts were not compared")) + ".\n\n";
  }
  if (tampered == false) {
    return md + "None: nothing the checks rely on (programs, libraries, the loader's and PAM's configuration, "
                "sudoers) changed beyond what the scenario expects.\n\n";
  }
  if (tampered == true) {
    md += "**The candidate changed what the checks rely on**, so their verdicts may not be the lab's real state:\n\n";
  }
  for (const HostChanges& host : changes->hosts) {
    for (const PathChange& change : host.changes) {
      if (change.tampering) md += "- " + host.host + ": " + md_path(change.path) + " " + escape_cell(describe(change)) + "\n";
    }
    if (host.protected_unexamined > 0) {
      md += "- " + host.host + ": " + std::to_string(host.protected_unexamined) +
            " more changed paths under protected directories, not examined (too many changes)\n";
    }
    if (host.error) md += "- " + host.host + ": not compared: " + escape_cell(*host.error) + "\n";
  }
  return md + "\n";
}

std::string changes_markdown(const LabChanges* changes) {
  std::string md = "## Changes\n\n";
  if (!changes || changes->unchecked) return md + "Not known: the hosts were not compared with how they were at ready.\n\n";
  md += "What changed on each host between ready and the end, as the container engine sees the host's file system.\n\n";
  for (const HostChanges& host : changes->hosts) {
    md += "### " + host.host + "\n\n";
    if (host.error) md += "Not compared: " + escape_cell(*host.error) + "\n\n";
    std::string noisy;
    bool any = false;
    for (const PathChange& change : host.changes) {
      if (change.noisy && !change.tampering) {
        noisy += std::string(noisy.empty() ? "" : ", ") + md_path(change.path) + " " + to_string(change.kind);
        continue;
      }
      any = true;
      md += "- " + md_path(change.path) + " " + escape_cell(describe(change));
      if (change.tampering) md += " **(tampering)**";
      else if (change.expected) md += " (expected by the scenario)";
      md += "\n";
      if (!change.diff.empty()) {
        const std::string fence = fence_for(change.diff);
        md += "\n" + fence + "diff\n" + change.diff + (change.diff.back() == '\n' ? "" : "\n") + fence + "\n\n";
      }
      if (!change.no_diff.empty()) md += "  (no diff: " + escape_cell(change.no_diff) + ")\n";
    }
    if (!any && noisy.empty() && !host.error) md += "Nothing changed.\n";
    if (!noisy.empty()) md += "\nLogs, runtime state and histories (no diff): " + noisy + "\n";
    for (const std::string& cut : host.cut) md += "\nLimit: " + cut + ".\n";
    md += "\n";
  }
  return md;
}

}  // namespace

std::string iso_time(WallTime time) {
  const std::time_t since_epoch = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&since_epoch, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

namespace {


json reply_json(const ReplyText* reply) {
  if (!reply) return nullptr;
  return {{"host", reply->host}, {"path", reply->path}, {"text", reply->text ? json(*reply->text) : json(nullptr)},
          {"cut", reply->cut}, {"problem", reply->problem}};
}

// A customer scenario's answer, as the candidate wrote it, for the interviewer to judge.
std::string reply_markdown(const ReplyText* reply) {
  if (!reply) return "";
  std::string md = "## The candidate's reply\n\n";
  const std::string where = "`" + reply->path + "` on " + reply->host;
  if (!reply->problem.empty()) return md + where + " could not be read: " + reply->problem + "\n\n";
  if (!reply->text) return md + "The candidate wrote no reply (" + where + " does not exist).\n\n";
  const std::string fence = fence_for(*reply->text);
  md += "From " + where + (reply->cut ? ", its first " + std::to_string(kMaxReplyBytes / 1024) + " KiB" : "") + ":\n\n";
  md += fence + "text\n" + *reply->text + (reply->text->empty() || reply->text->back() == '\n' ? "" : "\n") + fence + "\n\n";
  return md;
}


// Each check's final verdict, with its run and when it first passed and regressed; the
// verdicts also go to `verdicts`, for score(), the same rule as the live grade.
json checks_json(const ReportInput& input, const std::map<std::string, const CheckRunRecord*>& finals,
                 const std::map<std::string, Progress>& progress, std::vector<CheckResult>& verdicts) {
  json checks = json::array();
  for (const Check& check : input.scenario->checks) {
    const auto found = finals.find(check.name);
    const CheckRunRecord* run = found == finals.end() ? nullptr : found->second;
    const bool passed = run && run->passed;
    verdicts.push_back({check.name, check.expect, check.weight, passed, {}});
    json entry = {{"name", check.name}, {"expect", to_string(check.expect)}, {"weight", check.weight}, {"passed", passed},
                  {"critical", check.critical}};
    if (check.critical) entry["cap"] = check.cap;
    if (!check.required_fixes.empty()) entry["requires"] = check.required_fixes;
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
  return checks;
}

std::string report_markdown(const ReportInput& input, const json& checks, const std::map<std::string, Progress>& progress,
                            const Grade& grade_value) {
  const double score_value = grade_value.score;
  const Scenario& scenario = *input.scenario;
  const SessionRecord& r = input.record;
  const std::string score_text = percent_text(score_value);
  std::string md = "# " + scenario.title + "\n\n";
  md += "- Candidate: " + input.candidate + "\n- Session: `" + input.session_id + "` (scenario `" + scenario.id +
        (scenario.variant.empty() ? "" : "`, variant `" + scenario.variant) + "`, seed " + std::to_string(input.seed) +
        ")\n";
  md += "- Started " + iso_time(r.ready_at) + ", deadline " + iso_time(r.deadline) + ", ended " + iso_time(r.ended_at) + "\n";
  md += "- **Score: " + score_text + "**\n";
  for (const std::string& line : grade_value.explanation()) md += "  - " + escape_cell(line) + "\n";
  const std::optional<bool> tampered = input.changes ? input.changes->tampered() : std::nullopt;
  md += std::string("- Tampered: ") + (tampered ? (*tampered ? "**yes** (see Tampering)" : "no") : "not known") + "\n\n";
  md += tampering_markdown(input.changes);
  md += "## Checks\n\n| check | kind | weight | result | first passed |\n|---|---|---|---|---|\n";
  for (const json& check : checks) {
    std::string first = "-";
    if (check["first_passed_at"].is_string()) {
      const auto p = progress.find(check["name"].get<std::string>());
      first = minutes_into(*p->second.first_passed, r.ready_at);
      if (!p->second.regressions.empty()) first += " (regressed " + std::to_string(p->second.regressions.size()) + "x)";
    }
    char weight[16];
    std::snprintf(weight, sizeof weight, "%g", check["weight"].get<double>());
    const std::string kind = check["expect"].get<std::string>() + (check["critical"].get<bool>() ? " (critical)" : "");
    md += "| " + escape_cell(check["name"].get<std::string>()) + " | " + kind + " | " + weight +
          " | " + (check["passed"].get<bool>() ? "pass" : "**fail**") + " | " + first + " |\n";
  }
  md += "\n" + reply_markdown(input.reply);
  md += rubric_markdown(ratings_of(scenario.rubric, input.events));
  md += changes_markdown(input.changes);
  // The timeline: the session's events, the interviewer's notes and ratings among them.
  md += "## Events\n\n";
  for (const SessionEvent& event : input.events) {
    std::string detail = event.detail;
    std::replace(detail.begin(), detail.end(), '\n', ' ');  // a note of several lines stays one item
    md += "- " + minutes_into(event.time, r.ready_at) + " " + event.kind + (detail.empty() ? "" : ": " + detail) + "\n";
  }
  md += "\n## Recordings\n\n";
  if (input.recordings.empty()) md += "The candidate opened no terminal.\n";
  for (const std::string& name : input.recordings) {
    md += "- `" + name + "`: `breakfix session replay " + input.session_id + " --name " + name + "`\n";
  }
  md += channel_timeline_markdown(input.channels, r.ready_at, input.session_id);
  return md;
}

}  // namespace

Report build_report(const ReportInput& input) {
  const auto finals = final_results(input.check_runs);
  const auto progress = progress_of(input.check_runs);
  Report report;
  std::vector<CheckResult> verdicts;
  const json checks = checks_json(input, finals, progress, verdicts);
  double hint_cost = 0;
  json hints = json::array();
  for (std::size_t i = 0; i < input.scenario->hints.size(); ++i) {
    const Hint& hint = input.scenario->hints[i];
    const bool given = input.record.hints_given.count(static_cast<int>(i)) > 0;
    if (given) hint_cost += hint.cost;
    hints.push_back({{"number", i + 1}, {"text", hint.text}, {"cost", hint.cost}, {"given", given}});
  }
  const Grade graded = grade(*input.scenario, verdicts, hint_cost);
  report.score = graded.score;
  json events = json::array();
  json notes = json::array();
  for (const SessionEvent& event : input.events) {
    events.push_back({{"time", iso_time(event.time)}, {"kind", event.kind}, {"detail", event.detail}});
    if (event.kind == kNoteEvent) notes.push_back({{"time", iso_time(event.time)}, {"text", event.detail}});
  }
  const SessionRecord& r = input.record;
  const json document = {
      {"session", input.session_id},
      {"scenario", {{"id", input.scenario->id},
                    {"title", input.scenario->title},
                    {"variant", input.scenario->variant.empty() ? json(nullptr) : json(input.scenario->variant)}}},
      {"candidate", input.candidate},
      {"seed", std::to_string(input.seed)},
      {"vars", input.vars},
      {"state", to_string(r.state)},
      {"ready_at", iso_time(r.ready_at)},
      {"deadline", iso_time(r.deadline)},
      {"ended_at", iso_time(r.ended_at)},
      {"score", report.score},
      {"grade", {{"earned", graded.earned},
                 {"cap", graded.cap ? json(*graded.cap) : json(nullptr)},
                 {"capped_by", graded.capped_by},
                 {"uncounted", graded.uncounted},
                 {"hint_cost", graded.hint_cost},
                 {"explanation", graded.explanation()}}},
      {"checks", checks},
      {"rubric", rubric_json(ratings_of(input.scenario->rubric, input.events))},
      {"notes", notes},
      {"hints", hints},
      {"events", events},
      {"recordings", input.recordings},
      {"channels", channel_timeline_json(input.channels)},
      {"tampering", tampering_json(input.changes)},
      {"reply", reply_json(input.reply)},
      {"changes", changes_json(input.changes)},
  };
  // A check's output is whatever the lab printed, cut at a byte count: bytes that are not
  // UTF-8 are replaced (U+FFFD) instead of failing the whole report.
  report.json = document.dump(2, ' ', false, json::error_handler_t::replace);
  report.markdown = report_markdown(input, checks, progress, graded);
  return report;
}

Result<GradingFacts> grading_facts_from_report(const std::string& report_json) {
  try {
    const json report = json::parse(report_json);
    GradingFacts facts;
    if (report.contains("reply") && report["reply"].is_object()) {
      const json& reply = report["reply"];
      facts.reply = ReplyText{reply.at("host").get<std::string>(), reply.at("path").get<std::string>(),
                              reply.at("text").is_string() ? std::optional(reply["text"].get<std::string>()) : std::nullopt,
                              reply.at("cut").get<bool>(), reply.at("problem").get<std::string>()};
    }
    LabChanges& changes = facts.changes;
    const json& tampering = report.at("tampering");
    if (tampering.at("unchecked").is_string()) changes.unchecked = tampering["unchecked"].get<std::string>();
    for (const json& host : report.at("changes")) {
      HostChanges read;
      read.host = host.at("host").get<std::string>();
      if (host.at("error").is_string()) read.error = host["error"].get<std::string>();
      read.cut = host.at("limits").get<std::vector<std::string>>();
      read.protected_unexamined = host.value("protected_unexamined", std::size_t{0});
      for (const json& path : host.at("paths")) {
        PathChange change;
        change.path = path.at("path").get<std::string>();
        const std::string kind = path.at("change").get<std::string>();
        for (ChangeKind candidate : {ChangeKind::Created, ChangeKind::Modified, ChangeKind::Deleted}) {
          if (kind == to_string(candidate)) change.kind = candidate;
        }
        change.type = path.at("type").get<std::string>();
        change.what = path.at("what").get<std::string>();
        change.tampering = path.at("tampering").get<bool>();
        change.expected = path.at("expected").get<bool>();
        change.noisy = path.at("noisy").get<bool>();
        change.unverified = path.at("unverified").get<bool>();
        if (path.at("diff").is_string()) change.diff = path["diff"].get<std::string>();
        if (path.at("no_diff").is_string()) change.no_diff = path["no_diff"].get<std::string>();
        read.changes.push_back(std::move(change));
      }
      changes.hosts.push_back(std::move(read));
    }
    return facts;
  } catch (const json::exception& error) {
    return make_error(ErrorCode::Failed, std::string("the stored report cannot be read: ") + error.what());
  }
}

}  // namespace breakfix
