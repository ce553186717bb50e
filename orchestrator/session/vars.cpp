#include "session/vars.h"

#include <random>

namespace breakfix {
namespace {

// splitmix64: a small, well-mixed hash of a 64-bit value (Steele, Lea, Flood 2014).
std::uint64_t mix(std::uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

// FNV-1a of the variable's name, so each variable draws independently of its position.
std::uint64_t name_hash(const std::string& name) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : name) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

}  // namespace

VarValues pick_vars(const Scenario& scenario, std::uint64_t seed) {
  VarValues values;
  for (const Var& var : scenario.vars) {
    const std::uint64_t draw = mix(seed ^ mix(name_hash(var.name)));
    values[var.name] = var.choices[draw % var.choices.size()];
  }
  return values;
}

std::size_t pick_variant(const Scenario& scenario, std::uint64_t seed) {
  if (scenario.variants.empty()) return 0;
  // A name no var can have (vars are upper case), so the variant draws on its own.
  return mix(seed ^ mix(name_hash("variant"))) % scenario.variants.size();
}

ScenarioPtr scenario_for_seed(const ScenarioPtr& scenario, std::uint64_t seed) {
  if (!scenario || scenario->variants.empty()) return scenario;
  return with_variant(scenario, pick_variant(*scenario, seed));
}

std::uint64_t random_seed() {
  std::random_device random;
  return (static_cast<std::uint64_t>(random()) << 32) ^ random();
}

}  // namespace breakfix
