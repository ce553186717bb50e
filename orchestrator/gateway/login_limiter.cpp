#include "gateway/login_limiter.h"

#include <algorithm>
#include <cstdio>

namespace breakfix {

LoginLimiter::LoginLimiter(LoginLimits limits, Now now) : limits_(limits), now_(std::move(now)) {}

std::optional<std::chrono::milliseconds> LoginLimiter::admit(const std::string& address, const std::string& session,
                                                             LoginMethod method) {
  std::lock_guard lock(mutex_);
  const auto now = now_();
  const int own = count(by_address_, address, now);
  if (own >= limits_.max_failures) return std::nullopt;
  int failures = own;
  // Failures against the session from anywhere slow down guessing its password, and
  // nothing else: a key proves its holder whatever others tried.
  if (method == LoginMethod::Password) failures = std::max(failures, count(by_session_, session, now));
  return delay_for(failures);
}

void LoginLimiter::failed(const std::string& address, const std::string& session) {
  std::lock_guard lock(mutex_);
  const auto now = now_();
  record(by_address_, address, now);
  if (!session.empty()) record(by_session_, session, now);
}

void LoginLimiter::succeeded(const std::string& address, const std::string& session) {
  std::lock_guard lock(mutex_);
  forget_one(by_address_, address);
  if (!session.empty()) forget_one(by_session_, session);
}

LoginLimiter::PasswordSlot LoginLimiter::password_slot() {
  std::lock_guard lock(mutex_);
  if (password_checks_ >= limits_.max_password_checks) return PasswordSlot();
  ++password_checks_;
  return PasswordSlot(this);
}

LoginLimiter::PasswordSlot::~PasswordSlot() {
  if (!owner_) return;
  std::lock_guard lock(owner_->mutex_);
  --owner_->password_checks_;
}

std::size_t LoginLimiter::tracked_addresses() const {
  std::lock_guard lock(mutex_);
  return by_address_.size();
}

std::size_t LoginLimiter::tracked_sessions() const {
  std::lock_guard lock(mutex_);
  return by_session_.size();
}

int LoginLimiter::count(Table& table, const std::string& key, std::chrono::steady_clock::time_point now) {
  auto found = table.entries.find(key);
  if (found == table.entries.end()) return 0;
  auto& times = found->second.times;
  while (!times.empty() && times.front() <= now - limits_.window) times.pop_front();
  if (times.empty()) {
    table.erase(found);
    return 0;
  }
  return static_cast<int>(times.size());
}

void LoginLimiter::record(Table& table, const std::string& key, std::chrono::steady_clock::time_point now) {
  auto found = table.entries.find(key);
  if (found == table.entries.end()) {
    // Make room: the entry whose last failure is oldest (expired ones are older still).
    if (table.size() >= limits_.max_tracked) table.erase(table.entries.find(table.by_last_failure.front()));
    found = table.entries.emplace(key, Failures{}).first;
    found->second.place = table.by_last_failure.insert(table.by_last_failure.end(), key);
  } else {
    table.by_last_failure.splice(table.by_last_failure.end(), table.by_last_failure, found->second.place);
  }
  auto& times = found->second.times;
  times.push_back(now);
  // More than max_failures in the window changes nothing: the count is capped with them.
  while (static_cast<int>(times.size()) > limits_.max_failures) times.pop_front();
}

void LoginLimiter::forget_one(Table& table, const std::string& key) {
  auto found = table.entries.find(key);
  if (found == table.entries.end()) return;
  found->second.times.pop_back();
  if (found->second.times.empty()) table.erase(found);
}

std::chrono::milliseconds LoginLimiter::delay_for(int failures) const {
  if (failures < limits_.free_failures) return std::chrono::milliseconds(0);
  const int doublings = std::min(failures - limits_.free_failures, 4);
  return limits_.first_delay * (1 << doublings);
}

std::string loggable_username(std::string_view user) {
  constexpr std::size_t kShown = 64;
  std::string out;
  for (std::size_t i = 0; i < user.size() && i < kShown; ++i) {
    const auto c = static_cast<unsigned char>(user[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    }
  }
  if (user.size() > kShown) out += "…(" + std::to_string(user.size()) + " bytes)";
  return out;
}

}  // namespace breakfix
