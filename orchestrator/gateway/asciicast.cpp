#include "gateway/asciicast.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>

namespace breakfix {

using nlohmann::json;

std::size_t incomplete_utf8_suffix(std::string_view data) {
  // Look back at most 3 bytes for the lead byte of the last sequence.
  for (std::size_t back = 1; back <= 3 && back <= data.size(); ++back) {
    const auto byte = static_cast<unsigned char>(data[data.size() - back]);
    if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: keep looking
    std::size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}

AsciicastWriter::~AsciicastWriter() {
  if (file_) {
    if (!pending_output_.empty()) event("o", "", pending_output_);
    std::fclose(file_);
  }
}

Result<std::unique_ptr<AsciicastWriter>> AsciicastWriter::create(const std::filesystem::path& file, int columns, int rows,
                                                                 const std::string& title, const std::string& term) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  std::unique_ptr<AsciicastWriter> writer(new AsciicastWriter());
  writer->file_ = std::fopen(file.c_str(), "wx");  // never overwrite a recording
  if (!writer->file_) return make_error(ErrorCode::Failed, "cannot create the recording " + file.string());
  writer->start_ = writer->last_flush_ = std::chrono::steady_clock::now();
  const json header{{"version", 2},
                    {"width", columns},
                    {"height", rows},
                    {"timestamp", static_cast<std::int64_t>(std::time(nullptr))},
                    {"title", title},
                    {"env", {{"TERM", term}, {"SHELL", "/bin/bash"}}}};
  writer->write_line(header.dump(-1, ' ', false, json::error_handler_t::replace));
  writer->flush();
  return writer;
}

void AsciicastWriter::event(const char* kind, std::string_view data, std::string& pending) {
  std::string text = pending;
  text.append(data);
  const std::size_t keep = data.empty() ? 0 : incomplete_utf8_suffix(text);
  pending = text.substr(text.size() - keep);
  text.resize(text.size() - keep);
  if (text.empty()) return;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const json line = json::array({std::round(seconds * 1e6) / 1e6, kind, text});
  write_line(line.dump(-1, ' ', false, json::error_handler_t::replace));
}

void AsciicastWriter::resize(int columns, int rows) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  write_line(json::array({std::round(seconds * 1e6) / 1e6, "r", std::to_string(columns) + "x" + std::to_string(rows)}).dump());
}

void AsciicastWriter::write_line(const std::string& line) {
  if (stopped_) return;
  if (budget_ && !budget_->take_bytes(line.size() + 1)) {
    stopped_ = true;
    // The one line past the budget: a player shows why the recording ends here.
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const std::string notice = json::array({std::round(seconds * 1e6) / 1e6, "o",
                                            std::string("\r\n[breakfix: ") + kRecordingLimitNotice + "]\r\n"})
                                   .dump();
    std::fputs(notice.c_str(), file_);
    std::fputc('\n', file_);
    flush();
    return;
  }
  std::fputs(line.c_str(), file_);
  std::fputc('\n', file_);
  // Every event reaches the file at once: interactive output comes in few, small
  // pieces, and a crash of the daemon then loses nothing of what was shown.
  flush();
}

void AsciicastWriter::flush() {
  std::fflush(file_);
  last_flush_ = std::chrono::steady_clock::now();
}

}  // namespace breakfix
