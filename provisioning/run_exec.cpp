#include <poll.h>

#include <algorithm>
#include <optional>

#include "breakfix/runtime.h"

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

}  // namespace breakfix
