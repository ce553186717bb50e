#pragma once

namespace breakfix::cli {

// Exit codes of every breakfix command (docs/cli.md).
inline constexpr int kExitOk = 0;       // did what was asked; for lint: no errors
inline constexpr int kExitFailure = 1;  // ran, and found errors or could not finish
inline constexpr int kExitUsage = 2;    // the command line itself is wrong
inline constexpr int kExitUnreachable = 3;  // no daemon answers (session commands)
inline constexpr int kExitNotFound = 4;     // the daemon does not know the session or scenario

}  // namespace breakfix::cli
