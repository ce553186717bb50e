#include "gateway/recording_budget.h"

#include <system_error>

namespace breakfix {

bool RecordingBudget::take_bytes(std::uint64_t bytes) {
  if (exhausted_.load()) return false;
  std::uint64_t used = bytes_.load();
  do {
    if (used + bytes > limits_.max_bytes) {
      exhaust();
      return false;
    }
  } while (!bytes_.compare_exchange_weak(used, used + bytes));
  return true;
}

bool RecordingBudget::take_file() {
  if (exhausted_.load()) return false;
  int used = files_.load();
  do {
    if (used >= limits_.max_files) {
      exhaust();
      return false;
    }
  } while (!files_.compare_exchange_weak(used, used + 1));
  return true;
}

void RecordingBudget::exhaust() {
  if (exhausted_.exchange(true)) return;
  if (on_exhausted_) on_exhausted_();
}

std::shared_ptr<RecordingBudget> RecordingBudgets::for_session(const std::string& session_id,
                                                               std::function<void()> on_exhausted) {
  std::lock_guard lock(mutex_);
  // Budgets of sessions with no connection left are dropped here; a later connection
  // counts the directory again.
  std::erase_if(budgets_, [](const auto& entry) { return entry.second.expired(); });
  if (auto existing = budgets_[session_id].lock()) return existing;
  std::uint64_t bytes = 0;
  int files = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ / session_id, ec)) {
    std::error_code size_error;
    const auto size = entry.file_size(size_error);
    if (!size_error) bytes += size;
    ++files;
  }
  auto budget = std::make_shared<RecordingBudget>(limits_, bytes, files, std::move(on_exhausted));
  budgets_[session_id] = budget;
  return budget;
}

}  // namespace breakfix
