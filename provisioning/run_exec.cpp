#include <poll.h>

#include <algorithm>
#include <optional>

#include "breakfix/runtime.h"
#include "breakfix/toolbox.h"

namespace breakfix {

const char* to_string(ContainerState state) {
  switch (state) {
    case ContainerState::Created: return "created";
    case ContainerState::Running: return "running";
    case ContainerState::Paused: return "paused";
    case ContainerState::Restarting: return "restarting";
    case ContainerState::Exited: return "exited";
    case ContainerState::Dead: return "dead";
    case ContainerState::Unknown: return "unknown";
  }
  return "unknown";
}

Status ExecStream::write_stdin(std::string_view data) {
  while (!data.empty()) {
    auto written = write_some_stdin(data);
    if (!written) return written.error();
    data.remove_prefix(*written);
    if (*written == 0) {
      pollfd pfd{poll_fd(), POLLOUT, 0};
      ::poll(&pfd, 1, 1000);
    }
  }
  return {};
}

Result<ExecResult> run_exec(Runtime& runtime, const ExecSpec& spec, std::string_view input,
                            const std::function<void(OutputStream, std::string_view)>& sink,
                            const ExecBounds& bounds) {
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  auto stream = runtime.start_exec(spec);
  if (!stream) return stream.error();
  ExecStream& exec = **stream;
  auto cancelled = [&] { return bounds.cancelled && bounds.cancelled(); };

  ExecResult result;
  std::optional<Clock::time_point> kill_at;
  if (bounds.timeout.count() > 0) kill_at = started + bounds.timeout;
  std::optional<Clock::time_point> give_up_at;
  bool stdin_open = true;
  // Input and output are interleaved: a process that reads its input slowly, or
  // not at all, while writing output must not deadlock against us.
  for (;;) {
    if (stdin_open && input.empty()) {
      if (Status closed = exec.close_stdin(); !closed) return closed.error();
      stdin_open = false;
    }
    int wait_ms = 1000;  // also how soon a cancel is seen
    for (const auto& at : {kill_at, give_up_at}) {
      if (!at) continue;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*at - Clock::now()).count();
      wait_ms = static_cast<int>(std::clamp<long long>(left, 0, wait_ms));
    }
    pollfd pfd{exec.poll_fd(), static_cast<short>(POLLIN | (stdin_open ? POLLOUT : 0)), 0};
    ::poll(&pfd, 1, wait_ms);
    if (stdin_open && (pfd.revents & POLLOUT)) {
      auto written = exec.write_some_stdin(input);
      if (!written) return written.error();
      input.remove_prefix(*written);
    }
    auto more = exec.read_output(sink);
    if (!more) return more.error();
    if (!*more) break;
    if (cancelled()) {
      (void)exec.kill();  // bounded; whatever it leaves, we do not wait for it
      return make_error(ErrorCode::Timeout, "exec cancelled");
    }
    const auto now = Clock::now();
    if (kill_at && now >= *kill_at) {
      result.timed_out = true;
      kill_at.reset();
      // A kill that fails (the engine refused the killer) still ends in the drain bound.
      (void)exec.kill();
      give_up_at = Clock::now() + bounds.drain_grace;
    } else if (give_up_at && now >= *give_up_at) {
      // Something escaped the kill and holds the output open. The stream closes with
      // `stream`; the exec is left to the engine, and the caller goes on.
      result.abandoned = true;
      result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
      return result;
    }
  }
  auto code = exec.exit_code();
  if (!code) return code.error();
  result.exit_code = *code;
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  return result;
}

const char* exec_kill_script() {
  // Runs under the toolbox's busybox sh with the marker as $1, and calls nothing of the
  // lab's: every tool is the toolbox's busybox by its full path. environ files are
  // NUL-separated, hence tr before grep; a process may vanish between listing and read.
  return R"(bb=/.breakfix/bin/busybox
marker="BREAKFIX_EXEC=$1"
for round in 1 2 3 4 5; do
  found=""
  for environ in /proc/[0-9]*/environ; do
    pid=${environ#/proc/}; pid=${pid%/environ}
    [ "$pid" = "$$" ] && continue
    if $bb tr '\000' '\n' <"$environ" 2>/dev/null | $bb grep -qxF -- "$marker"; then kill -9 "$pid" 2>/dev/null && found=yes; fi
  done
  [ -z "$found" ] && exit 0
  $bb sleep 0.1
done
)";
}

Status kill_marked_processes(Runtime& runtime, const std::string& container, const std::string& marker,
                             std::chrono::seconds bound) {
  ExecSpec killer;
  killer.container = container;
  killer.command = {kToolboxBusybox, "sh", "-c", exec_kill_script(), "breakfix-kill", marker};
  auto stream = runtime.start_exec(killer);
  if (!stream) return stream.error();
  // Drained to the end: the killer's exit means every marked process got SIGKILL.
  const auto give_up = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < give_up) {
    pollfd pfd{(*stream)->poll_fd(), POLLIN, 0};
    ::poll(&pfd, 1, 200);
    auto more = (*stream)->read_output([](OutputStream, std::string_view) {});
    if (!more) return more.error();
    if (!*more) return {};
  }
  return make_error(ErrorCode::Timeout, "the kill of an exec in " + container + " did not finish within " +
                                            std::to_string(bound.count()) + " s");
}

}  // namespace breakfix
