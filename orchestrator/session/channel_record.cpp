#include "session/channel_record.h"

#include <nlohmann/json.hpp>

#include <cmath>

#include "session/report.h"

namespace breakfix {
namespace {

using nlohmann::json;

constexpr int kFormatVersion = 1;

std::string line_of(const json& value) {
  // Candidate bytes are not always UTF-8: replace what is not, rather than throw.
  return value.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

double rounded_seconds(double seconds) { return std::round(seconds * 1000) / 1000; }

std::string text_at(const json& object, const char* key) {
  const auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

template <typename Number>
std::optional<Number> number_at(const json& object, const char* key) {
  const auto found = object.find(key);
  if (found == object.end() || !found->is_number()) return std::nullopt;
  if constexpr (std::is_floating_point_v<Number>) return found->get<Number>();
  if (!found->is_number_integer()) return std::nullopt;
  return found->get<Number>();
}

FileOperation operation_from(const json& line) {
  FileOperation operation;
  operation.op = text_at(line, "op");
  operation.path = text_at(line, "path");
  operation.to = text_at(line, "to");
  operation.name = text_at(line, "name");
  operation.bytes = number_at<std::uint64_t>(line, "bytes");
  operation.attributes = text_at(line, "attributes");
  if (line.contains("ok") && line["ok"].is_boolean()) operation.ok = line["ok"].get<bool>();
  operation.error = text_at(line, "error");
  operation.elapsed = number_at<double>(line, "elapsed").value_or(0);
  return operation;
}

void read_start(const json& line, ChannelRecord& record) {
  record.type = text_at(line, "type");
  record.host = text_at(line, "host");
  record.user = text_at(line, "user");
  record.command = text_at(line, "command");
  record.terminal = text_at(line, "terminal");
  record.started = from_unix_ms(number_at<std::int64_t>(line, "started_ms").value_or(0));
  if (line.contains("connection") && line["connection"].is_object()) {
    const json& connection = line["connection"];
    record.connection = number_at<int>(connection, "number").value_or(0);
    record.from = text_at(connection, "from");
    record.connection_opened = from_unix_ms(number_at<std::int64_t>(connection, "opened_ms").value_or(0));
  }
}

void read_end(const json& line, ChannelRecord& record) {
  record.ended = true;
  record.duration = number_at<double>(line, "elapsed").value_or(0);
  record.end_reason = text_at(line, "reason");
  record.exit_status = number_at<int>(line, "exit_status");
  record.bytes_in = number_at<std::uint64_t>(line, "bytes_in").value_or(0);
  record.bytes_out = number_at<std::uint64_t>(line, "bytes_out").value_or(0);
  record.output = line.contains("output") ? text_at(line, "output") : text_at(line, "output_head");
  record.output_tail = text_at(line, "output_tail");
  record.output_omitted = number_at<std::uint64_t>(line, "output_omitted").value_or(0);
  record.operations_omitted = number_at<std::uint64_t>(line, "operations_omitted").value_or(0);
}

}  // namespace

std::string cut_text(std::string_view text, std::size_t bytes) {
  if (text.size() <= bytes) return std::string(text);
  std::size_t end = bytes;
  // Back to the start of the sequence the cut falls in (continuation bytes are 10xxxxxx).
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end)) + "...";
}


std::string channel_start_line(const ChannelRecord& record) {
  json line = {{"event", "start"},
               {"version", kFormatVersion},
               {"type", record.type},
               {"host", record.host},
               {"user", record.user},
               {"command", record.command},
               {"started", iso_time(record.started)},
               {"started_ms", unix_ms(record.started)},
               {"connection",
                {{"number", record.connection},
                 {"from", record.from},
                 {"opened", iso_time(record.connection_opened)},
                 {"opened_ms", unix_ms(record.connection_opened)}}}};
  if (!record.terminal.empty()) line["terminal"] = record.terminal;
  return line_of(line);
}

json file_operation_fields(const FileOperation& operation) {
  json fields = {{"op", operation.op}, {"path", operation.path}};
  if (!operation.to.empty()) fields["to"] = operation.to;
  if (!operation.name.empty()) fields["name"] = operation.name;
  if (operation.bytes) fields["bytes"] = *operation.bytes;
  if (!operation.attributes.empty()) fields["attributes"] = operation.attributes;
  fields["ok"] = operation.ok ? json(*operation.ok) : json();
  if (!operation.error.empty()) fields["error"] = operation.error;
  return fields;
}

std::string file_operation_line(const FileOperation& operation) {
  json line = {{"event", "file"}, {"elapsed", rounded_seconds(operation.elapsed)}};
  line.update(file_operation_fields(operation));
  return line_of(line);
}

std::string channel_end_line(const ChannelRecord& record) {
  json line = {{"event", "end"},
               {"elapsed", rounded_seconds(record.duration)},
               {"reason", record.end_reason},
               {"bytes_in", record.bytes_in},
               {"bytes_out", record.bytes_out}};
  if (record.exit_status) line["exit_status"] = *record.exit_status;
  if (record.type == "exec") {
    if (record.output_omitted == 0 && record.output_tail.empty()) {
      line["output"] = record.output;
    } else {
      line["output_head"] = record.output;
      line["output_tail"] = record.output_tail;
      line["output_omitted"] = record.output_omitted;
    }
  }
  if (record.operations_omitted > 0) line["operations_omitted"] = record.operations_omitted;
  return line_of(line);
}

Result<ChannelRecord> parse_channel_record(std::string_view text, const std::string& file_name) {
  ChannelRecord record;
  record.file = file_name;
  bool started = false;
  std::size_t line_number = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    ++line_number;
    const std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) break;  // still being written
    const std::string_view line_text = text.substr(at, end - at);
    at = end + 1;
    const json line = json::parse(line_text, nullptr, false);
    const std::string event = line.is_object() ? text_at(line, "event") : std::string();
    if (!started) {
      if (event != "start") {
        return make_error(ErrorCode::Invalid, file_name + ": line " + std::to_string(line_number) +
                                                  ": not the start of a channel record");
      }
      read_start(line, record);
      started = true;
    } else if (event == "file") {
      record.operations.push_back(operation_from(line));
    } else if (event == "end") {
      read_end(line, record);
    }
    // Anything else (a newer kind of line) is skipped.
  }
  if (!started) return make_error(ErrorCode::Invalid, file_name + ": empty; expected the start of a channel record");
  return record;
}

}  // namespace breakfix
