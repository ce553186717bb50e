#include "gateway/channel_bridge.h"

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <deque>
#include <string>

namespace breakfix {
namespace {

// A process whose output the test scripts and whose stdin takes `stdin_room` bytes at a
// time (0: full).
class ScriptedExec : public ExecStream {
 public:
  ~ScriptedExec() override { ::close(fd_); }
  int poll_fd() const override { return fd_; }
  Result<bool> read_output(const std::function<void(OutputStream, std::string_view)>& sink) override {
    ++reads;
    // Like the Docker stream: a bounded amount per call.
    for (int i = 0; i < 4 && !pending.empty(); ++i) {
      sink(pending.front().first, pending.front().second);
      pending.pop_front();
    }
    return !(pending.empty() && finished);
  }
  Result<std::size_t> write_some_stdin(std::string_view data) override {
    if (broken_stdin) return make_error(ErrorCode::Unavailable, "broken pipe");
    const std::size_t n = std::min(data.size(), stdin_room);
    stdin_seen.append(data.substr(0, n));
    return n;
  }
  Status close_stdin() override {
    stdin_closed_after = stdin_seen.size();
    return {};
  }
  Status resize(TerminalSize) override { return {}; }
  Result<int> exit_code() override { return 0; }
  Status kill() override { return {}; }

  std::deque<std::pair<OutputStream, std::string>> pending;
  bool finished = false;
  int reads = 0;
  std::size_t stdin_room = SIZE_MAX;
  bool broken_stdin = false;
  std::string stdin_seen;
  std::optional<std::size_t> stdin_closed_after;

 private:
  int fd_ = ::eventfd(0, EFD_CLOEXEC);
};

// A client with a window the test controls; records what arrives on each stream in order.
class RecordingPeer : public ChannelPeer {
 public:
  std::size_t window() const override { return window_left; }
  Result<std::size_t> send(OutputStream stream, std::string_view bytes) override {
    if (broken) return make_error(ErrorCode::Unavailable, "connection reset");
    REQUIRE(bytes.size() <= window_left);  // the bridge never asks for more than the window
    window_left -= bytes.size();
    (stream == OutputStream::Stdout ? out : err).append(bytes);
    both.append(stream == OutputStream::Stdout ? "o:" : "e:").append(bytes).append("|");
    return bytes.size();
  }
  std::size_t window_left = SIZE_MAX;
  bool broken = false;
  std::string out, err, both;
};

}  // namespace

TEST_CASE("channel bridge: output reaches the client in order, stdout and stderr interleaved as produced") {
  auto exec = std::make_unique<ScriptedExec>();
  auto* process = exec.get();
  process->pending = {{OutputStream::Stdout, "one"}, {OutputStream::Stderr, "two"}, {OutputStream::Stdout, "three"}};
  process->finished = true;
  std::string observed;
  ChannelBridge bridge;
  bridge.attach(std::move(exec), [&](OutputStream, std::string_view piece) { observed.append(piece); });
  bridge.queue_output(OutputStream::Stdout, "banner ");
  RecordingPeer peer;
  auto moved = bridge.pump(peer);
  REQUIRE(moved.ok());
  CHECK(*moved);
  CHECK(peer.both == "o:banner one|e:two|o:three|");
  CHECK(observed == "onetwothree");  // the banner is not the process's output
  CHECK(bridge.process_ended());
  CHECK(bridge.output_backlog() == 0);
  CHECK(bridge.poll_events() == 0);
}

TEST_CASE("channel bridge: sends no more than the window and keeps the rest, in order") {
  auto exec = std::make_unique<ScriptedExec>();
  auto* process = exec.get();
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    std::string line = std::to_string(i) + "\n";
    process->pending.push_back({OutputStream::Stdout, line});
    expected += line;
  }
  process->finished = true;
  ChannelBridge bridge;
  bridge.attach(std::move(exec), nullptr);
  RecordingPeer peer;
  peer.window_left = 7;
  int rounds = 0;
  while (!(bridge.process_ended() && bridge.output_backlog() == 0)) {
    REQUIRE(bridge.pump(peer).ok());
    if (bridge.output_backlog() > 0) CHECK(peer.window_left == 0);  // used fully whenever output waits
    peer.window_left = 7;          // the client reads and grows the window again
    REQUIRE(++rounds < 1000);
  }
  CHECK(peer.out == expected);
}

TEST_CASE("channel bridge: a client that does not read stops the reading of the process") {
  auto exec = std::make_unique<ScriptedExec>();
  auto* process = exec.get();
  for (int i = 0; i < 64; ++i) process->pending.push_back({OutputStream::Stdout, std::string(1024, 'x')});
  BridgeLimits limits;
  limits.output_backlog = 8 * 1024;
  ChannelBridge bridge(limits);
  bridge.attach(std::move(exec), nullptr);
  RecordingPeer peer;
  peer.window_left = 0;
  for (int i = 0; i < 10; ++i) REQUIRE(bridge.pump(peer).ok());
  // Reads stop once the backlog is past its limit (one read may overshoot it).
  CHECK(bridge.output_backlog() >= limits.output_backlog);
  CHECK(bridge.output_backlog() < limits.output_backlog + 4 * 1024 + 1);
  CHECK(process->pending.size() > 40);
  CHECK((bridge.poll_events() & POLLIN) == 0);  // nothing to wake up for until the client reads
  peer.window_left = SIZE_MAX;
  REQUIRE(bridge.pump(peer).ok());
  CHECK((bridge.poll_events() & POLLIN) != 0);
}

TEST_CASE("channel bridge: input waits while the process does not read, and EOF follows the last byte") {
  auto exec = std::make_unique<ScriptedExec>();
  auto* process = exec.get();
  process->stdin_room = 0;
  BridgeLimits limits;
  limits.input_backlog = 10;
  ChannelBridge bridge(limits);
  bridge.attach(std::move(exec), nullptr);
  RecordingPeer peer;
  bridge.queue_input("hello ");
  CHECK_FALSE(bridge.input_full());
  bridge.queue_input("world");
  CHECK(bridge.input_full());
  bridge.input_eof();
  REQUIRE(bridge.pump(peer).ok());
  CHECK(process->stdin_seen.empty());
  CHECK((bridge.poll_events() & POLLOUT) != 0);
  CHECK_FALSE(process->stdin_closed_after.has_value());  // not before the input is in
  process->stdin_room = 4;
  REQUIRE(bridge.pump(peer).ok());
  CHECK(process->stdin_seen == "hello world");
  REQUIRE(process->stdin_closed_after.has_value());
  CHECK(*process->stdin_closed_after == 11);
  CHECK_FALSE(bridge.input_full());
  CHECK((bridge.poll_events() & POLLOUT) == 0);
}

TEST_CASE("channel bridge: a process that stopped taking input loses the input, not the output") {
  auto exec = std::make_unique<ScriptedExec>();
  auto* process = exec.get();
  process->broken_stdin = true;
  process->pending = {{OutputStream::Stdout, "bye"}};
  process->finished = true;
  ChannelBridge bridge;
  bridge.attach(std::move(exec), nullptr);
  bridge.queue_input("ignored");
  RecordingPeer peer;
  REQUIRE(bridge.pump(peer).ok());
  CHECK(peer.out == "bye");
  CHECK_FALSE(bridge.input_full());
}

TEST_CASE("channel bridge: a broken client is an error, queued text survives detach") {
  auto exec = std::make_unique<ScriptedExec>();
  ChannelBridge bridge;
  bridge.attach(std::move(exec), nullptr);
  bridge.queue_output(OutputStream::Stdout, "closing message");
  auto process = bridge.detach();
  CHECK(process != nullptr);
  CHECK(bridge.exec() == nullptr);
  CHECK(bridge.process_ended());
  RecordingPeer broken;
  broken.broken = true;
  CHECK_FALSE(bridge.pump(broken).ok());
  RecordingPeer peer;
  REQUIRE(bridge.pump(peer).ok());
  CHECK(peer.out == "closing message");
  bridge.drop_output();
  CHECK(bridge.output_backlog() == 0);
}

}  // namespace breakfix
