#include "session/lab_preparation.h"

#include <algorithm>

#include "session/grader.h"

namespace breakfix {

PreparationStep LabPreparation::script_step(std::string name, const std::string& host, const Script& script) {
  return {std::move(name), [this, &host, &script]() -> PreparationOutcome {
            auto run = runner_.run(host, script);
            if (!run) return {run.error().message, std::nullopt};
            return {"", std::move(*run)};
          }};
}

std::vector<PreparationStep> LabPreparation::steps() {
  std::vector<PreparationStep> steps;
  for (const Host& host : scenario_.hosts) {
    if (host.setup) steps.push_back(script_step("setup " + host.name, host.name, *host.setup));
  }
  for (const Fault& fault : scenario_.faults) steps.push_back(script_step("fault '" + fault.name + "'", fault.host, fault.run));
  const bool any_unchanged = std::any_of(scenario_.hosts.begin(), scenario_.hosts.end(),
                                         [](const Host& host) { return !host.unchanged.empty(); });
  if (any_unchanged) {
    steps.push_back({"hash unchanged paths", [this]() -> PreparationOutcome {
                       auto listed = record_unchanged(runner_, scenario_);
                       if (!listed) return {listed.error().message, std::nullopt};
                       unchanged_ = std::move(*listed);
                       return {};
                     }});
  }
  return steps;
}

std::optional<LabPreparation::Failure> LabPreparation::run_all(const std::function<void(const std::string&)>& starting) {
  for (PreparationStep& step : steps()) {
    if (starting) starting(step.name);
    PreparationOutcome outcome = step.run();
    if (!outcome.ok()) return Failure{step.name, std::move(outcome)};
  }
  return std::nullopt;
}

}  // namespace breakfix
