#include "gateway/channel_bridge.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace breakfix {

void ChannelBridge::attach(std::unique_ptr<ExecStream> exec, OutputObserver observer) {
  exec_ = std::move(exec);
  observer_ = std::move(observer);
  ended_ = false;
  stdin_closed_ = false;
}

std::unique_ptr<ExecStream> ChannelBridge::detach() {
  input_.clear();
  input_taken_ = 0;
  ended_ = true;
  observer_ = nullptr;
  return std::move(exec_);
}

void ChannelBridge::queue_output(OutputStream stream, std::string_view bytes) {
  if (bytes.empty()) return;
  // Consecutive pieces of one stream merge, so that many small reads make few packets.
  if (!output_.empty() && output_.back().stream == stream) {
    output_.back().bytes.append(bytes);
  } else {
    output_.push_back({stream, std::string(bytes)});
  }
  output_bytes_ += bytes.size();
}

void ChannelBridge::drop_output() {
  output_.clear();
  output_bytes_ = 0;
  sent_of_front_ = 0;
}

void ChannelBridge::queue_input(std::string_view bytes) { input_.append(bytes); }

short ChannelBridge::poll_events() const {
  if (!exec_ || ended_) return 0;
  short events = 0;
  if (output_bytes_ < limits_.output_backlog) events |= POLLIN;
  if (input_taken_ < input_.size()) events |= POLLOUT;
  return events;
}

Result<bool> ChannelBridge::pump(ChannelPeer& peer) {
  bool moved = false;
  if (exec_ && !ended_) {
    moved = feed_input() || moved;
    if (output_bytes_ < limits_.output_backlog) moved = read_output() || moved;
  }
  auto sent = send_output(peer);
  if (!sent) return sent.error();
  return moved || *sent;
}

bool ChannelBridge::feed_input() {
  bool moved = false;
  while (input_taken_ < input_.size()) {
    auto written = exec_->write_some_stdin(std::string_view(input_).substr(input_taken_));
    if (!written) {
      // The process closed its stdin or is gone: what it did not take is of no use.
      spdlog::debug("ssh: input dropped: {}", written.error().message);
      input_taken_ = input_.size();
      break;
    }
    if (*written == 0) break;
    input_taken_ += *written;
    moved = true;
  }
  if (input_taken_ == input_.size()) {
    input_.clear();
    input_taken_ = 0;
  } else if (input_taken_ > input_.size() / 2) {
    input_.erase(0, input_taken_);
    input_taken_ = 0;
  }
  if (input_eof_ && input_.empty() && !stdin_closed_) {
    stdin_closed_ = true;
    (void)exec_->close_stdin();
    moved = true;
  }
  return moved;
}

bool ChannelBridge::read_output() {
  bool moved = false;
  auto more = exec_->read_output([&](OutputStream stream, std::string_view piece) {
    moved = true;
    if (observer_) observer_(stream, piece);
    queue_output(stream, piece);
  });
  if (!more) {
    spdlog::debug("ssh: exec stream broke: {}", more.error().message);
    ended_ = true;
  } else if (!*more) {
    ended_ = true;
  }
  return moved || ended_;
}

Result<bool> ChannelBridge::send_output(ChannelPeer& peer) {
  bool moved = false;
  while (!output_.empty()) {
    const std::size_t window = peer.window();
    if (window == 0) break;
    Piece& front = output_.front();
    std::string_view rest = std::string_view(front.bytes).substr(sent_of_front_);
    auto taken = peer.send(front.stream, rest.substr(0, std::min(window, rest.size())));
    if (!taken) return taken.error();
    if (*taken == 0) break;
    moved = true;
    sent_of_front_ += *taken;
    output_bytes_ -= *taken;
    if (sent_of_front_ == front.bytes.size()) {
      output_.pop_front();
      sent_of_front_ = 0;
    }
  }
  return moved;
}

}  // namespace breakfix
