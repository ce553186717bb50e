#pragma once

// Runs a scenario's scripts (setup, faults, checks, solution) on a lab's hosts.

#include <chrono>
#include <functional>
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

// Why a run did not succeed: "exit 3" or "timed out after 30000 ms".
std::string run_failure(const ScriptRun& run);
// run_failure() and, below it, what the script printed: for people reading a test report.
std::string describe_run(const ScriptRun& run);

// The command that runs a script arriving on stdin, under the toolbox's static bash
// (toolbox.h), never the lab's; with the grader's tools (ScriptTools::Grader) it defines
// toolbox_functions() first. Bash reads the script, a NUL, then the vars as shell
// assignments, each whole into a variable that is not exported; it points stdin at
// /dev/null (so no command in the script can swallow the rest of it), sets the vars, and
// evaluates the script under `set -e`. Neither the script nor the vars appear in a
// command line or an environment that `ps` or /proc would show, and the vars are shell
// variables, not exported: a daemon that setup starts does not carry the session's fault
// in its /proc/PID/environ. A script exports what a program needs.
enum class ScriptTools;
const std::vector<std::string>& script_command(ScriptTools tools);

// What script_command() reads on stdin for `script` with `vars`.
std::string script_input(const std::string& script, const VarValues& vars, const std::string& lib = "");

// The tools a script's own commands find. Both kinds run under the toolbox's bash, with
// the lab's PATH (so the programs a script starts behave as they do for the candidate).
enum class ScriptTools {
  // Setup, faults and solutions: the lab's own tools. They run before the candidate has
  // been in the lab (or, for solutions, only in `scenario test`): the tools are the author's.
  Lab,
  // Checks and progress runs: the toolbox's core utilities (grep, sed, stat, ...) as
  // shell functions, and the lab's software (nginx, su, curl) by name, which is what a
  // check is there to test.
  Grader,
};

struct ScriptOptions {
  ScriptTools tools = ScriptTools::Lab;
  // Shorter than the script's own timeout when the grading's time is running out; 0:
  // the script's.
  std::chrono::milliseconds timeout{0};
};

class ScriptRunner {
 public:
  // `cancelled`, when given, is asked about once a second while a script runs; true
  // stops it (the daemon stopping): the run then ends within seconds with an Error.
  ScriptRunner(Runtime& runtime, Lab lab, VarValues vars, std::function<bool()> cancelled = {})
      : runtime_(runtime), lab_(std::move(lab)), vars_(std::move(vars)), cancelled_(std::move(cancelled)) {}

  // Runs `script` as root on `host` with the vars, BREAKFIX_SESSION and BREAKFIX_HOST set
  // as shell variables, killing it at its timeout; it returns within that timeout plus a
  // few seconds whatever the lab does (run_exec's bounds). An Error means it could not be
  // run at all (unknown host, engine trouble, cancelled); a failing, timed-out or
  // abandoned script is a ScriptRun that did not succeed.
  Result<ScriptRun> run(const std::string& host, const Script& script, const ScriptOptions& options = {}) const;

  const Lab& lab() const { return lab_; }
  const VarValues& vars() const { return vars_; }

 private:
  Runtime& runtime_;
  Lab lab_;
  VarValues vars_;
  std::function<bool()> cancelled_;
};

}  // namespace breakfix
