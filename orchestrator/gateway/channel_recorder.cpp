#include "gateway/channel_recorder.h"

#include <spdlog/spdlog.h>

namespace breakfix {

void OutputSample::add(std::string_view bytes) {
  total_ += bytes.size();
  const std::size_t to_head = std::min(bytes.size(), head_limit_ - head_.size());
  head_.append(bytes.substr(0, to_head));
  bytes.remove_prefix(to_head);
  if (bytes.size() >= tail_limit_) {
    tail_.assign(bytes.substr(bytes.size() - tail_limit_));
    return;
  }
  tail_.append(bytes);
  if (tail_.size() > 2 * tail_limit_) tail_.erase(0, tail_.size() - tail_limit_);
}

std::string OutputSample::tail() const {
  return tail_.size() > tail_limit_ ? tail_.substr(tail_.size() - tail_limit_) : tail_;
}

std::uint64_t OutputSample::omitted() const { return total_ - head_.size() - std::min(tail_.size(), tail_limit_); }

Result<std::unique_ptr<ChannelRecorder>> ChannelRecorder::create(const std::filesystem::path& file, ChannelRecord start,
                                                                 std::unique_ptr<TransferObserver> observer) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  std::FILE* opened = std::fopen(file.c_str(), "wx");  // never overwrite a record
  if (!opened) return make_error(ErrorCode::Failed, "cannot create the channel record " + file.string());
  start.file = file.filename().string();
  start.command = cut_text(start.command, kMaxCommand);
  std::unique_ptr<ChannelRecorder> recorder(new ChannelRecorder(opened, std::move(start), std::move(observer)));
  recorder->write_line(channel_start_line(recorder->record_));
  return recorder;
}

ChannelRecorder::ChannelRecorder(std::FILE* file, ChannelRecord record, std::unique_ptr<TransferObserver> observer)
    : file_(file), record_(std::move(record)), observer_(std::move(observer)) {}

ChannelRecorder::~ChannelRecorder() {
  finish(std::nullopt, "the connection closed");
  if (file_) std::fclose(file_);
}

double ChannelRecorder::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ChannelRecorder::input(std::string_view bytes) noexcept {
  if (finished_) return;
  record_.bytes_in += bytes.size();
  try {
    if (observer_) {
      observer_->from_client(bytes);
      write_operations();
    }
  } catch (...) {
    stop_observing();
  }
}

void ChannelRecorder::output(OutputStream stream, std::string_view bytes) noexcept {
  if (finished_) return;
  record_.bytes_out += bytes.size();
  try {
    if (observer_ && stream == OutputStream::Stdout) {
      observer_->from_server(bytes);
      write_operations();
    } else if (!observer_ && record_.type == "exec") {
      output_.add(bytes);
    }
  } catch (...) {
    stop_observing();
  }
}

void ChannelRecorder::stop_observing() noexcept {
  // Only allocation can throw in an observer; the channel goes on without its file names.
  observer_.reset();
  try {
    spdlog::warn("ssh: channel record {}: file operations are no longer recorded", record_.file);
  } catch (...) {
  }
}

void ChannelRecorder::write_operations() {
  for (FileOperation& operation : observer_->take_operations()) {
    if (operations_ >= kMaxOperations) {
      ++record_.operations_omitted;
      continue;
    }
    ++operations_;
    operation.elapsed = elapsed();
    write_line(file_operation_line(operation));
  }
}

void ChannelRecorder::finish(std::optional<int> exit_status, const std::string& reason) noexcept {
  if (finished_) return;
  try {
    if (observer_) {
      observer_->end();
      write_operations();
    }
    finished_ = true;
    record_.ended = true;
    record_.duration = elapsed();
    record_.exit_status = exit_status;
    record_.end_reason = reason;
    record_.output = output_.head();
    record_.output_tail = output_.tail();
    record_.output_omitted = output_.omitted();
    if (record_.output_omitted == 0) record_.output += std::exchange(record_.output_tail, {});
    write_line(channel_end_line(record_));
  } catch (...) {
    finished_ = true;
    spdlog::warn("ssh: channel record {}: its end could not be written", record_.file);
  }
}

void ChannelRecorder::write_line(const std::string& line) {
  if (!file_) return;
  if (budget_ && !budget_->take_bytes(line.size())) {
    std::fclose(file_);
    file_ = nullptr;
    return;
  }
  // Flushed at once, as the terminal recordings are: a crash loses nothing written.
  if (std::fputs(line.c_str(), file_) == EOF || std::fflush(file_) != 0) {
    spdlog::warn("ssh: writing the channel record {} failed; it stops here", record_.file);
    std::fclose(file_);
    file_ = nullptr;
  }
}

}  // namespace breakfix
