// The tcp family's rows as its sampler writes them (tcp_rows.h), and the report built from them,
// for the unit tests that make up a tcp recording.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/delta_table.h"
#include "core/sock_diag.h"
#include "record/recording.h"
#include "tcp/tcp_report.h"
#include "tcp/tcp_rows.h"

namespace triage::tcp_test {

using nlohmann::json;
using namespace triage::tcp;

inline constexpr uint64_t kStart = 1'000'000'000'000ULL;
inline constexpr uint64_t kSecond = 1'000'000'000ULL;

// The family's totals since attach, as the sampler hands them to its counters table.
inline CounterRow counters(uint64_t retrans = 0, uint64_t syn = 0, uint64_t synack = 0) {
  CounterRow c;
  c.retrans_segs = c.retrans_events = retrans;
  c.syn_retrans = syn;
  c.synack_retrans = synack;
  return c;
}

// What the sampler writes, through the same tables and row structs (tcp_rows.h).
struct TcpRows {
  RecordingWriter &w;
  DeltaTable<CounterRow> counter_table{"tcp", "counters"};
  DeltaTable<FlowRow> flow_table{"tcp", "flows"};
  DeltaTable<ListenerCountRow> listener_table{"tcp", "listener_counts"};
  DeltaTable<NetnsRow> netns_table{"tcp", "netstat"};
  explicit TcpRows(RecordingWriter &writer) : w(writer) {
    TcpConfig config;
    config.method = "tp_btf";
    config.hz = 250;
    w.set_meta("tcp.config", config);
  }
  // One sample at `t_s` seconds into the window: its sockets row (a walk when close_wait is given).
  void sample(double t_s, std::optional<uint64_t> close_wait = std::nullopt, uint64_t time_wait = 0) {
    json row = {{"dt_s", 1.0}, {"time_wait", time_wait}, {"accept_backlog", 0}};
    if (close_wait) row["close_wait"] = *close_wait, row["syn_recv"] = 0;
    w.add_series(at(t_s), "tcp", "sockets", row);
  }
  static uint64_t at(double t_s) { return kStart + static_cast<uint64_t>(t_s * 1e9); }
};

inline ListenerLevel listener(const char *addr, uint16_t port, uint32_t backlog_max, uint32_t pid = 0, const char *comm = "") {
  ListenerLevel l;
  l.netns = 1;
  l.addr = addr;
  l.port = port;
  l.backlog_max = backlog_max;
  l.pid = pid;
  l.comm = comm;
  return l;
}

inline CloseWaitSocket close_wait_socket(uint32_t pid, const char *comm, uint16_t lport, uint16_t rport, uint64_t entered_ns) {
  CloseWaitSocket cw;
  cw.netns = 1;
  cw.laddr = "10.0.0.1";
  cw.lport = lport;
  cw.raddr = "10.0.0.5";
  cw.rport = rport;
  cw.entered_ns = entered_ns;
  cw.exact = true;
  cw.pid = pid;
  cw.comm = comm;
  return cw;
}

inline json report_of(const RecordingReader &r) {
  json report;
  report["tcp"] = build_section(r, kStart);
  report["findings"] = json::array();
  add_findings(report, report["findings"]);
  return report;
}

inline const json *finding(const json &report, const std::string &id) {
  for (const auto &f : report["findings"])
    if (f["id"] == id) return &f;
  return nullptr;
}

inline DiagSocket sock(int state, const char *laddr, uint16_t lport, const char *raddr, uint16_t rport) {
  DiagSocket s;
  s.family = 2;
  s.state = state;
  s.laddr = laddr;
  s.lport = lport;
  s.raddr = raddr;
  s.rport = rport;
  return s;
}

}  // namespace triage::tcp_test
