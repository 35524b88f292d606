// One type for recoverable errors: a value or an Error with the exit code it maps to.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace triage {

// Exit codes of the interface contract.
enum ExitCode : int {
  kExitOk = 0,
  kExitRuntime = 1,
  kExitUsage = 2,      // bad usage or unreadable input
  kExitNoProbes = 3,   // nothing could be attached (privilege, BTF or kernel)
};

struct Error {
  std::string message;
  int exit_code = kExitRuntime;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T &value() { return std::get<0>(v_); }
  const T &value() const { return std::get<0>(v_); }
  T &operator*() { return value(); }
  T *operator->() { return &value(); }
  const Error &error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error &error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

inline Error usage_error(std::string message) { return Error{std::move(message), kExitUsage}; }
inline Error runtime_error(std::string message) { return Error{std::move(message), kExitRuntime}; }

}  // namespace triage
