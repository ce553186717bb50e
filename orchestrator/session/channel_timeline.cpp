#include "session/channel_timeline.h"

#include <cmath>

#include "session/report.h"

namespace breakfix {
namespace {

using nlohmann::json;

WallTime at(const ChannelRecord& channel, double elapsed) {
  return channel.started + std::chrono::duration_cast<WallTime::duration>(std::chrono::duration<double>(elapsed));
}

json operation_json(const ChannelRecord& channel, const FileOperation& operation) {
  json entry = {{"time", iso_time(at(channel, operation.elapsed))}};
  entry.update(file_operation_fields(operation));
  return entry;
}

// `text` as a Markdown code span in a table cell, whatever backticks it holds.
std::string code(const std::string& text) {
  std::size_t longest = 0, run = 0;
  for (const char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string fence(longest + 1, '`');
  const std::string pad = longest > 0 ? " " : "";
  return fence + pad + escape_cell(cut_text(text, kMarkdownCommand)) + pad + fence;
}

std::string channel_result(const ChannelRecord& channel) {
  if (channel.exit_status) return "exit " + std::to_string(*channel.exit_status);
  if (!channel.ended) return "no end recorded";
  return channel.end_reason;
}

std::string operation_detail(const FileOperation& operation) {
  std::string detail = operation.path.empty() ? "" : code(operation.path);
  if (!operation.to.empty()) detail += (operation.op == "rename" ? " to " : " pointing to ") + code(operation.to);
  if (!operation.name.empty() && operation.path.size() >= operation.name.size() &&
      operation.path.compare(operation.path.size() - operation.name.size(), std::string::npos, operation.name) != 0) {
    detail += " (sent as " + code(operation.name) + ")";
  }
  if (operation.bytes) detail += ", " + std::to_string(*operation.bytes) + " bytes";
  if (!operation.attributes.empty() && operation.op != "upload" && operation.op != "download") {
    detail += ", " + escape_cell(operation.attributes);
  }
  return detail;
}

std::string operation_result(const FileOperation& operation) {
  if (!operation.ok) return operation.error.empty() ? "no answer" : escape_cell(cut_text(operation.error, kMarkdownCommand));
  if (*operation.ok) return "ok";
  return "**failed**" + (operation.error.empty() ? "" : ": " + escape_cell(cut_text(operation.error, kMarkdownCommand)));
}

}  // namespace

json channel_timeline_json(const std::vector<ChannelRecord>& channels) {
  json out = json::array();
  for (const ChannelRecord& channel : channels) {
    json operations = json::array();
    for (std::size_t i = 0; i < channel.operations.size() && i < kOperationsPerChannel; ++i) {
      operations.push_back(operation_json(channel, channel.operations[i]));
    }
    const std::size_t listed = operations.size();
    json entry = {{"file", channel.file},
                  {"type", channel.type},
                  {"host", channel.host},
                  {"user", channel.user},
                  {"connection",
                   {{"number", channel.connection}, {"from", channel.from}, {"opened", iso_time(channel.connection_opened)}}},
                  {"started", iso_time(channel.started)},
                  {"ended", channel.ended ? json(iso_time(at(channel, channel.duration))) : json()},
                  {"duration_s", std::round(channel.duration * 1000) / 1000},
                  {"end_reason", channel.end_reason},
                  {"command", cut_text(channel.command, kReportCommand)},
                  {"exit_status", channel.exit_status ? json(*channel.exit_status) : json()},
                  {"bytes_in", channel.bytes_in},
                  {"bytes_out", channel.bytes_out},
                  {"operations", std::move(operations)},
                  {"operations_omitted", channel.operations_omitted + (channel.operations.size() - listed)}};
    if (!channel.terminal.empty()) entry["terminal"] = channel.terminal;
    out.push_back(std::move(entry));
  }
  return out;
}

std::string channel_timeline_markdown(const std::vector<ChannelRecord>& channels, WallTime ready,
                                      const std::string& session_id) {
  std::string md = "\n## Commands and file transfers\n\n";
  if (channels.empty()) return md + "No command, sftp or scp outside a terminal.\n";
  md += "Outside terminals: commands (`ssh ID 'command'`), sftp (OpenSSH's `scp` too) and `scp -O`. Times are "
        "minutes since the session was ready. `breakfix session replay " +
        session_id + " --name RECORD` shows one, with a command's output.\n\n";
  md += "| at | connection | what | detail | result | record |\n|---|---|---|---|---|---|\n";
  std::size_t rows = 0, left_out = 0;
  auto row = [&](const std::string& line) {
    if (rows++ < kMarkdownRows) md += line;
    else ++left_out;
  };
  for (const ChannelRecord& channel : channels) {
    const std::string connection = "#" + std::to_string(channel.connection);
    row("| " + minutes_into(channel.started, ready) + " | " + connection + " from " + escape_cell(channel.from) + " | " +
        channel.type + " on " + escape_cell(channel.host) + " | " + (channel.command.empty() ? "" : code(channel.command)) +
        " | " + escape_cell(channel_result(channel)) + " | `" + channel.file + "` |\n");
    for (std::size_t i = 0; i < channel.operations.size() && i < kOperationsPerChannel; ++i) {
      const FileOperation& operation = channel.operations[i];
      row("| " + minutes_into(at(channel, operation.elapsed), ready) + " | " + connection + " | " + operation.op + " | " +
          operation_detail(operation) + " | " + operation_result(operation) + " | |\n");
    }
    const std::uint64_t omitted = channel.operations_omitted + channel.operations.size() -
                                  std::min(channel.operations.size(), kOperationsPerChannel);
    if (omitted > 0) row("| | " + connection + " | ... | " + std::to_string(omitted) + " more file operations | | |\n");
  }
  if (left_out > 0) md += "\n" + std::to_string(left_out) + " more rows are left out here; the JSON report lists every channel.\n";
  return md;
}

}  // namespace breakfix
