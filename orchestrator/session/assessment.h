#pragma once

// The interviewer's judgement of a session: ratings of the scenario's rubric and notes.
// Both are events of the session ("rating", "note"), so they sit on the report's
// timeline beside the candidate's progress and commands, survive a restart with
// everything else, and need nothing of their own in the store. They never change the
// checks' score: the report shows the two side by side.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "breakfix/scenario.h"
#include "breakfix/store.h"

namespace breakfix {

inline constexpr const char* kNoteEvent = "note";
inline constexpr const char* kRatingEvent = "rating";
// A note is a few sentences, not a transcript; a session keeps at most this many, so a
// report stays readable and bounded whatever a script posts.
inline constexpr std::size_t kMaxNoteBytes = 4096;
inline constexpr std::size_t kMaxNotesPerSession = 500;

// A rating event's detail: "method 3/4: formed and tested hypotheses". The name and the
// level lead, so it reads well on the timeline and parses back (criterion names have
// no spaces).
std::string rating_detail(const RubricCriterion& criterion, int level);

struct Rating {
  const RubricCriterion* criterion = nullptr;
  int level = 0;  // 1 .. criterion->levels.size()
  WallTime time{};
};

// Each criterion of `rubric` with its latest rating, in rubric order; a criterion never
// rated has level 0. Ratings of criteria the rubric no longer has are left out.
std::vector<Rating> ratings_of(const std::vector<RubricCriterion>& rubric, const std::vector<SessionEvent>& events);

// The ratings as reports show them, beside the checks and never folded into their
// score: JSON (each criterion with its levels and its rating or null) and Markdown (a
// "Rubric" section; empty without criteria).
nlohmann::json rubric_json(const std::vector<Rating>& ratings);
std::string rubric_markdown(const std::vector<Rating>& ratings);

// Why `text` cannot be a note ("" when it can): empty, too long.
std::string note_problem(const std::string& text);

}  // namespace breakfix
