#pragma once

// Moves bytes between one SSH channel and one process in the container, in both
// directions, without ever blocking and in the order they were produced.
//
// Why a class of its own: the gateway's connection thread serves every channel of a
// connection from one poll loop. Writing to a channel from inside that loop's callbacks
// re-enters the loop (libssh polls while it waits for the window) and once lost and
// reordered bulk output. So the callbacks only queue, and the loop calls pump() at its
// top level, which sends no more than the client's window allows and reads from the
// process only while the backlog has room: a client that does not read slows the
// process down instead of filling the daemon's memory.

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "breakfix/error.h"
#include "breakfix/runtime.h"

namespace breakfix {

// The SSH side of a bridge (a libssh channel, or a fake in tests).
class ChannelPeer {
 public:
  virtual ~ChannelPeer() = default;
  // How many bytes the client accepts now (its channel window).
  virtual std::size_t window() const = 0;
  // Sends at most window() bytes of `bytes`; returns how many were taken. An error means
  // the connection is broken.
  virtual Result<std::size_t> send(OutputStream stream, std::string_view bytes) = 0;
};

struct BridgeLimits {
  // Output read from the process but not yet sent. Past it the process is not read, so
  // its pipe fills and it waits.
  std::size_t output_backlog = 256 * 1024;
  // Input from the client not yet taken by the process. Past it the client's data stays
  // in libssh, whose window then stops growing, so the client waits.
  std::size_t input_backlog = 1024 * 1024;
};

class ChannelBridge {
 public:
  // Sees each piece of the process's output as it is read, with its stream (recording,
  // live watch).
  using OutputObserver = std::function<void(OutputStream, std::string_view)>;

  explicit ChannelBridge(BridgeLimits limits = {}) : limits_(limits) {}

  void attach(std::unique_ptr<ExecStream> exec, OutputObserver observer);
  ExecStream* exec() const { return exec_.get(); }
  // Gives the process up (the caller kills it first when it should die); queued output
  // stays to be sent.
  std::unique_ptr<ExecStream> detach();

  // Text for the client that does not come from the process: banners, notices, a watched
  // terminal. Sent after what is already queued.
  void queue_output(OutputStream stream, std::string_view bytes);
  std::size_t output_backlog() const { return output_bytes_; }
  void drop_output();

  // Input from the client, for the process. Always taken; callers stop offering once
  // input_full() says so.
  void queue_input(std::string_view bytes);
  bool input_full() const { return input_.size() - input_taken_ >= limits_.input_backlog; }
  // The client sent EOF: the process's stdin closes once the queued input is in.
  void input_eof() { input_eof_ = true; }

  // One round of non-blocking work: queued input to the process, the process's output
  // into the backlog, the backlog to the peer. Returns whether any byte moved; an error
  // only when the peer is broken.
  Result<bool> pump(ChannelPeer& peer);

  // What to poll the process's fd for: readable while the backlog has room, writable
  // while input waits. 0 when there is nothing to wait for.
  short poll_events() const;
  // The process's output has ended (it exited, or its stream broke).
  bool process_ended() const { return ended_; }

 private:
  struct Piece {
    OutputStream stream;
    std::string bytes;
  };
  bool feed_input();
  bool read_output();
  Result<bool> send_output(ChannelPeer& peer);

  BridgeLimits limits_;
  std::unique_ptr<ExecStream> exec_;
  OutputObserver observer_;
  std::deque<Piece> output_;
  std::size_t output_bytes_ = 0;
  std::size_t sent_of_front_ = 0;  // bytes of output_.front() already sent
  std::string input_;
  std::size_t input_taken_ = 0;  // bytes of input_ the process already has
  bool input_eof_ = false;
  bool stdin_closed_ = false;
  bool ended_ = false;
};

}  // namespace breakfix
