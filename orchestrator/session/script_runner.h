#pragma once

// Runs a scenario's scripts (setup, faults, checks, solution) on a lab's hosts.

#include <chrono>
#include <string>

#include "breakfix/lab.h"
#include "breakfix/runtime.h"
#include "breakfix/scenario.h"
#include "session/vars.h"

namespace breakfix {

// How much of a script's output is kept (the end of it: where the error is).
inline constexpr std::size_t kScriptOutputKept = 16 * 1024;

struct ScriptRun {
  int exit_code = -1;
  bool timed_out = false;
  std::chrono::milliseconds duration{0};
  std::string output;  // the last kScriptOutputKept bytes of stdout and stderr, interleaved
  bool succeeded() const { return exit_code == 0 && !timed_out; }
};

// The command that runs a script arriving on stdin: bash reads the script, a NUL, then
// the vars as shell assignments, each whole into a variable that is not exported; it
// points stdin at /dev/null (so no command in the script can swallow the rest of it),
// sets the vars, and evaluates the script under `set -e`. Neither the script nor the
// vars appear in a command line or an environment that `ps` or /proc would show, and
// the vars are shell variables, not exported: a daemon that setup starts does not carry
// the session's fault in its /proc/PID/environ. A script exports what a program needs.
const std::vector<std::string>& script_command();

// What script_command() reads on stdin for `script` with `vars`.
std::string script_input(const std::string& script, const VarValues& vars);

class ScriptRunner {
 public:
  ScriptRunner(Runtime& runtime, Lab lab, VarValues vars) : runtime_(runtime), lab_(std::move(lab)), vars_(std::move(vars)) {}

  // Runs `script` as root on `host` with the vars, BREAKFIX_SESSION and BREAKFIX_HOST set
  // as shell variables, killing it at its timeout. An Error means it could not be run at
  // all (unknown host, engine trouble); a failing script is a ScriptRun that did not succeed.
  Result<ScriptRun> run(const std::string& host, const Script& script) const;

  const Lab& lab() const { return lab_; }
  const VarValues& vars() const { return vars_; }

 private:
  Runtime& runtime_;
  Lab lab_;
  VarValues vars_;
};

}  // namespace breakfix
