#include "session/script_runner.h"

#include "breakfix/toolbox.h"

namespace breakfix {
namespace {

// Keeps the last `capacity` bytes appended.
class TailBuffer {
 public:
  explicit TailBuffer(std::size_t capacity) : capacity_(capacity) {}
  void append(std::string_view data) {
    if (data.size() >= capacity_) {
      dropped_ = dropped_ || data.size() > capacity_ || !text_.empty();
      text_.assign(data.substr(data.size() - capacity_));
      return;
    }
    text_.append(data);
    if (text_.size() > 2 * capacity_) {
      text_.erase(0, text_.size() - capacity_);
      dropped_ = true;
    }
  }
  // The last `capacity` bytes at most, starting on a character: a UTF-8 sequence the
  // cut fell into is dropped whole (continuation bytes are 10xxxxxx, at most 3 of them).
  std::string take() {
    if (text_.size() > capacity_) {
      text_.erase(0, text_.size() - capacity_);
      dropped_ = true;
    }
    if (dropped_) {
      std::size_t start = 0;
      for (int i = 0; i < 3 && start < text_.size() && (static_cast<unsigned char>(text_[start]) & 0xC0) == 0x80; ++i) {
        ++start;
      }
      text_.erase(0, start);
    }
    return std::move(text_);
  }

 private:
  std::size_t capacity_;
  std::string text_;
  bool dropped_ = false;  // the start was cut off
};

}  // namespace

const std::vector<std::string>& script_command(ScriptTools tools) {
  auto command = [](const std::string& functions) {
    return std::vector<std::string>{
        kToolboxBash, "-c",
        "IFS= read -r -d '' BREAKFIX_SCRIPT || true; IFS= read -r -d '' BREAKFIX_VARS || true; exec 0</dev/null; "
        "eval \"$BREAKFIX_VARS\"; unset BREAKFIX_VARS; " + functions + "set -e; eval \"$BREAKFIX_SCRIPT\"",
    };
  };
  static const std::vector<std::string> lab = command("");
  static const std::vector<std::string> grader = command(toolbox_functions());
  return tools == ScriptTools::Grader ? grader : lab;
}

std::string script_input(const std::string& script, const VarValues& vars, const std::string& lib) {
  // Single quotes keep every byte of a value; a quote inside one closes, escapes, reopens.
  auto quoted = [](const std::string& value) {
    std::string out = "'";
    for (char c : value) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  };
  std::string input = script;
  input += '\0';
  for (const auto& [name, value] : vars) input += name + "=" + quoted(value) + "\n";
  // The helpers go with the vars, defined before the script: its line numbers stay its own.
  input += lib;
  return input;
}

Result<ScriptRun> ScriptRunner::run(const std::string& host, const Script& script, const ScriptOptions& options) const {
  const LabHost* lab_host = lab_.find(host);
  if (!lab_host) return make_error(ErrorCode::NotFound, "no host '" + host + "' in session " + lab_.session_id);
  ExecSpec spec;
  spec.container = lab_host->container_id;
  spec.command = script_command(options.tools);
  spec.user = "root";
  // HOME set, so that bash never looks the user up (a static glibc would load the lab's
  // NSS modules to do it); BASH_ENV empty, so that no startup file is read.
  spec.env = {"HOME=/root", "BASH_ENV="};
  VarValues vars = vars_;
  vars["BREAKFIX_SESSION"] = lab_.session_id;
  vars["BREAKFIX_HOST"] = host;
  TailBuffer output(kScriptOutputKept);
  ExecBounds bounds;
  bounds.timeout = options.timeout.count() > 0 ? options.timeout : std::chrono::milliseconds(script.timeout);
  bounds.cancelled = cancelled_;
  auto result = run_exec(runtime_, spec, script_input(script.text, vars, script.lib ? *script.lib : std::string()),
                         [&](OutputStream, std::string_view data) { output.append(data); }, bounds);
  if (!result) return result.error();
  ScriptRun run{result->exit_code, result->timed_out, result->duration, output.take()};
  if (result->abandoned) {
    run.output += "\n[breakfix: processes of this script survived the kill at its timeout and held its output open; "
                  "the grader stopped waiting for them]\n";
  }
  return run;
}

std::string run_failure(const ScriptRun& run) {
  return run.timed_out ? "timed out after " + std::to_string(run.duration.count()) + " ms"
                       : "exit " + std::to_string(run.exit_code);
}

std::string describe_run(const ScriptRun& run) {
  std::string text = run_failure(run);
  if (!run.output.empty()) {
    text += "; output:\n" + run.output;
    if (text.back() != '\n') text += "\n";
  }
  return text;
}

}  // namespace breakfix
