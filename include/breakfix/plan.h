#pragma once

// A plan: one interview of several parts (`kind: plan`, plan.yaml), each a scenario of
// the library with its own time budget, e.g. a break-fix lab (45 min), a bug-fix lab (30
// min) and a customer ticket (15 min). Parts run in sequence (the next part's hosts come
// when the candidate moves on) or together (every part's hosts at once, each reached as
// ID+host). The plan may carry the interview's rubric. docs/scenario-format.md, "Plans".

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "breakfix/diagnostic.h"
#include "breakfix/scenario.h"

namespace breakfix {

// The name of the file that defines a plan inside its directory.
inline constexpr const char* kPlanFileName = "plan.yaml";

enum class PlanMode { Sequence, Together };
const char* to_string(PlanMode mode);

struct PlanPart {
  std::string name;         // as an id; unique in the plan
  std::string scenario_id;  // a scenario of the library (checked by the catalog)
  std::chrono::seconds duration{0};
  SourcePosition scenario_position;  // where `scenario:` stands, for the catalog's errors
};

struct Plan {
  std::string id;
  std::string title;
  std::string description;
  PlanMode mode = PlanMode::Sequence;
  std::vector<PlanPart> parts;
  std::vector<RubricCriterion> rubric;  // the interview's; each part's scenario may have its own
  std::filesystem::path source_file;
  SourcePosition id_position;

  // The whole interview: the parts' budgets added up. Side by side, every part's hosts
  // stay up that long and the budgets say how the candidate might share the time.
  std::chrono::seconds duration() const;
};

using PlanPtr = std::shared_ptr<const Plan>;

struct PlanLoad {
  PlanPtr plan;  // null when any error was found
  std::vector<Diagnostic> diagnostics;
};

// Parses and validates a plan.yaml on its own (the parts' scenarios are the catalog's to
// check). Every error of the file is reported, as for scenarios.
PlanLoad parse_plan(std::string_view text, const std::string& file_name);
PlanLoad load_plan_file(const std::filesystem::path& file);

}  // namespace breakfix
