#pragma once

// One error type for every boundary (runtime, store, grader): a code a caller can act
// on and a message a person can act on. Foreign errors (Docker HTTP statuses, SQLite
// codes, errno) are translated into it in one place per boundary.

#include <string>
#include <utility>
#include <variant>

namespace breakfix {

enum class ErrorCode {
  NotFound,          // the thing named does not exist (image, container, session)
  Conflict,          // it exists but is in the wrong state, or the name is taken
  Invalid,           // the request itself is wrong
  Timeout,           // it did not finish in time
  Unavailable,       // a backend cannot be reached (engine down, socket missing)
  PermissionDenied,  // the backend refused us
  Tampered,          // the lab changed what the grader relies on: what ran there proves nothing
  Failed,            // it ran and failed (a build step, a non-zero exit where one is fatal)
  Internal,          // a bug or an answer we cannot make sense of
};

const char* to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string message;
};

// A value or an Error. [[nodiscard]] so that a failure cannot be dropped by accident.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  const T& value() const& { return std::get<0>(state_); }
  T& value() & { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

// The result of an operation that returns nothing but may fail.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace breakfix
