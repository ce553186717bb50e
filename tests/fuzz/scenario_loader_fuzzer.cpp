// libFuzzer target for the scenario loader: any bytes must give a result (a scenario or
// diagnostics), never a crash, a hang, a leak or undefined behaviour. The test command
// runs it for a bounded time under ASan and UBSan, seeded with tests/corpus/invalid and
// the shipped scenarios (tests/run.sh).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "breakfix/scenario_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  breakfix::ScenarioLoad load = breakfix::parse_scenario(text, "fuzz.yaml", "/nonexistent");
  // Every result carries its reasons: a rejected input has at least one error.
  if (!load.scenario && !breakfix::has_errors(load.diagnostics)) __builtin_trap();
  for (const breakfix::Diagnostic& diagnostic : load.diagnostics) {
    if (diagnostic.where.line < 1 || diagnostic.where.column < 1 || diagnostic.message.empty()) __builtin_trap();
  }
  return 0;
}
