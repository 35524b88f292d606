// The tcp family's loader and BPF sampler: chooses the hook set by trying the kernel, attaches
// each program on its own, and every interval turns the in-kernel aggregates into that interval's
// rows (tcp_rows.h); the socket snapshots of every network namespace are read by
// tcp_sockets.cpp and turned into rows by tcp_socket_aggregator.cpp.
#include "tcp/tcp_family.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>

#include "core/bpf_maps.h"
#include "core/bpf_object.h"
#include "core/bpf_raii.h"
#include "core/clock.h"
#include "core/counter_delta.h"
#include "core/histogram.h"
#include "core/log.h"
#include "core/percpu_sum.h"
#include "tcp.skel.h"
#include "tcp/tcp_abi.h"
#include "tcp/tcp_model.h"
#include "tcp/tcp_netns.h"
#include "core/compact_json.h"
#include "tcp/tcp_rows.h"
#include "tcp/tcp_sockets.h"

namespace triage::tcp {
namespace {

using TcpObject = BpfObject<tcp_bpf, tcp_bpf__open, tcp_bpf__load, tcp_bpf__destroy>;


}  // namespace

// Both hook sets share one object: the method only chooses which programs are loaded.
const ProbeSpec kTcpProbes[] = {
    {"tcp_state", "tracepoint sock:inet_sock_set_state", "inet_sock_set_state", "set_state_btf", "set_state_raw",
     "TCP connection lifecycles: connect latency, CLOSE_WAIT leaks and the reset recognisers' context"},
    {"tcp_retransmit", "tracepoint tcp:tcp_retransmit_skb", "tcp_retransmit_skb", "retransmit_btf", "retransmit_raw",
     "TCP retransmissions and the flows that retransmit"},
    {"tcp_retransmit_synack", "tracepoint tcp:tcp_retransmit_synack", "tcp_retransmit_synack", "retransmit_synack_btf",
     "retransmit_synack_raw", "SYN-ACK retransmissions (a listener's half-open connections timing out)"},
    {"tcp_listen_drops", "tracepoint skb:kfree_skb (reason TCP_LISTEN_OVERFLOW)", "kfree_skb", "kfree_skb_btf",
     "kfree_skb_raw", "which listener dropped connections on accept-queue overflow"},
    {"tcp_send_reset", "tracepoint tcp:tcp_send_reset", "tcp_send_reset", "send_reset_btf", "send_reset_raw",
     "resets this host sent"},
    {"tcp_receive_reset", "tracepoint tcp:tcp_receive_reset", "tcp_receive_reset", "receive_reset_btf",
     "receive_reset_raw", "resets this host received"},
    {"tcp_sockets", "NETLINK_SOCK_DIAG + /proc/net/netstat in every network namespace", nullptr, nullptr, nullptr,
     "socket snapshots: queues, listener backlog and per-namespace netstat counters"},
};

ProbeTable probe_table() { return kTcpProbes; }

namespace {

// The BPF side's family is AF_INET6 or, for anything else, an IPv4 address.
std::string addr_text(uint16_t family, const uint8_t *addr) {
  return address_text(family == AF_INET6 ? AF_INET6 : AF_INET, addr);
}

// CONFIG_HZ from a kernel config file (plain or gzip), 0 when unknown.
unsigned read_config_hz(const std::string &path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return 0;
  char line[256];
  unsigned hz = 0;
  while (gzgets(f, line, sizeof line))
    if (std::strncmp(line, "CONFIG_HZ=", 10) == 0) {
      hz = static_cast<unsigned>(std::strtoul(line + 10, nullptr, 10));
      break;
    }
  gzclose(f);
  return hz;
}

unsigned kernel_hz() {
  if (unsigned hz = read_config_hz("/proc/config.gz")) return hz;
  utsname u{};
  ::uname(&u);
  if (unsigned hz = read_config_hz(std::string("/boot/config-") + u.release)) return hz;
  return 250;  // Debian's and most distributions' default
}

struct PortKeyLess {
  bool operator()(const tcp_port_key &a, const tcp_port_key &b) const {
    return std::tie(a.netns, a.port, a.role) < std::tie(b.netns, b.port, b.role);
  }
};

class TcpFamily final : public Family {
 public:
  std::string name() const override { return "tcp"; }

  void attach(const RecordOptions &options, const KernelFeatures &kernel) override {
    options_ = options;
    // bpf_mem_alloc is how we guess the verifier takes run-time allocated maps in tracing
    // programs; a vendor kernel that backported one without the other gets the preallocated
    // per-socket map rather than no tcp family.
    const bool run_time_alloc = kernel.has_type("bpf_mem_alloc");
    bool loaded = bpf_.load_first(options, [&](const char *method) {
      auto prepare_with = [&](bool alloc) { return [&, alloc](tcp_bpf &skel) { return prepare(skel, kernel, alloc); }; };
      Result<void> ready = bpf_.try_load(method, kernel, prepare_with(run_time_alloc));
      return ready || !run_time_alloc ? ready : bpf_.try_load(method, kernel, prepare_with(false));
    });
    if (loaded) {
      method_ = bpf_.method();
      attach_programs();
      bpf_.open_ring("events", on_event, this, "resets will be missing");
    }
    attach_snapshots();
  }

  bool attached() const override { return any_link_ || snapshots_ok_; }
  std::vector<ProbeStatus> probes() const override { return bpf_.statuses(); }

  int event_fd() const override { return bpf_.event_fd(); }

  void drain(RecordingWriter &out) override {
    if (bpf_.event_fd() < 0) return;
    bpf_.drain();
    for (const auto &e : pending_) {
      out.add_event(e.t_ns, "tcp", e.sent ? "reset_sent" : "reset_received",
                    {{"netns", e.netns},
                     {"saddr", addr_text(e.family, e.saddr)},
                     {"sport", e.sport},
                     {"daddr", addr_text(e.family, e.daddr)},
                     {"dport", e.dport},
                     {"state", state_name(e.state)},
                     {"established_ns", e.established_ns},
                     {"last_send_ns", e.last_send_ns},
                     {"last_recv_ns", e.last_recv_ns},
                     {"close_wait_ns", e.close_wait_ns},
                     {"fin_ns", e.fin_ns},
                     {"srtt_us", e.srtt_us},
                     {"pid", e.pid},
                     {"role", role_name(e.role)},
                     {"comm", std::string(e.comm, strnlen(e.comm, sizeof e.comm))}});
    }
    pending_.clear();
  }

  void sample(uint64_t now_ns, RecordingWriter &out) override {
    double dt_s = static_cast<double>(now_ns - last_sample_ns_) / 1e9;
    bool full_interval = dt_s >= kMinSeriesIntervalS;
    last_sample_ns_ = now_ns;
    if (bpf_.loaded()) sample_bpf(now_ns, dt_s, full_interval, out);
    if (snapshots_ok_) sockets_.sample(now_ns, dt_s, full_interval, final_sample_, listen_drops_, deltas_, out);
    write_config(out);
    counters_.write(now_ns, {counter_totals()}, out);
  }

  LossCounters loss() const override {
    LossCounters l{totals_.events_produced, totals_.events_lost,
                   totals_.sock_map_full + totals_.port_map_full + totals_.flow_map_full, delivered_};
    l.dropped_by_counter = {{"sock_map_full", totals_.sock_map_full},
                            {"port_map_full", totals_.port_map_full},
                            {"flow_map_full", totals_.flow_map_full}};
    return l;
  }

  std::vector<int> program_fds() const override { return bpf_.program_fds(); }

  void stop_producers() override {
    bpf_.stop();
    final_sample_ = true;  // the recorder samples once more, for the window's end
  }

  void detach() override { bpf_.close(); }

 private:
  Result<void> prepare(tcp_bpf &skel, const KernelFeatures &kernel, bool run_time_alloc) {
    hz_ = kernel_hz();
    skel.rodata->kernel_hz = hz_;
    // 6.17 added `err` and fires for failed retransmits too; count arguments, not versions.
    skel.rodata->retransmit_has_err = kernel.tracepoint_arg_count("tcp_retransmit_skb") >= 3;
    skel.rodata->kfree_skb_has_rx_sk = kernel.tracepoint_arg_count("kfree_skb") >= 4;
    int reason = kernel.tracepoint_arg_count("kfree_skb") >= 3
                     ? kernel.enum_value("skb_drop_reason", "SKB_DROP_REASON_TCP_LISTEN_OVERFLOW")
                     : -1;
    skel.rodata->listen_overflow_reason = reason > 0 ? static_cast<uint32_t>(reason) : 0;
    // -p / --cgroup: applied to each socket's owner, captured in the kernel at connect()/listen().
    set_filter_rodata(skel.rodata, options_);
    // Preallocated, the per-socket map holds 10 MB of kernel memory from the start, in 4 KiB
    // vmalloc pages; allocated at run time, only the live sockets' entries, from kmalloc. That
    // also cut set_state's time per connection where PTI without PCID starts every syscall with a
    // cold TLB (design figure T3 in bench/RESULTS.md). In a tracing program run-time
    // allocation is safe only with bpf_mem_alloc (6.1); older kernels keep the preallocated map.
    if (run_time_alloc)
      bpf_map__set_map_flags(skel.maps.sock_states, bpf_map__map_flags(skel.maps.sock_states) | BPF_F_NO_PREALLOC);
    uint32_t slots = port_slots_for(possible_cpus());
    skel.rodata->port_slot_count = slots;
    bpf_map__set_max_entries(skel.maps.port_stats, slots);
    if (!skel.rodata->listen_overflow_reason)
      bpf_.leave_out("tcp_listen_drops", "this kernel's kfree_skb has no TCP_LISTEN_OVERFLOW drop reason");
    return {};
  }

  void attach_programs() {
    for (const auto &probe : kTcpProbes) any_link_ = bpf_.attach(probe.name) || any_link_;
    state_attached_ = bpf_.is_attached("tcp_state");
    retransmit_attached_ = bpf_.is_attached("tcp_retransmit");
  }

  // The socket snapshots need no BPF: they work (and are reported) even when no program loaded.
  void attach_snapshots() {
    const ProbeSpec &probe = *find_probe(kTcpProbes, "tcp_sockets");
    if (contains(options_.disabled_probes, probe.name)) {
      bpf_.add_status({probe.name, "tcp", probe.hook, "sock_diag", "skipped", "disabled by --no-probe"});
      return;
    }
    std::string error;
    bool self_ok = sockets_.attach(error);
    snapshots_ok_ = self_ok;
    bpf_.add_status({probe.name, "tcp", probe.hook, "sock_diag", self_ok ? "attached" : "failed", self_ok ? "" : error});
    last_sample_ns_ = monotonic_ns();
  }

  static int on_event(void *ctx, void *data, size_t size) {
    auto *self = static_cast<TcpFamily *>(ctx);
    self->delivered_++;
    if (size >= sizeof(tcp_reset_event)) self->pending_.push_back(*static_cast<const tcp_reset_event *>(data));
    return 0;
  }

  void sample_bpf(uint64_t now_ns, double dt_s, bool full_interval, RecordingWriter &out) {
    std::vector<tcp_cpu_counters> per_cpu;
    tcp_cpu_counters sum{};
    // A failed read is no sample: zeros now would make the next interval's delta the whole window.
    bool counters_read = read_percpu(bpf_map__fd(bpf_.skel()->maps.counters), 0, per_cpu);
    for (const auto &c : per_cpu) add_u64_fields(sum, c);
    if (counters_read && full_interval) {
      RateRow rates;
      rates.dt_s = dt_s;
      rates.transitions = deltas_(totals_.transitions, sum.transitions);
      rates.retrans_segs = deltas_(totals_.retrans_segs, sum.retrans_segs);
      rates.syn_retrans = deltas_(totals_.syn_retrans + totals_.synack_retrans, sum.syn_retrans + sum.synack_retrans);
      rates.resets_sent = deltas_(totals_.resets_sent, sum.resets_sent);
      rates.resets_received = deltas_(totals_.resets_received, sum.resets_received);
      out.add_series(now_ns, "tcp", "rates", rates);
    }
    if (counters_read) totals_ = sum;
    recursion_misses_ = recursion_misses(program_fds());  // a transition missed, perhaps a CLOSE

    std::vector<tcp_hists> hists;
    if (read_percpu(bpf_map__fd(bpf_.skel()->maps.hists), 0, hists)) {
      const std::pair<const char *, const char *> names[] = {
          {"connect_us", "us"}, {"lifetime_us", "us"}, {"rto_ms", "ms"}, {"srtt_us", "us"}};
      for (size_t k = 0; k < 4; k++) {
        Log2Histogram total;
        for (const auto &h : hists) total.merge(reinterpret_cast<const triage_log2_hist *>(&h)[k]);
        Log2Histogram delta = total.minus(last_hists_[k]);
        if (delta.count()) {
          // Two cumulative copies bound the interval's smallest value by its lowest slot; every
          // value of the interval is also at least the cumulative minimum (exact when it fell in
          // this interval), so a window merged from intervals keeps its true minimum.
          out.add_hist(now_ns, "tcp", names[k].first, compact_histogram(delta, std::max(delta.min(), total.min())));
        }
        last_hists_[k] = total;
      }
    }

    std::vector<tcp_transition_matrix> matrix;
    if (read_percpu(bpf_map__fd(bpf_.skel()->maps.transitions), 0, matrix)) {
      std::vector<TransitionRow> rows;
      for (int from = 0; from < TCP_ST_COUNT; from++)
        for (int to = 0; to < TCP_ST_COUNT; to++) {
          uint64_t n = 0;
          for (const auto &m : matrix) n += m.count[from * TCP_ST_COUNT + to];
          if (n) rows.push_back({state_name(from), state_name(to), n});
        }
      transitions_.write(now_ns, rows, out);
    }

    std::vector<PortRow> ports;
    for (const auto &[k, s] : port_totals())
      ports.push_back({k.netns, k.port, role_name(k.role), s.opens, s.established, s.active_closes, s.passive_closes,
                       s.aborts, s.connect_failures, s.connect_ns_sum, s.lifetime_count, s.lifetime_ns_sum,
                       s.close_wait_entered, s.close_wait_left, s.connect_ns_max});
    ports_.write(now_ns, ports, out);

    std::vector<FlowRow> flows;
    for_each_entry<tcp_flow_key, tcp_flow_stats>(
        bpf_map__fd(bpf_.skel()->maps.flow_stats), [&](const tcp_flow_key &k, const tcp_flow_stats &s) {
          flows.push_back({k.netns, addr_text(k.family, k.saddr), k.sport, addr_text(k.family, k.daddr), k.dport, s.segs,
                           s.syn_segs, s.max_backoff, s.max_rto_ms, state_name(static_cast<int>(s.state)),
                           s.last_srtt_us, s.first_ns, s.last_ns});
        });
    flows_.write(now_ns, flows, out);

    listen_drops_.clear();
    for_each_entry<tcp_listener_key, uint64_t>(bpf_map__fd(bpf_.skel()->maps.listen_drops),
                                               [&](const tcp_listener_key &k, uint64_t n) { listen_drops_[{k.netns, k.port}] = n; });
  }

  // Each port's aggregate: its slots' per-CPU copies added up (the largest connect time kept).
  std::map<tcp_port_key, tcp_port_stats, PortKeyLess> port_totals() {
    std::map<tcp_port_key, tcp_port_stats, PortKeyLess> totals;
    std::vector<tcp_port_stats> per_cpu;
    for_each_entry<uint32_t, tcp_port_key>(bpf_map__fd(bpf_.skel()->maps.slot_claims), [&](uint32_t slot, const tcp_port_key &k) {
      if (read_percpu(bpf_map__fd(bpf_.skel()->maps.port_stats), slot, per_cpu)) add_port_copies(totals[k], per_cpu);
    });
    return totals;
  }

  CounterRow counter_totals() const {
    CounterRow c;
    c.transitions = totals_.transitions;
    c.retrans_events = totals_.retrans_events;
    c.retrans_segs = totals_.retrans_segs;
    c.retrans_failed_segs = totals_.retrans_failed_segs;
    c.syn_retrans = totals_.syn_retrans;
    c.synack_retrans = totals_.synack_retrans;
    c.listen_overflow_drops = totals_.listen_overflow_drops;
    c.resets_sent = totals_.resets_sent;
    c.resets_received = totals_.resets_received;
    c.events_produced = totals_.events_produced;
    c.events_lost = totals_.events_lost;
    c.events_delivered = delivered_;
    c.sock_map_full = totals_.sock_map_full;
    c.port_map_full = totals_.port_map_full;
    c.flow_map_full = totals_.flow_map_full;
    c.recursion_misses = recursion_misses_;
    c.counter_resets = deltas_.resets();
    c.connection_walks = sockets_.walks().walks();
    c.connection_walk_cpu_ns = sockets_.walks().cpu_ns();
    c.connection_walk_longest_gap_ns = sockets_.walks().longest_gap_seen_ns();
    return c;
  }

  // The run's constants, to meta once and again only if one changes (the walk request is known
  // after the first walk).
  void write_config(RecordingWriter &out) {
    TcpConfig config{method_,        hz_,           state_attached_, retransmit_attached_, snapshots_ok_,
                     kWalkCpuShare, kWalkPressureCpuShare, sockets_.one_request() ? "both families" : "per family"};
    if (config == config_written_) return;
    out.set_meta("tcp.config", config);
    config_written_ = config;
  }

  RecordOptions options_;
  TcpObject bpf_{"tcp", kTcpProbes};
  std::string method_;  // empty: no hook set loaded
  std::vector<tcp_reset_event> pending_;
  uint64_t delivered_ = 0;
  bool any_link_ = false;  // outlives stop_producers(), unlike links_
  bool state_attached_ = false, retransmit_attached_ = false, snapshots_ok_ = false;
  unsigned hz_ = 0;
  uint64_t window_start_ns_ = monotonic_ns();
  uint64_t last_sample_ns_ = 0;
  tcp_cpu_counters totals_{};
  CounterDeltas deltas_;  // every delta of a kernel counter, so the report can say how often one went down
  std::array<Log2Histogram, 4> last_hists_{};
  ListenDrops listen_drops_;
  SocketSampler sockets_{window_start_ns_};
  DeltaTable<CounterRow> counters_{"tcp", "counters"};
  DeltaTable<TransitionRow> transitions_{"tcp", "transitions"};
  DeltaTable<PortRow> ports_{"tcp", "ports"};
  DeltaTable<FlowRow> flows_{"tcp", "flows"};
  std::optional<TcpConfig> config_written_;
  uint64_t recursion_misses_ = 0;  // program runs the kernel skipped (bpf_prog_info, 5.12+)
  bool final_sample_ = false;
};

}  // namespace

std::unique_ptr<Family> make_tcp_family() { return std::make_unique<TcpFamily>(); }

}  // namespace triage::tcp
