#include "tcp/tcp_series_text.h"

#include <fmt/format.h>

#include <vector>

#include "report/text_util.h"

namespace triage::tcp {
namespace {

using json = nlohmann::json;

const char *const kSocketColumns[] = {"close_wait", "time_wait", "syn_recv", "accept_backlog"};

bool same_counts(const json &a, const json &b) {
  for (const char *key : kSocketColumns)
    if (a.value(key, 0ULL) != b.value(key, 0ULL)) return false;
  return true;
}

std::string endpoint_text(const json &e, const char *addr, const char *port) {
  std::string a = e.value(addr, "");
  if (a.find(':') != std::string::npos) return fmt::format("[{}]:{}", a, e.value(port, 0));
  return fmt::format("{}:{}", a, e.value(port, 0));
}

}  // namespace

void render_socket_series(const json &s, std::string &out, size_t limit) {
  const auto &series = s.value("socket_series", json::array());
  if (series.empty()) return;
  // The intervals where something moved; a flat series is one row.
  std::vector<size_t> moved;
  for (size_t i = 0; i < series.size(); i++)
    if (i == 0 || i + 1 == series.size() || !same_counts(series[i], series[i - 1])) moved.push_back(i);
  bool cut = moved.size() > limit;
  if (cut) {
    // The first changes and the last row: the onset and where it ended.
    size_t last = moved.back();
    moved.resize(limit - 1);
    moved.push_back(last);
  }
  out += fmt::format("\nsockets over time (intervals where a count changed: {}{})\n", moved.size(),
                     cut ? fmt::format(", the first {} and the last; every interval is in the JSON", limit - 1) : "");
  out += fmt::format("  {:>7} {:>10} {:>10} {:>9} {:>15}\n", "t(s)", "CLOSE_WAIT", "TIME_WAIT", "SYN_RECV",
                     "accept backlog");
  for (size_t i : moved) {
    const auto &row = series[i];
    out += fmt::format("  {:>7.1f} {:>10} {:>10} {:>9} {:>15}\n", row.value("t", 0.0), row.value("close_wait", 0ULL),
                       row.value("time_wait", 0ULL), row.value("syn_recv", 0ULL), row.value("accept_backlog", 0ULL));
  }
}

ShownRows reset_events_shown(const json &events, size_t limit) {
  ShownRows shown;
  for (size_t i = 0; i < events.size() && shown.index.size() + 1 < limit; i++) shown.index.push_back(i);
  if (events.size() > shown.index.size()) shown.index.push_back(events.size() - 1);
  shown.caption = shown.index.size() < events.size()
                      ? fmt::format("first {} of {} by time, and the last", shown.index.size() - 1, events.size())
                      : fmt::format("all {}", events.size());
  return shown;
}

void render_reset_events(const json &s, std::string &out, size_t limit) {
  const auto &events = s.value("resets", json::object()).value("events", json::array());
  if (events.empty()) return;
  const ShownRows shown = reset_events_shown(events, limit);
  out += fmt::format("reset events ({})\n", shown.caption);
  for (size_t i : shown.index) {
    const auto &e = events[i];
    out += fmt::format("  {:>8.2f}s  {:<14} {} -> {}  in {}  {} ({})\n", e.value("t", 0.0),
                       e.value("kind", "") == "reset_sent" ? "sent" : "received", endpoint_text(e, "saddr", "sport"),
                       endpoint_text(e, "daddr", "dport"), e.value("state", "?"), printable(e.value("comm", "")),
                       e.value("pid", 0));
  }
}

}  // namespace triage::tcp
