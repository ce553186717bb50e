#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "breakfix/scenario.h"
#include "breakfix/session_record.h"

namespace breakfix {

// Each variable's value for a session, picked from `seed` alone: the same seed gives the
// same lab (a session can be reproduced from its report), and a variable's value does
// not change when other variables are added or removed.
VarValues pick_vars(const Scenario& scenario, std::uint64_t seed);

// The variant a session with `seed` gets, drawn from the seed alone as the vars are (and
// independently of them); 0 for a scenario without variants.
std::size_t pick_variant(const Scenario& scenario, std::uint64_t seed);

// The scenario as a session with `seed` runs it: with its variant resolved (with_variant).
// Null stays null (a scenario no longer in the catalog).
ScenarioPtr scenario_for_seed(const ScenarioPtr& scenario, std::uint64_t seed);

// A fresh random seed for a session that was given none.
std::uint64_t random_seed();

}  // namespace breakfix
