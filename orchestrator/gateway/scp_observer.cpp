#include "gateway/scp_observer.h"

#include <charconv>
#include <cstdio>

namespace breakfix {
namespace {

constexpr std::string_view kBlank = " \t";

bool all_octal(std::string_view text) {
  return !text.empty() && text.size() <= 6 && text.find_first_not_of("01234567") == std::string_view::npos;
}

std::optional<std::uint64_t> decimal(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// "<mode> <size> <name>" after the C or D: none when it is not that.
struct Entry {
  std::string mode;
  std::uint64_t size = 0;
  std::string name;
};
std::optional<Entry> parse_entry(std::string_view rest) {
  const std::size_t space = rest.find(' ');
  const std::size_t second = space == std::string_view::npos ? space : rest.find(' ', space + 1);
  if (second == std::string_view::npos || second + 1 >= rest.size()) return std::nullopt;
  const std::string_view mode = rest.substr(0, space);
  const auto size = decimal(rest.substr(space + 1, second - space - 1));
  if (!all_octal(mode) || !size) return std::nullopt;
  return Entry{std::string(mode), *size, std::string(rest.substr(second + 1))};
}

std::string parent_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string joined(const std::string& directory, const std::string& name) {
  if (directory.empty()) return name;
  return directory.back() == '/' ? directory + name : directory + "/" + name;
}

}  // namespace

std::optional<ScpCommand> parse_scp_command(std::string_view command) {
  ScpCommand parsed;
  bool to = false, from = false;
  std::size_t at = command.find_first_not_of(kBlank);
  bool first = true;
  while (at != std::string_view::npos) {
    const std::size_t end = std::min(command.find_first_of(kBlank, at), command.size());
    const std::string_view word = command.substr(at, end - at);
    const std::size_t next = command.find_first_not_of(kBlank, end);
    if (first) {
      const std::size_t slash = word.find_last_of('/');
      if ((slash == std::string_view::npos ? word : word.substr(slash + 1)) != "scp") return std::nullopt;
      first = false;
    } else if (word == "--" || word.size() < 2 || word[0] != '-') {
      const std::size_t target = word == "--" ? next : at;
      if (target == std::string_view::npos) return std::nullopt;
      parsed.target = std::string(command.substr(target));
      parsed.target.erase(parsed.target.find_last_not_of(kBlank) + 1);
      break;
    } else {
      for (const char flag : word.substr(1)) {
        if (flag == 't') to = true;
        else if (flag == 'f') from = true;
        else if (flag == 'r') parsed.recursive = true;
        else if (flag != 'd' && flag != 'p' && flag != 'v' && flag != 'q') return std::nullopt;
      }
    }
    at = next;
  }
  if (to == from || parsed.target.empty()) return std::nullopt;
  parsed.upload = to;
  return parsed;
}

void ScpObserver::from_client(std::string_view bytes) {
  if (command_.upload) files(bytes);
  else answers(bytes);
}

void ScpObserver::from_server(std::string_view bytes) {
  if (command_.upload) answers(bytes);
  else files(bytes);
}

void ScpObserver::files(std::string_view bytes) {
  while (!bytes.empty() && state_ != State::Gone) {
    if (state_ == State::Data) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, bytes.size()));
      *file_->bytes += n;
      left_ -= n;
      bytes.remove_prefix(n);
      if (left_ == 0) state_ = State::DataStatus;
    } else if (state_ == State::DataStatus) {
      // 0 after the bytes: sent whole. Anything else starts the sender's error line.
      const char status = bytes.front();
      bytes.remove_prefix(1);
      state_ = State::Line;
      if (status == '\0') awaiting_answer_ = true;
      else line_.assign(1, status);
    } else {
      const std::size_t newline = bytes.find('\n');
      const std::size_t piece = newline == std::string_view::npos ? bytes.size() : newline;
      if (line_.size() + piece > kMaxLine) {
        give_up("a control line longer than " + std::to_string(kMaxLine) + " bytes");
        return;
      }
      line_.append(bytes.substr(0, piece));
      bytes.remove_prefix(newline == std::string_view::npos ? piece : piece + 1);
      if (newline != std::string_view::npos) {
        const std::string line = std::exchange(line_, {});
        control_line(line);
      }
    }
  }
}

void ScpObserver::control_line(const std::string& line) {
  const char kind = line.empty() ? '?' : line[0];
  const std::string_view rest = std::string_view(line).substr(line.empty() ? 0 : 1);
  if (kind == '\x01' || kind == '\x02') {
    // The sender's own error ("scp: /x: No such file or directory").
    if (file_) {
      finish_file(false, std::string(rest));
      return;
    }
    FileOperation error;
    error.op = "error";
    error.path = command_.target;
    error.ok = false;
    error.error = std::string(rest);
    completed(std::move(error));
    return;
  }
  if (kind == 'T') return;  // times, with -p
  if (kind == 'E') {
    if (!directories_.empty()) directories_.pop_back();
    return;
  }
  const auto entry = kind == 'C' || kind == 'D' ? parse_entry(rest) : std::nullopt;
  if (!entry) {
    give_up("not an scp control line");
    return;
  }
  if (file_) finish_file(std::nullopt, "");  // its answer never came
  if (kind == 'D') {
    if (directories_.size() >= kMaxDepth) give_up("directories nested deeper than " + std::to_string(kMaxDepth));
    else directories_.push_back(entry->name);
    return;
  }
  FileOperation file;
  file.op = command_.upload ? "upload" : "download";
  std::string relative;
  for (const std::string& directory : directories_) relative = joined(relative, directory);
  file.name = joined(relative, entry->name);
  file.path = path_of(file.name);
  file.bytes = 0;
  file.attributes = "mode " + entry->mode + ", size " + std::to_string(entry->size);
  file_ = std::move(file);
  left_ = entry->size;
  state_ = left_ == 0 ? State::DataStatus : State::Data;
}

std::string ScpObserver::path_of(const std::string& name) const {
  const std::string& target = command_.target;
  if (command_.upload) {
    // "scp -t /tmp/x" writes /tmp/x itself, unless /tmp/x is a directory, which only the
    // container knows; under -r, into "." (`scp f host:`) or with a trailing '/', the files
    // go inside it. (parse_scp_command never gives an empty target.)
    const bool inside = command_.recursive || !directories_.empty() || target.back() == '/' || target == "." ||
                        target == "..";
    return inside ? joined(target, name) : target;
  }
  // "scp -f /tmp/x" sends /tmp/x as "x"; under -r or with a pattern, files below its parent.
  const std::size_t slash = target.find_last_of('/');
  const std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
  if (name == base) return target;
  return joined(parent_of(target), name);
}

void ScpObserver::answers(std::string_view bytes) {
  for (const char byte : bytes) {
    if (state_ == State::Gone) return;
    if (in_answer_line_) {
      if (byte != '\n') {
        if (answer_line_.size() < kMaxLine) answer_line_ += byte;
        continue;
      }
      in_answer_line_ = false;
      const std::string error = std::exchange(answer_line_, {});
      // Refused before its bytes (the sender then skips them), or after them.
      if (file_ && (awaiting_answer_ || (state_ == State::Data && *file_->bytes == 0))) {
        if (state_ == State::Data) state_ = State::Line;
        finish_file(false, error);
      } else {
        FileOperation refused;
        refused.op = "error";
        refused.path = command_.target;
        refused.ok = false;
        refused.error = error;
        completed(std::move(refused));
      }
    } else if (byte == '\0') {
      if (awaiting_answer_) finish_file(true, "");
    } else if (byte == '\x01' || byte == '\x02') {
      in_answer_line_ = true;
    }
  }
}

void ScpObserver::finish_file(std::optional<bool> ok, const std::string& error) {
  if (!file_) return;
  file_->ok = ok;
  file_->error = error;
  completed(std::move(*file_));
  file_.reset();
  awaiting_answer_ = false;
}

void ScpObserver::give_up(const std::string& why) {
  if (state_ == State::Gone) return;
  state_ = State::Gone;
  FileOperation operation;
  operation.op = "unparsed";
  operation.path = command_.target;
  operation.error = why + "; file operations after this are not recorded";
  completed(std::move(operation));
}

void ScpObserver::end() {
  if (!file_) return;
  if (awaiting_answer_) finish_file(std::nullopt, "");
  else finish_file(false, "cut off after " + std::to_string(*file_->bytes) + " bytes");
}

}  // namespace breakfix
