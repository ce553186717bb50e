#include "session/assessment.h"

#include "session/report.h"

#include <algorithm>
#include <cctype>
#include <exception>

namespace breakfix {

std::string rating_detail(const RubricCriterion& criterion, int level) {
  return criterion.name + " " + std::to_string(level) + "/" + std::to_string(criterion.levels.size()) + ": " +
         criterion.levels.at(static_cast<std::size_t>(level - 1));
}

std::vector<Rating> ratings_of(const std::vector<RubricCriterion>& rubric, const std::vector<SessionEvent>& events) {
  std::vector<Rating> ratings;
  for (const RubricCriterion& criterion : rubric) ratings.push_back({&criterion, 0, {}});
  for (const SessionEvent& event : events) {
    if (event.kind != kRatingEvent) continue;
    const std::size_t space = event.detail.find(' ');
    const std::size_t slash = event.detail.find('/', space);
    if (space == std::string::npos || slash == std::string::npos) continue;
    const std::string name = event.detail.substr(0, space);
    int level = 0;
    try {
      level = std::stoi(event.detail.substr(space + 1, slash - space - 1));
    } catch (const std::exception&) {
      continue;
    }
    for (Rating& rating : ratings) {
      if (rating.criterion->name != name) continue;
      if (level < 1 || static_cast<std::size_t>(level) > rating.criterion->levels.size()) continue;
      // Events come oldest first: the last one read is the latest.
      rating.level = level;
      rating.time = event.time;
    }
  }
  return ratings;
}

std::string note_problem(const std::string& text) {
  if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); })) return "is empty";
  if (text.size() > kMaxNoteBytes) {
    return "is " + std::to_string(text.size()) + " bytes; a note has at most " + std::to_string(kMaxNoteBytes);
  }
  return "";
}

nlohmann::json rubric_json(const std::vector<Rating>& ratings) {
  nlohmann::json rubric = nlohmann::json::array();
  for (const Rating& rating : ratings) {
    nlohmann::json entry = {{"name", rating.criterion->name},
                  {"description", rating.criterion->description},
                  {"levels", rating.criterion->levels},
                  {"rating", nullptr}};
    if (rating.level > 0) {
      entry["rating"] = {{"level", rating.level},
                         {"of", rating.criterion->levels.size()},
                         {"meaning", rating.criterion->levels[static_cast<std::size_t>(rating.level - 1)]},
                         {"at", iso_time(rating.time)}};
    }
    rubric.push_back(entry);
  }
  return rubric;
}

std::string rubric_markdown(const std::vector<Rating>& ratings) {
  if (ratings.empty()) return "";
  std::string md = "## Rubric\n\nThe interviewer's ratings; they are not part of the score above.\n\n"
                   "| criterion | rating | what it means |\n|---|---|---|\n";
  for (const Rating& rating : ratings) {
    const RubricCriterion& criterion = *rating.criterion;
    const std::string of = std::to_string(criterion.levels.size());
    md += "| " + escape_cell(criterion.name) + " | " +
          (rating.level > 0 ? std::to_string(rating.level) + " of " + of : "not rated") + " | " +
          (rating.level > 0 ? escape_cell(criterion.levels[static_cast<std::size_t>(rating.level - 1)]) : "-") + " |\n";
  }
  return md + "\n";
}

}  // namespace breakfix
