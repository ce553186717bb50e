#pragma once

// The interviewer's report: score, each check's final result, the progress timeline
// (when each check first passed, when it regressed), the session's events. JSON for
// tools, Markdown for people; both from the same facts.

#include <string>
#include <vector>

#include "breakfix/scenario.h"
#include "breakfix/store.h"
#include "session/channel_record.h"
#include "session/lab_changes.h"
#include "session/ticket_reply.h"
#include "session/session_machine.h"
#include "session/vars.h"

namespace breakfix {

struct ReportInput {
  std::string session_id;
  const Scenario* scenario = nullptr;
  std::string candidate;
  std::uint64_t seed = 0;
  VarValues vars;
  SessionRecord record;
  std::vector<CheckRunRecord> check_runs;  // every phase, in time order; the last "final" ones grade
  std::vector<SessionEvent> events;
  std::vector<std::string> recordings;  // file names of the session's terminal recordings
  std::vector<ChannelRecord> channels;  // commands, sftp and scp outside terminals, oldest first
  const LabChanges* changes = nullptr;  // what changed on the hosts since ready; null: not compared
  const ReplyText* reply = nullptr;     // a customer scenario's answer, read at grading
};

struct Report {
  double score = 0;  // in [0, 1]
  std::string json;
  std::string markdown;
};

// The events include the interviewer's notes and ratings (session/assessment.h): they
// appear on the timeline, and the ratings as the rubric, beside the score.
Report build_report(const ReportInput& input);

// What a report built earlier read from the hosts at grading (their changes, the reply),
// so that it can be built again (a note written after grading) from the store alone,
// when the hosts are gone.
struct GradingFacts {
  LabChanges changes;
  std::optional<ReplyText> reply;
};
Result<GradingFacts> grading_facts_from_report(const std::string& report_json);

// "2026-11-27T00:41:12Z"
std::string iso_time(WallTime time);

// "12:05": minutes and seconds since `ready` (negative before it), as the timeline shows times.
std::string minutes_into(WallTime time, WallTime ready);

// Text for a Markdown table cell: '|' escaped, newlines as spaces.
std::string escape_cell(std::string text);

}  // namespace breakfix
