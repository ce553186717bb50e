#pragma once

namespace breakfix::cli {

// Exit codes of every breakfix command (docs/cli.md).
inline constexpr int kExitOk = 0;       // did what was asked; for lint: no errors
inline constexpr int kExitFailure = 1;  // ran, and found errors or could not finish
inline constexpr int kExitUsage = 2;    // the command line itself is wrong

}  // namespace breakfix::cli
