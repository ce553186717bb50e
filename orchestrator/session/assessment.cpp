#include "session/assessment.h"

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

}  // namespace breakfix
