// The tcp section of the report: built from the recording, rendered as text, and its findings.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "record/recording.h"
#include "core/json_fields.h"
#include "tcp/tcp_rows.h"

namespace triage::tcp {

// A full accept queue refuses connections silently (the client sees a SYN retransmit, seconds of
// delay): one overflow is already a user-visible stall; a hundred is an outage in progress.
inline constexpr uint64_t kListenOverflowCritical = 100;
// SYN cookies are sent only when a SYN queue is full; thousands of half-open connections on one
// listener are far above what legitimate clients leave behind (each lasts one RTT).
inline constexpr uint64_t kSynRecvFloodPeak = 1024;
// A healthy application closes its end within milliseconds of reading EOF. Seconds in CLOSE_WAIT
// mean nobody will: a descriptor (and its buffers) leaked until the process exits.
// "Stuck" is judged over the slice: seen at this many connection walks in a row, and this long.
inline constexpr uint64_t kCloseWaitLeakAgeMs = 2000;
inline constexpr uint64_t kCloseWaitLeakSamples = 3;
inline constexpr size_t kCloseWaitCritical = 100;  // enough leaked descriptors to hit ulimit -n soon
// A TIME_WAIT socket lasts 60 s, so 1000 of them means 16+ connections a second closed first by
// one side: worth knowing who (it is usually the side that should reuse connections).
inline constexpr uint64_t kTimeWaitChurn = 1000;
// On a client, TIME_WAIT holds an ephemeral port: a quarter of the default range (28232 ports)
// towards one service is where connect() starts to fail with EADDRNOTAVAIL under bursts.
inline constexpr uint64_t kTimeWaitPortExhaustion = 28232 / 4;
// Rows of each list the text and HTML sections show; the JSON report holds them all. The
// retransmits finding's figures come from the flows shown, so the table and it cannot disagree.
inline constexpr size_t kFlowsShown = 10, kCloseWaitShown = 10, kTimeWaitPortsShown = 5;
inline constexpr size_t kListedEvents = 10;  // read timeouts, keep-alive races, reset events

// "addr:port" of a report row, from its address and port fields.
std::string endpoint(const json &row, const char *addr, const char *port);

// `tcp` as INTERFACE.md defines it (plus by_port, lifetime, netstat, resets), built from the rows
// of the reader's slice (tcp_section.cpp), or null when the family was not recorded.
json build_section(const RecordingReader &recording, uint64_t window_start_mono_ns);
// tcp.close_wait_leaks: sockets seen in CLOSE_WAIT at kCloseWaitLeakSamples walks in a row and
// for kCloseWaitLeakAgeMs, per owner (named while it was alive), with when they were stuck
// (first_t: the earliest came into CLOSE_WAIT, within the slice; last_t: the last walk that saw
// one; peak_t) and how many were still open at the end. `rows` are the close_wait gauges and
// `walk_times` the connection walks from the recording's start to the slice's end: a run of
// walks is counted on that history, and reported from `slice_from_ns` on.
json close_wait_leaks(const std::vector<uint64_t> &walk_times,
                      const std::vector<std::pair<uint64_t, CloseWaitGauge>> &rows, uint64_t window_start_mono_ns,
                      uint64_t slice_from_ns);
// Keys of tcp.spans: when a listener's overflows, and a namespace's unattributed ones, happened.
std::string listener_span_key(uint64_t netns, const std::string &addr, uint64_t port);
std::string netns_span_key(uint64_t netns);
// Fills read_timeouts and keepalive_races (and their totals) from the reset events.
void classify_resets(json &section, const json &reset_events);
// Classifies the reset events (rows of tcp.resets.events: kind, t_ns, the 4-tuple and the
// per-socket stamps) into tcp.read_timeouts and tcp.keepalive_races rows.
json read_timeouts(const json &reset_events);
json keepalive_races(const json &reset_events);
void render_text(const json &section, std::string &out);
// The tcp section of the HTML page (tcp_html.cpp), from the whole report as every family's is.
void render_html(const json &report, std::string &out);

// What a renderer with room for `limit` rows shows of a list kept in time order: the first rows,
// with the one largest by `largest_key` always among them (it replaces the last when it came
// later). `caption` says so ("first 9 of 31 by time, and the longest"), empty when all are shown.
struct ShownRows {
  std::vector<size_t> index;
  std::string caption;
};
ShownRows first_rows_with_largest(const json &rows, size_t limit, const char *largest_key, const char *largest_name);
// "top 10 of 200 by segments" for a list sorted largest first, empty when all `total` are shown.
std::string top_caption(size_t shown, uint64_t total, const char *by);
// listen-overflow, syn-flood, close-wait-leak, time-wait-churn, retransmits, read-timeout,
// keepalive-race, connect-timeout-risk (tcp_findings.cpp).
void add_findings(const json &report, json &findings);

}  // namespace triage::tcp
