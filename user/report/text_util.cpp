#include "report/text_util.h"

#include <fmt/format.h>

#include <algorithm>

#include "report/process_names.h"
#include "snapshot/snapshot.h"

namespace triage {

// One rule for every terminal-bound string: the snapshot's terminal_safe() decodes UTF-8 strictly
// (an overlong or surrogate sequence is invalid, not passed on), escapes C0/C1 controls and
// replaces bidirectional overrides.
std::string printable(std::string_view raw) { return terminal_safe(raw); }

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

std::string list_extent(size_t shown, size_t total, std::string_view ranked_by) {
  if (shown >= total) return fmt::format("all {}", total);
  if (ranked_by.empty()) return fmt::format("first {} of {}", shown, total);
  return fmt::format("top {} of {} by {}", shown, total, ranked_by);
}

std::string outlier_heading(std::string_view what, const nlohmann::json &section, size_t shown) {
  const size_t total = section.value("outliers_total", section.value("outlier_count", 0ULL));
  const size_t in_json = section.contains("outliers") ? section["outliers"].size() : 0;
  std::string out = fmt::format("{} {}: {} in the window", what,
                                format_duration_ns(section.value("outlier_threshold_ns", 0ULL)), total);
  const auto &first = section.value("outliers_first_t", nlohmann::json()), &last = section.value("outliers_last_t", nlohmann::json());
  if (first.is_number() && last.is_number())
    out += first == last ? fmt::format(" at {:.2f}s", first.get<double>())
                         : fmt::format(", from {:.2f}s to {:.2f}s", first.get<double>(), last.get<double>());
  out += fmt::format(", lost events {}", section.value("lost_events", 0ULL));
  if (total <= 1) return out;
  out += fmt::format("; {}", list_extent(shown, total, "duration"));
  if (shown > 1) out += ", in time order";
  if (in_json < total) out += fmt::format("; the JSON report holds the longest {}", in_json);
  return out;
}

size_t name_width(const nlohmann::json &rows, size_t shown, size_t at_least) {
  size_t width = at_least;
  for (size_t i = 0; i < shown && i < rows.size(); i++) width = std::max(width, printable(process_label(rows[i])).size());
  return width;
}

void heading(std::string_view title, std::string &out) {
  out += fmt::format("\n== {} {}\n", title, std::string(title.size() < 70 ? 70 - title.size() : 0, '='));
}

}  // namespace triage
