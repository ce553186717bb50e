#pragma once

// Follows the legacy scp protocol (rcp's, which `scp -O` still speaks) through an exec
// channel running `scp -t TARGET` (the client uploads) or `scp -f SOURCE` (it downloads),
// and reports each file: its name, size, mode and whether it arrived.
//
// The side that sends files writes, per file, an optional "T<mtime> 0 <atime> 0" line,
// "C<mode> <size> <name>", the file's bytes and one status byte; "D<mode> 0 <name>" and
// "E" enter and leave directories under -r. The receiving side answers each step with a
// status byte: 0 for ok, 1 or 2 followed by an error line. Written by hand because no
// library parses the protocol passively (OpenSSH's scp.c is a program, not a library).
//
// Bounds: a control line longer than kMaxLine or directories deeper than kMaxDepth end
// the parse with one "unparsed" operation; file bytes are counted, never kept.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/transfer_observer.h"

namespace breakfix {

struct ScpCommand {
  bool upload = false;  // -t: files come from the client; -f: they go to it
  bool recursive = false;
  std::string target;  // the path after -t or -f, as the command gave it
};

// "scp [-v] [-r] [-p] [-d] -t|-f [--] PATH", as OpenSSH's scp sends it (flags may be
// grouped, "-pt"); none for any other command.
std::optional<ScpCommand> parse_scp_command(std::string_view command);

class ScpObserver : public TransferObserver {
 public:
  static constexpr std::size_t kMaxLine = 4096 + 64;  // PATH_MAX, the mode and the size
  static constexpr std::size_t kMaxDepth = 64;

  explicit ScpObserver(ScpCommand command) : command_(std::move(command)) {}

  void from_client(std::string_view bytes) override;
  void from_server(std::string_view bytes) override;
  void end() override;

 private:
  enum class State { Line, Data, DataStatus, Gone };

  // The side that sends files, and the side that answers.
  void files(std::string_view bytes);
  void answers(std::string_view bytes);
  void control_line(const std::string& line);
  void give_up(const std::string& why);
  void finish_file(std::optional<bool> ok, const std::string& error);
  std::string path_of(const std::string& name) const;

  ScpCommand command_;
  State state_ = State::Line;
  std::string line_;
  std::vector<std::string> directories_;
  std::optional<FileOperation> file_;  // the file being sent, or waiting for its answer
  std::uint64_t left_ = 0;             // of its bytes
  bool awaiting_answer_ = false;       // its bytes and status byte are through
  std::string answer_line_;            // an error line from the answering side
  bool in_answer_line_ = false;
};

}  // namespace breakfix
