#include "lxd_exec.h"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <thread>

#include "breakfix/socket_timeouts.h"

namespace breakfix::lxd {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using local = asio::local::stream_protocol;
using Socket = websocket::stream<local::socket>;
using nlohmann::json;

// What the pump thread writes to the caller's end of the socketpair: a frame of
// [kind][4-byte little-endian length][bytes].
enum FrameKind : unsigned char { kStdout = 0, kStderr = 1, kEnd = 2 };
constexpr std::size_t kFrameHeader = 5;
constexpr std::size_t kMaxMessage = 1 << 20;

constexpr const char* kDeclined = "LXD declined the websocket handshake";

Result<std::unique_ptr<Socket>> connect_socket(asio::io_context& io, const ClientOptions& options,
                                               const std::string& operation, const std::string& secret) {
  // In a cluster, an exec on another member's instance is an operation of that member,
  // which the member this socket reaches forwards; in the cluster test here a handshake
  // right after the exec was made was once declined. A declined handshake is tried again
  // a few times (the reason LXD gave is kept for the error); any other failure is not.
  std::string declined;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
    auto socket = std::make_unique<Socket>(io);
    boost::system::error_code ec;
    beast::get_lowest_layer(*socket).connect(local::endpoint(options.socket_path), ec);
    if (ec) return make_error(ErrorCode::Unavailable, "cannot reach LXD at " + options.socket_path + ": " + ec.message());
    // The handshake is synchronous and bounded; later traffic is asynchronous.
    set_socket_timeouts(beast::get_lowest_layer(*socket).native_handle(), std::chrono::seconds(30));
    websocket::response_type response;
    socket->handshake(response, "lxd", operation_path(operation, "/websocket", "secret=" + secret), ec);
    if (ec == websocket::error::upgrade_declined) {
      declined = std::to_string(response.result_int()) + " " + response.body().substr(0, 300);
      continue;
    }
    if (ec) return make_error(ErrorCode::Failed, "exec " + operation + ": the websocket handshake failed: " + ec.message());
    socket->read_message_max(kMaxMessage);
    socket->binary(true);
    return socket;
  }
  return make_error(ErrorCode::Failed, "exec " + operation + ": " + kDeclined + " (" + declined + ")");
}

// Runs the websockets on a thread of its own and meets the caller at `side`.
class Pump {
 public:
  // Connects to the operation's websockets; `side_fd` is the pump's end of the socketpair.
  static Result<std::unique_ptr<Pump>> open(const ClientOptions& options, const Operation& operation, bool tty,
                                            const std::map<std::string, std::string>& secrets, int side_fd) {
    std::unique_ptr<Pump> pump(new Pump(tty));
    pump->side_.assign(local(), side_fd);
    // The control socket first: LXD starts the command once every data socket is
    // connected (control or not), so a handshake declined after that would leave the
    // command running, and a retry (start_exec_stream) would run it twice.
    for (const auto& [name, slot] : {std::pair{"control", &pump->control_}, std::pair{"0", &pump->input_},
                                     std::pair{"1", &pump->output_}, std::pair{"2", &pump->errors_}}) {
      auto found = secrets.find(name);
      if (found == secrets.end()) continue;
      auto socket = connect_socket(pump->io_, options, operation.id, found->second);
      if (!socket) return socket.error();
      *slot = std::move(*socket);
    }
    pump->control_->text(true);
    return pump;
  }

  ~Pump() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  void run() {
    thread_ = std::thread([this] {
      if (tty_) {
        read_output(*input_, kStdout, input_buffer_);
      } else {
        read_output(*output_, kStdout, output_buffer_);
        read_output(*errors_, kStderr, errors_buffer_);
      }
      read_control();
      read_stdin();
      io_.run();
    });
  }

  Status resize(TerminalSize size) {
    auto done = std::make_shared<std::promise<boost::system::error_code>>();
    auto result = done->get_future();
    const std::string message =
        json{{"command", "window-resize"},
             {"args", {{"width", std::to_string(size.columns)}, {"height", std::to_string(size.rows)}}}}
            .dump();
    asio::post(io_, [this, done, message] {
      auto text = std::make_shared<std::string>(message);
      control_->async_write(asio::buffer(*text), [done, text](boost::system::error_code ec, std::size_t) {
        done->set_value(ec);
      });
    });
    if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      return make_error(ErrorCode::Timeout, "LXD did not take a resize within 10 s");
    }
    if (auto ec = result.get()) return make_error(ErrorCode::Failed, "resize: " + ec.message());
    return {};
  }

 private:
  void read_output(Socket& socket, FrameKind kind, beast::flat_buffer& buffer) {
    socket.async_read(buffer, [this, &socket, kind, &buffer](boost::system::error_code ec, std::size_t) {
      if (ec) {
        // LXD ends an output's websocket when the process's output ends: with a close
        // message, or by closing the connection (EOF or a reset), all seen here. The
        // exit status (the operation's) tells whether the process ended well.
        if (++closed_outputs_ == (tty_ ? 1 : 2)) finish();
        return;
      }
      if (buffer.size() == 0) {
        // Or LXD marks the end with an empty message (and may leave the connection
        // open after it, as it does for a terminal).
        if (++closed_outputs_ == (tty_ ? 1 : 2)) finish();
        return;
      }
      // The message goes to the caller from the socket's own buffer, never copied: the
      // next one is read once this one is written, so a caller that does not read holds
      // LXD back, and memory stays at one message a stream whatever the output's size.
      send(kind, buffer.data(), [this, &socket, kind, &buffer] {
        buffer.consume(buffer.size());
        read_output(socket, kind, buffer);
      });
    });
  }

  void finish() {
    // LXD ends the operation once our side of the input is closed too: a terminal's one
    // websocket stays open until then.
    close_input();
    send(kEnd, asio::const_buffer(), [this] {
      boost::system::error_code ignored;
      side_.shutdown(local::socket::shutdown_send, ignored);
    });
  }

  // A frame: the kind, the length, then `data` (which must stay valid until `then`).
  struct Outgoing {
    std::array<unsigned char, kFrameHeader> header;
    asio::const_buffer data;
    std::function<void()> then;
  };

  void send(FrameKind kind, asio::const_buffer data, std::function<void()> then) {
    Outgoing frame{{}, data, std::move(then)};
    frame.header[0] = kind;
    const auto size = static_cast<std::uint32_t>(data.size());
    for (int i = 0; i < 4; ++i) frame.header[1 + i] = static_cast<unsigned char>((size >> (8 * i)) & 0xff);
    outgoing_.push_back(std::move(frame));
    if (outgoing_.size() == 1) write_next();
  }

  void write_next() {
    const Outgoing& frame = outgoing_.front();
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(frame.header), frame.data};
    asio::async_write(side_, buffers, [this](boost::system::error_code ec, std::size_t) {
      if (ec) return;  // the caller is gone
      auto then = std::move(outgoing_.front().then);
      outgoing_.pop_front();
      if (then) then();
      if (!outgoing_.empty()) write_next();
    });
  }

  void read_control() {
    control_->async_read(control_buffer_, [this](boost::system::error_code ec, std::size_t) {
      if (ec) return;
      control_buffer_.consume(control_buffer_.size());
      read_control();
    });
  }

  void read_stdin() {
    side_.async_read_some(asio::buffer(stdin_chunk_), [this](boost::system::error_code ec, std::size_t got) {
      if (ec) {
        if (ec == asio::error::eof) end_stdin();
        return;
      }
      if (stdin_dead_) {
        read_stdin();  // the process took no more input: drop it, keep the caller unblocked
        return;
      }
      auto data = std::make_shared<std::string>(stdin_chunk_.data(), got);
      input_->async_write(asio::buffer(*data), [this, data](boost::system::error_code write_ec, std::size_t) {
        if (write_ec) stdin_dead_ = true;
        read_stdin();
      });
    });
  }

  void end_stdin() {
    if (stdin_dead_) return;
    if (tty_) {
      // A terminal's end of input is the EOF character its line discipline turns into
      // a read of 0 bytes; closing the one websocket would end the output too.
      auto eof = std::make_shared<std::string>("\x04");
      input_->async_write(asio::buffer(*eof), [eof](boost::system::error_code, std::size_t) {});
    } else {
      close_input();
    }
  }

  void close_input() {
    if (input_closed_) return;
    input_closed_ = true;
    stdin_dead_ = true;
    input_->async_close(websocket::close_code::normal, [](boost::system::error_code) {});
  }

  explicit Pump(bool tty) : tty_(tty) {}

  const bool tty_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  local::socket side_{io_};
  std::unique_ptr<Socket> input_, output_, errors_, control_;
  beast::flat_buffer input_buffer_, output_buffer_, errors_buffer_, control_buffer_;
  std::array<char, 64 * 1024> stdin_chunk_{};
  std::deque<Outgoing> outgoing_;
  int closed_outputs_ = 0;
  bool stdin_dead_ = false;
  bool input_closed_ = false;
  std::thread thread_;
};

class LxdExecStream : public ExecStream {
 public:
  LxdExecStream(Client& client, std::string operation, std::unique_ptr<Pump> pump, int fd, std::function<Status()> kill)
      : client_(client), operation_(std::move(operation)), pump_(std::move(pump)), fd_(fd), kill_(std::move(kill)) {}
  ~LxdExecStream() override {
    pump_.reset();
    ::close(fd_);
  }

  int poll_fd() const override { return fd_; }

  Result<bool> read_output(const std::function<void(OutputStream, std::string_view)>& sink) override {
    if (ended_) return false;
    char chunk[64 * 1024];
    for (int round = 0; round < 16; ++round) {
      const ssize_t got = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
      if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        return make_error(ErrorCode::Unavailable, "exec " + operation_ + ": " + std::strerror(errno));
      }
      if (got == 0) {
        deliver(sink);
        if (!ended_) return make_error(ErrorCode::Internal, "exec " + operation_ + ": the stream's pump stopped early");
        return false;
      }
      pending_.append(chunk, static_cast<std::size_t>(got));
    }
    deliver(sink);
    return !ended_;
  }

  Result<std::size_t> write_some_stdin(std::string_view data) override {
    if (data.empty()) return std::size_t{0};
    const ssize_t sent = ::send(fd_, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return std::size_t{0};
      return make_error(ErrorCode::Unavailable, "exec " + operation_ + ": stdin: " + std::strerror(errno));
    }
    return static_cast<std::size_t>(sent);
  }

  Status close_stdin() override {
    ::shutdown(fd_, SHUT_WR);
    return {};
  }

  Status resize(TerminalSize size) override { return pump_->resize(size); }

  Result<int> exit_code() override {
    auto done = client_.wait(operation_, "exec " + operation_, std::chrono::seconds(30));
    if (!done) return done.error();
    if (!done->is_object() || !done->contains("return") || !(*done)["return"].is_number_integer()) {
      return make_error(ErrorCode::Internal, "exec " + operation_ + ": LXD gave no exit status");
    }
    return (*done)["return"].get<int>();
  }

  Status kill() override { return kill_(); }

 private:
  // Hands complete frames to `sink`, up to the end frame.
  void deliver(const std::function<void(OutputStream, std::string_view)>& sink) {
    std::size_t at = 0;
    while (pending_.size() - at >= kFrameHeader) {
      std::uint32_t size = 0;
      for (int i = 0; i < 4; ++i) size |= static_cast<std::uint32_t>(static_cast<unsigned char>(pending_[at + 1 + i])) << (8 * i);
      if (pending_.size() - at < kFrameHeader + size) break;
      const auto kind = static_cast<FrameKind>(pending_[at]);
      const std::string_view data(pending_.data() + at + kFrameHeader, size);
      at += kFrameHeader + size;
      if (kind == kStdout || kind == kStderr) {
        sink(kind == kStdout ? OutputStream::Stdout : OutputStream::Stderr, data);
      } else {
        ended_ = true;
        break;
      }
    }
    pending_.erase(0, at);
  }

  Client& client_;
  std::string operation_;
  std::unique_ptr<Pump> pump_;
  int fd_;
  std::function<Status()> kill_;
  std::string pending_;
  bool ended_ = false;
};

}  // namespace

Result<std::unique_ptr<ExecStream>> open_exec_stream(Client& client, const Operation& operation, bool tty,
                                                     std::function<Status()> kill) {
  const json fds = operation.metadata.contains("fds") ? operation.metadata["fds"] : json();
  std::map<std::string, std::string> secrets;
  for (const char* name : tty ? std::vector<const char*>{"0", "control"} : std::vector<const char*>{"0", "1", "2", "control"}) {
    if (!fds.is_object() || !fds.contains(name) || !fds[name].is_string()) {
      return make_error(ErrorCode::Internal, "exec " + operation.id + ": LXD gave no websocket '" + name + "'");
    }
    secrets[name] = fds[name].get<std::string>();
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return make_error(ErrorCode::Internal, std::string("socketpair: ") + std::strerror(errno));
  }
  auto pump = Pump::open(client.options(), operation, tty, secrets, pair[1]);  // owns pair[1] from here
  if (!pump) {
    ::close(pair[0]);
    return pump.error();
  }
  (*pump)->run();
  return std::unique_ptr<ExecStream>(
      std::make_unique<LxdExecStream>(client, operation.id, std::move(*pump), pair[0], std::move(kill)));
}

Result<std::unique_ptr<ExecStream>> start_exec_stream(Client& client, const std::string& exec_path, const json& body,
                                                      const std::string& what, bool tty, std::function<Status()> kill) {
  // A declined handshake (connect_socket) started nothing: LXD runs the command once all
  // of its data websockets are connected, and Pump::open connects those last, the
  // declined one among them not. So the whole exec is made again, a few times.
  for (int attempt = 0;; ++attempt) {
    auto operation = client.start(Method::Post, exec_path, what, body);
    if (!operation) return operation.error();
    auto stream = open_exec_stream(client, *operation, tty, kill);
    if (stream || attempt == 2 || stream.error().message.find(kDeclined) == std::string::npos) return stream;
    std::this_thread::sleep_for(std::chrono::milliseconds(200 * (attempt + 1)));
  }
}

}  // namespace breakfix::lxd
