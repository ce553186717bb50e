#include "cli/replay.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>

#include "session/report.h"

namespace breakfix::cli {
namespace {

using nlohmann::json;

// Ten years: far beyond any session, and far from overflowing microseconds in 64 bits.
constexpr double kLongestTime = 10.0 * 365 * 24 * 3600;

Error bad_line(std::size_t line, const std::string& message) {
  return make_error(ErrorCode::Invalid, "line " + std::to_string(line) + ": " + message);
}

// nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 7: syntax
// error ..." without the parts that mean nothing to the reader of a .cast file.
std::string json_problem(const json::parse_error& error) {
  const std::string what = error.what();
  const std::size_t column = what.find("column ");
  const std::size_t colon = column == std::string::npos ? std::string::npos : what.find(": ", column);
  const std::string detail = colon == std::string::npos ? what : what.substr(colon + 2);
  return "column " + std::to_string(error.byte) + ": " + detail;
}

std::string describe(const json& value) {
  if (value.is_array()) return "an array of " + std::to_string(value.size()) + (value.size() == 1 ? " element" : " elements");
  return std::string("a JSON ") + value.type_name();
}

int positive_int_or_zero(const json& header, const char* key) {
  if (!header.contains(key) || !header[key].is_number_unsigned()) return 0;
  const auto value = header[key].get<std::uint64_t>();
  return value > 100000 ? 0 : static_cast<int>(value);
}

}  // namespace

Result<AsciicastPlayer> AsciicastPlayer::parse(std::string_view text) {
  AsciicastPlayer player;
  bool have_header = false;
  std::size_t line_number = 0;
  std::chrono::microseconds previous{0};  // time of the previous output event
  std::size_t at = 0;
  while (at < text.size()) {
    ++line_number;
    std::size_t end = text.find('\n', at);
    const bool complete = end != std::string_view::npos;
    if (!complete) end = text.size();
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;

    json value;
    try {
      value = json::parse(line);
    } catch (const json::parse_error& error) {
      if (!have_header) return bad_line(line_number, "not an asciicast v2 header (" + json_problem(error) + ")");
      if (!complete) {
        player.truncated_ = true;
        break;
      }
      return bad_line(line_number, "not a JSON event (" + json_problem(error) + ")");
    }

    if (!have_header) {
      if (!value.is_object()) {
        return bad_line(line_number, "not an asciicast v2 header: expected a JSON object, got " + describe(value));
      }
      if (!value.contains("version") || value["version"] != 2) {
        const std::string version = value.contains("version") ? value["version"].dump() : "none";
        return bad_line(line_number, "not an asciicast v2 header: \"version\" is " + version + ", expected 2");
      }
      player.width_ = positive_int_or_zero(value, "width");
      player.height_ = positive_int_or_zero(value, "height");
      if (value.contains("title") && value["title"].is_string()) player.title_ = value["title"].get<std::string>();
      have_header = true;
      continue;
    }

    if (!value.is_array() || value.size() != 3) {
      return bad_line(line_number, "an event is [time, code, data], got " + describe(value));
    }
    if (!value[0].is_number() || !std::isfinite(value[0].get<double>()) || value[0].get<double>() < 0 ||
        value[0].get<double>() > kLongestTime) {
      return bad_line(line_number, "an event's time is seconds since the start (a number >= 0), got " + value[0].dump());
    }
    if (!value[1].is_string()) {
      return bad_line(line_number, "an event's code is a string such as \"o\", got " + value[1].dump());
    }
    if (!value[2].is_string()) return bad_line(line_number, "an event's data is a string, got " + describe(value[2]));
    if (value[1] != "o") continue;  // input, resize, markers: nothing to show
    const std::chrono::microseconds time{std::llround(value[0].get<double>() * 1e6)};
    player.frames_.push_back({std::max(time - previous, std::chrono::microseconds(0)), value[2].get<std::string>()});
    previous = std::max(previous, time);
  }
  if (!have_header) return bad_line(1, "empty; expected an asciicast v2 header");
  return player;
}

void AsciicastPlayer::play(std::ostream& out, const Sleep& sleep, const Options& options) const {
  for (const Frame& frame : frames_) {
    std::chrono::microseconds pause = frame.pause;
    if (options.idle_limit > std::chrono::microseconds(0)) pause = std::min(pause, options.idle_limit);
    // A speed of 0 or less, or one so small that the pause overflows, is taken as 1.
    const double scaled = static_cast<double>(pause.count()) / options.speed;
    if (options.speed > 0 && scaled < kLongestTime * 1e6) pause = std::chrono::microseconds(std::llround(scaled));
    if (pause > std::chrono::microseconds(0)) {
      out.flush();
      sleep(pause);
    }
    out.write(frame.data.data(), static_cast<std::streamsize>(frame.data.size()));
    if (!out) return;
  }
  out.flush();
}

namespace {

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", seconds);
  return text;
}

std::string operation_text(const FileOperation& operation) {
  std::string text = "+" + seconds_text(operation.elapsed) + "  " + operation.op;
  if (!operation.path.empty()) text += " " + operation.path;
  if (!operation.to.empty()) text += (operation.op == "rename" ? " -> " : " pointing to ") + operation.to;
  if (!operation.name.empty()) text += " (sent as " + operation.name + ")";
  if (operation.bytes) text += ", " + std::to_string(*operation.bytes) + " bytes";
  if (!operation.attributes.empty()) text += ", " + operation.attributes;
  if (!operation.ok) text += operation.error.empty() ? ": no answer" : ": " + operation.error;
  else text += *operation.ok ? ": ok" : ": failed" + (operation.error.empty() ? "" : ": " + operation.error);
  return text;
}

}  // namespace

void print_channel_record(std::ostream& out, const ChannelRecord& record) {
  out << "# " << record.type << " on " << record.host << " as " << record.user << ", connection #" << record.connection
      << " from " << record.from << ", started " << iso_time(record.started) << "\n";
  if (!record.terminal.empty()) out << "# its terminal is recorded in " << record.terminal << "\n";
  if (!record.command.empty()) out << "$ " << record.command << "\n";
  out << record.output;
  if (!record.output_tail.empty() || record.output_omitted > 0) {
    if (!record.output.empty() && record.output.back() != '\n') out << "\n";
    out << "# ... " << record.output_omitted << " bytes of output left out ...\n" << record.output_tail;
  }
  const std::string& last = record.output_tail.empty() ? record.output : record.output_tail;
  if (!last.empty() && last.back() != '\n') out << "\n";
  for (const FileOperation& operation : record.operations) out << operation_text(operation) << "\n";
  if (record.operations_omitted > 0) out << "# " << record.operations_omitted << " more file operations were not recorded\n";
  if (!record.ended) {
    out << "# no end recorded (still running, or the daemon stopped first)\n";
  } else {
    out << "# " << (record.exit_status ? "exit status " + std::to_string(*record.exit_status) : "ended") << " after "
        << seconds_text(record.duration) << " (" << record.end_reason << "); " << record.bytes_in << " bytes in, "
        << record.bytes_out << " bytes out\n";
  }
  out.flush();
}

}  // namespace breakfix::cli
