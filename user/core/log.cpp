#include "core/log.h"

#include <bpf/libbpf.h>

#include <atomic>
#include <cstdarg>

namespace triage {
namespace {
std::atomic<bool> g_debug{false};

int libbpf_print(enum libbpf_print_level level, const char *format, va_list args) {
  // Verifier logs and feature-probing chatter are noise unless asked for: a probe that fails
  // says why in `triage probes` and the report.
  (void)level;
  if (!g_debug.load()) return 0;
  return std::vfprintf(stderr, format, args);  // libbpf's lines carry their own "libbpf: " prefix
}
}  // namespace

void set_debug_logging(bool enabled) { g_debug = enabled; }
bool debug_logging() { return g_debug.load(); }
void install_libbpf_logging() { libbpf_set_print(libbpf_print); }

}  // namespace triage
