#pragma once

// `breakfix report compare`: several candidates' reports of one scenario (or plan) side by side,
// so that interviewers can calibrate: the score, when each check first passed, and the
// rubric's ratings, never folded into one number.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "breakfix/error.h"

namespace breakfix::cli {

struct Comparison {
  std::vector<std::string> headers;
  std::vector<std::vector<std::string>> rows;  // one per report, in the order given
};

// From reports as GET /v1/sessions/{id}/report returns them (JSON). A check's cell is
// "pass 12:05" (the time it first passed, after ready), "fail", or "fail (passed 12:05)"
// when it passed and regressed; a criterion's "3/4" or "-" when not rated. Reports of a
// plan's sessions compare part by part: each part's score, then its checks and rubric
// under the part's name ("bug-fix: totals are right"), then the plan's rubric. Invalid,
// naming both, when two reports are of different scenarios or plans; Invalid, naming the
// session and the field, for a report that cannot be read.
Result<Comparison> compare_reports(const std::vector<nlohmann::json>& reports);

// RFC 4180: fields with a comma, quote or line break quoted, quotes doubled, CRLF rows.
// Hand-written: Debian 12's only CSV library (libcsv) is a C parser with a writer that
// wants a FILE*, for five lines of quoting.
std::string to_csv(const Comparison& comparison);

}  // namespace breakfix::cli
