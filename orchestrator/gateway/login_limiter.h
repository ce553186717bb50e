#pragma once

// Who may try to log in, and how soon: the gateway asks before it checks any credential.
//
// An attacker must not be able to lock a candidate out, nor grow the daemon's memory:
// - an address is refused only for its own failures; failures against a session from
//   other addresses slow its password attempts down and never touch key logins, so the
//   candidate's own key always gets in;
// - state is kept for addresses and for well-formed session ids only (the gateway checks
//   the username's shape first), expires with the window, and each map has a hard cap
//   beyond which the entry that changed longest ago goes;
// - at most `max_password_checks` passwords are hashed at once (yescrypt is meant to be
//   costly); an attempt beyond that is refused without hashing, and a failure is counted
//   before the hash is computed, so a burst is bounded before it costs anything.
//
// Threads: every method may be called from any thread.

#include <chrono>
#include <cstddef>
#include <deque>
#include <list>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace breakfix {

struct LoginLimits {
  int free_failures = 3;                            // failures in the window without delay
  int max_failures = 20;                            // an address beyond this is refused
  std::chrono::seconds window{300};
  std::chrono::milliseconds first_delay{1000};      // doubles per failure, up to 16x
  int max_password_checks = 4;                      // password hashes computed at once
  std::size_t max_tracked = 4096;                   // addresses, and sessions, remembered
};

enum class LoginMethod { Password, Key };

class LoginLimiter {
 public:
  using Now = std::function<std::chrono::steady_clock::time_point()>;
  explicit LoginLimiter(LoginLimits limits, Now now = std::chrono::steady_clock::now);

  // How long to wait before checking this attempt; nullopt: refuse it unchecked.
  std::optional<std::chrono::milliseconds> admit(const std::string& address, const std::string& session,
                                                 LoginMethod method);

  // A failure, counted before the credential is checked; succeeded() takes it back.
  // `session` is "" when the attempt names no session that exists.
  void failed(const std::string& address, const std::string& session);
  void succeeded(const std::string& address, const std::string& session);

  // A slot to hash a password in, held for the hash's length; empty when all are taken.
  class PasswordSlot {
   public:
    PasswordSlot() = default;
    explicit PasswordSlot(LoginLimiter* owner) : owner_(owner) {}
    PasswordSlot(PasswordSlot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    PasswordSlot& operator=(PasswordSlot&&) = delete;
    ~PasswordSlot();
    explicit operator bool() const { return owner_ != nullptr; }

   private:
    LoginLimiter* owner_ = nullptr;
  };
  PasswordSlot password_slot();

  // What is remembered now, for tests and the memory benchmark.
  std::size_t tracked_addresses() const;
  std::size_t tracked_sessions() const;

 private:
  struct Failures {
    std::deque<std::chrono::steady_clock::time_point> times;
    std::list<std::string>::iterator place;  // in Table::by_last_failure
  };
  // Failures by key, and the keys in the order of their last failure (oldest first), so
  // that a full table drops its stalest entry in constant time.
  struct Table {
    std::map<std::string, Failures> entries;
    std::list<std::string> by_last_failure;
    std::size_t size() const { return entries.size(); }
    void erase(std::map<std::string, Failures>::iterator entry) {
      by_last_failure.erase(entry->second.place);
      entries.erase(entry);
    }
  };

  int count(Table& table, const std::string& key, std::chrono::steady_clock::time_point now);
  void record(Table& table, const std::string& key, std::chrono::steady_clock::time_point now);
  void forget_one(Table& table, const std::string& key);
  std::chrono::milliseconds delay_for(int failures) const;

  LoginLimits limits_;
  Now now_;
  mutable std::mutex mutex_;
  Table by_address_;
  Table by_session_;
  int password_checks_ = 0;
};

// A username as the gateway logs it: printable ASCII, anything else escaped, and no more
// than 64 characters of it ("…" and the full length after a cut).
std::string loggable_username(std::string_view user);

}  // namespace breakfix
