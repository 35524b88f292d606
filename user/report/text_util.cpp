#include "report/text_util.h"

#include <fmt/format.h>

#include <algorithm>

namespace triage {

std::string printable(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  size_t i = 0;
  while (i < raw.size()) {
    auto byte = static_cast<unsigned char>(raw[i]);
    if (byte < 0x20 || byte == 0x7f) {
      out += fmt::format("\\x{:02x}", byte);
      i++;
      continue;
    }
    if (byte < 0x80) {
      out += static_cast<char>(byte);
      i++;
      continue;
    }
    // A well-formed UTF-8 sequence passes whole; anything else is escaped byte by byte.
    size_t len = (byte & 0xE0) == 0xC0 ? 2 : (byte & 0xF0) == 0xE0 ? 3 : (byte & 0xF8) == 0xF0 ? 4 : 0;
    bool valid = len > 0 && i + len <= raw.size();
    for (size_t k = 1; valid && k < len; k++) valid = (static_cast<unsigned char>(raw[i + k]) & 0xC0) == 0x80;
    // C1 control characters (U+0080..U+009F) can act as escapes on some terminals.
    if (valid && len == 2 && byte == 0xC2 && static_cast<unsigned char>(raw[i + 1]) < 0xA0) valid = false;
    if (!valid) {
      out += fmt::format("\\x{:02x}", byte);
      i++;
      continue;
    }
    out.append(raw.substr(i, len));
    i += len;
  }
  return out;
}

void render_histogram(const nlohmann::json &hist, std::string_view value_name, std::string &out) {
  if (!hist.is_object() || hist.value("count", 0ULL) == 0) {
    out += "  (no samples)\n";
    return;
  }
  const auto &buckets = hist["buckets"];
  uint64_t peak = 1;
  size_t first = buckets.size();
  for (size_t i = 0; i < buckets.size(); i++) {
    uint64_t c = buckets[i].value("count", 0ULL);
    peak = std::max(peak, c);
    if (c && first == buckets.size()) first = i;
  }
  constexpr int kBarWidth = 40;
  out += fmt::format("  {:>22} : {:<8} distribution\n", value_name, "count");
  for (size_t i = first; i < buckets.size(); i++) {
    uint64_t le = buckets[i].value("le", 0ULL);
    uint64_t lo = le <= 1 ? 0 : le / 2;  // slot k holds [2^(k-1), 2^k)
    uint64_t c = buckets[i].value("count", 0ULL);
    int bar = static_cast<int>((c * kBarWidth + peak - 1) / peak);
    out += fmt::format("  {:>10} -> {:<9} : {:<8} |{:<40}|\n", lo, le - 1 < lo ? lo : le - 1, c, std::string(bar, '*'));
  }
  out += fmt::format("  count {}  p50 {}  p90 {}  p99 {}  max {} {}\n", hist.value("count", 0ULL),
                     hist.value("p50", 0.0), hist.value("p90", 0.0), hist.value("p99", 0.0), hist.value("max", 0ULL),
                     hist.value("unit", std::string()));
}

std::string format_duration_ns(uint64_t ns) {
  if (ns < 1'000'000) return fmt::format("{}us", ns / 1000);
  if (ns < 1'000'000'000) return fmt::format("{:.1f}ms", static_cast<double>(ns) / 1e6);
  return fmt::format("{:.2f}s", static_cast<double>(ns) / 1e9);
}

void heading(std::string_view title, std::string &out) {
  out += fmt::format("\n== {} {}\n", title, std::string(title.size() < 70 ? 70 - title.size() : 0, '='));
}

}  // namespace triage
