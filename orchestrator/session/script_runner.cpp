#include "session/script_runner.h"

namespace breakfix {
namespace {

// Keeps the last `capacity` bytes appended.
class TailBuffer {
 public:
  explicit TailBuffer(std::size_t capacity) : capacity_(capacity) {}
  void append(std::string_view data) {
    if (data.size() >= capacity_) {
      text_.assign(data.substr(data.size() - capacity_));
      return;
    }
    text_.append(data);
    if (text_.size() > 2 * capacity_) text_.erase(0, text_.size() - capacity_);
  }
  std::string take() {
    if (text_.size() > capacity_) text_.erase(0, text_.size() - capacity_);
    return std::move(text_);
  }

 private:
  std::size_t capacity_;
  std::string text_;
};

}  // namespace

const std::vector<std::string>& script_command() {
  static const std::vector<std::string> command = {
      "/bin/bash", "-c",
      "IFS= read -r -d '' BREAKFIX_SCRIPT || true; exec 0</dev/null; set -e; eval \"$BREAKFIX_SCRIPT\"",
  };
  return command;
}

Result<ScriptRun> ScriptRunner::run(const std::string& host, const Script& script) const {
  const LabHost* lab_host = lab_.find(host);
  if (!lab_host) return make_error(ErrorCode::NotFound, "no host '" + host + "' in session " + lab_.session_id);
  ExecSpec spec;
  spec.container = lab_host->container_id;
  spec.command = script_command();
  spec.user = "root";
  for (const auto& [name, value] : vars_) spec.env.push_back(name + "=" + value);
  spec.env.push_back("BREAKFIX_SESSION=" + lab_.session_id);
  spec.env.push_back("BREAKFIX_HOST=" + host);
  TailBuffer output(kScriptOutputKept);
  auto result = run_exec(runtime_, spec, script.text, [&](OutputStream, std::string_view data) { output.append(data); },
                         script.timeout);
  if (!result) return result.error();
  return ScriptRun{result->exit_code, result->timed_out, result->duration, output.take()};
}

}  // namespace breakfix
