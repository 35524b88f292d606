// Diagnostics on stderr. libbpf's own messages are routed here and shown only with --debug,
// except warnings about failed loads which explain a failed probe.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace triage {

// The text of an error number, whether libbpf's -errno or the C library's errno.
inline std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

void set_debug_logging(bool enabled);
bool debug_logging();
// Installs the libbpf print callback (idempotent).
void install_libbpf_logging();

template <typename... Args>
void log_debug(fmt::format_string<Args...> format, Args &&...args) {
  if (debug_logging()) fmt::print(stderr, "triage: {}\n", fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void log_warning(fmt::format_string<Args...> format, Args &&...args) {
  fmt::print(stderr, "triage: warning: {}\n", fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace triage
