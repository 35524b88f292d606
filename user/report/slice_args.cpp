#include "report/slice_args.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <ctime>

namespace triage {
namespace {

constexpr double kNsPerS = 1e9;
constexpr int64_t kSecondsPerDay = 86400;

std::string utc_string(uint64_t realtime_ns) {
  std::time_t t = static_cast<std::time_t>(realtime_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// "03:12:10" or "03:12" -> seconds since midnight.
std::optional<int64_t> parse_clock(const std::string &text) {
  int h = 0, m = 0, s = 0, used = 0;
  if (std::sscanf(text.c_str(), "%2d:%2d:%2d%n", &h, &m, &s, &used) == 3 && used == static_cast<int>(text.size())) {
  } else if (s = 0, std::sscanf(text.c_str(), "%2d:%2d%n", &h, &m, &used) == 2 && used == static_cast<int>(text.size())) {
  } else {
    return std::nullopt;
  }
  if (h > 23 || m > 59 || s > 60) return std::nullopt;
  return h * 3600 + m * 60 + s;
}

// "2026-12-06T03:12:10Z" (a trailing Z or none: UTC) -> Unix seconds.
std::optional<int64_t> parse_iso(const std::string &text) {
  std::tm tm{};
  int used = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &used) != 6)
    return std::nullopt;
  std::string rest = text.substr(static_cast<size_t>(used));
  if (!(rest.empty() || rest == "Z" || rest == "+00:00")) return std::nullopt;
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm));
}

// A time argument as seconds from the window's start (may be negative or past the end).
std::optional<double> offset_of(const std::string &text, const WindowBounds &w) {
  if (auto d = parse_duration_s(text)) return *d;
  const double start_unix = static_cast<double>(w.start_realtime_ns) / kNsPerS;
  if (auto unix_s = parse_iso(text)) return static_cast<double>(*unix_s) - start_unix;
  if (auto clock = parse_clock(text)) {
    // The clock time on the day before, of, or after the window's start, whichever lies nearest
    // the window (one that crossed midnight has its end on the next day).
    const double length_s = static_cast<double>(w.end_mono_ns - std::min(w.end_mono_ns, w.start_mono_ns)) / kNsPerS;
    const int64_t start_day = static_cast<int64_t>(w.start_realtime_ns / 1'000'000'000) / kSecondsPerDay;
    double best = 0, best_distance = INFINITY;
    for (int64_t day : {start_day - 1, start_day, start_day + 1}) {
      double offset = static_cast<double>(day * kSecondsPerDay + *clock) - start_unix;
      double distance = offset < 0 ? -offset : offset > length_s ? offset - length_s : 0;
      if (distance < best_distance) best = offset, best_distance = distance;
    }
    return best;
  }
  return std::nullopt;
}

}  // namespace

WindowBounds WindowBounds::of(const RecordingReader &r) {
  WindowBounds w;
  w.start_mono_ns = r.meta("start_ns").value_or(0).get<uint64_t>();
  w.start_realtime_ns = r.meta("start_realtime_ns").value_or(0).get<uint64_t>();
  auto end = r.meta("end_ns");
  if (!end) end = r.meta("last_flush_ns");  // cut off: the window ends at its last flush
  w.end_mono_ns = end ? end->get<uint64_t>() : w.start_mono_ns;
  return w;
}

std::optional<double> parse_duration_s(const std::string &text) {
  if (text.empty()) return std::nullopt;
  double total = 0;
  size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    size_t used = 0;
    double value = 0;
    if (!std::isdigit(static_cast<unsigned char>(text[i])) && text[i] != '.') return std::nullopt;
    try {
      value = std::stod(text.substr(i), &used);
    } catch (const std::exception &) {
      return std::nullopt;
    }
    i += used;
    std::string unit;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) unit += text[i++];
    double scale = unit.empty() || unit == "s" ? 1 : unit == "ms" ? 1e-3 : unit == "m" ? 60 : unit == "h" ? 3600 : -1;
    if (scale < 0 || (unit.empty() && i < text.size())) return std::nullopt;
    total += value * scale;
    any = true;
  }
  if (!any || !std::isfinite(total)) return std::nullopt;
  return total;
}

Result<Slice> resolve_slice(const SliceArgs &args, const WindowBounds &w) {
  if (!args.any()) return Slice{};
  const double length_s = static_cast<double>(w.end_mono_ns - std::min(w.end_mono_ns, w.start_mono_ns)) / kNsPerS;
  const std::string range =
      fmt::format("the recording covers 0 to {:.1f} s ({} to {})", length_s, utc_string(w.start_realtime_ns),
                  utc_string(w.start_realtime_ns + static_cast<uint64_t>(length_s * kNsPerS)));
  if (args.last && (args.from || args.to))
    return usage_error(fmt::format("--last takes the window's final part: use it without --from/--to; {}", range));
  double from_s = 0, to_s = length_s;
  if (args.last) {
    auto d = parse_duration_s(*args.last);
    if (!d || *d <= 0)
      return usage_error(fmt::format("--last {}: not a duration (90, 1m30s, 2h); {}", *args.last, range));
    from_s = std::max(0.0, length_s - *d);
  }
  for (auto [arg, out, name] : {std::tuple{&args.from, &from_s, "--from"}, std::tuple{&args.to, &to_s, "--to"}}) {
    if (!*arg) continue;
    auto t = offset_of(**arg, w);
    if (!t)
      return usage_error(fmt::format("{} {}: not a time (seconds from the start like 90 or 1m30s, a UTC time like "
                                     "03:12:10, or 2026-12-06T03:12:10Z); {}",
                                     name, **arg, range));
    *out = *t;
  }
  if (from_s >= length_s || to_s <= 0 || from_s >= to_s)
    return usage_error(fmt::format("the slice {:.1f} to {:.1f} s lies outside the recording or is empty; {}", from_s,
                                   to_s, range));
  Slice slice;
  // Reaching either end takes everything on that side (rows of the attach and of the last flush).
  slice.from_ns = from_s <= 0 ? 0 : w.start_mono_ns + static_cast<uint64_t>(from_s * kNsPerS);
  slice.to_ns = to_s >= length_s ? UINT64_MAX : w.start_mono_ns + static_cast<uint64_t>(to_s * kNsPerS);
  return slice;
}

}  // namespace triage
