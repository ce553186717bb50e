#include "session/recordings.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>
#include <tuple>

namespace breakfix {
namespace {

bool ends_with(const std::string& text, std::string_view suffix) {
  return text.size() > suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// (second, n) from "<second>-<n>...", or none for a name the gateway did not make.
std::optional<std::pair<std::int64_t, std::int64_t>> time_and_count(const std::string& name) {
  std::int64_t second = 0, count = 0;
  const char* end = name.data() + name.size();
  auto [dash, first] = std::from_chars(name.data(), end, second);
  if (first != std::errc() || dash == end || *dash != '-') return std::nullopt;
  auto [dot, second_result] = std::from_chars(dash + 1, end, count);
  if (second_result != std::errc() || dot == end || *dot != '.') return std::nullopt;
  return std::pair(second, count);
}

}  // namespace

std::string recording_name(std::int64_t unix_second, int n, const std::string& channel_type) {
  const std::string stem = std::to_string(unix_second) + "-" + std::to_string(n);
  return channel_type.empty() ? stem + ".cast" : stem + "." + channel_type + ".jsonl";
}

bool is_terminal_recording(const std::string& name) { return ends_with(name, ".cast"); }

bool is_channel_record(const std::string& name) { return ends_with(name, ".jsonl"); }

std::vector<std::string> list_recordings(const std::filesystem::path& session_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(session_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (is_terminal_recording(name) || is_channel_record(name)) names.push_back(name);
  }
  // Names the gateway did not make (no "<second>-<n>.") sort after those it did.
  auto key = [](const std::string& name) {
    const auto order = time_and_count(name);
    return std::tuple(!order.has_value(), order ? order->first : 0, order ? order->second : 0, name);
  };
  std::sort(names.begin(), names.end(), [&](const std::string& a, const std::string& b) { return key(a) < key(b); });
  return names;
}

std::vector<ChannelRecord> read_channel_records(const std::filesystem::path& session_dir,
                                                const std::vector<std::string>& names) {
  std::vector<ChannelRecord> records;
  for (const std::string& name : names) {
    if (!is_channel_record(name)) continue;
    std::ifstream in(session_dir / name, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    auto record = parse_channel_record(text.str(), name);
    if (record) records.push_back(std::move(*record));
  }
  return records;
}

}  // namespace breakfix
