// The tcp family's loader and sampler: chooses the hook set by trying the kernel, attaches each
// program on its own, and every interval turns the in-kernel aggregates plus a socket snapshot
// of every network namespace into series rows and the cumulative state the report reads.
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
#include <set>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>

#include "core/bpf_maps.h"
#include "core/bpf_raii.h"
#include "core/clock.h"
#include "core/counter_delta.h"
#include "core/histogram.h"
#include "core/hook_sets.h"
#include "core/log.h"
#include "core/percpu_sum.h"
#include "tcp.skel.h"
#include "tcp/tcp_abi.h"
#include "tcp/tcp_model.h"
#include "tcp/tcp_netns.h"

namespace triage::tcp {
namespace {

using TcpSkeleton = UniqueSkeleton<tcp_bpf, tcp_bpf__destroy>;

constexpr uint64_t kTimeWaitListAlways = 1000;            // TIME_WAIT sockets listed every interval up to this
constexpr uint64_t kTimeWaitListPeriodNs = 5'000'000'000;  // and above it this often
constexpr size_t kFlowsKept = 200;      // retransmitting flows kept in the recording, most first
constexpr size_t kCloseWaitKept = 500;  // CLOSE_WAIT sockets listed at the end
// The established-hash walk (SYN_RECV and CLOSE_WAIT sockets, TIME_WAIT listings; see
// WalkSchedule): under loopback churn, walking every interval was most of triage's own CPU.
// Listeners, their accept queues and the counters are read every interval whatever it costs.
constexpr double kWalkCpuShare = 0.005;
constexpr uint64_t kWalkGapMaxNs = 10'000'000'000;
// A CLOSE_WAIT socket is traced to its process (a scan of every /proc/<pid>/fd) once it has been
// there this long, or at the window's end: under churn, sockets pass through CLOSE_WAIT in
// microseconds by the thousand, and a scan for each one caught was pure cost.
constexpr uint64_t kCloseWaitOwnerAfterNs = 1'000'000'000;
constexpr double kMinIntervalS = 0.02;

// The kernel counters the report compares against (names as /proc/net/netstat and snmp give them).
const char *const kNetstatKeys[] = {"ListenOverflows", "ListenDrops",     "TCPReqQFullDrop", "TCPReqQFullDoCookies",
                                    "SyncookiesSent",  "SyncookiesRecv",  "SyncookiesFailed", "TCPSynRetrans",
                                    "TCPRetransFail",  "TcpRetransSegs",  "TCPTimeouts",     "TcpActiveOpens",
                                    "TcpPassiveOpens", "TcpAttemptFails", "TcpEstabResets",  "TCPAbortOnData",
                                    "TcpOutSegs"};

struct Probe {
  const char *name;
  const char *tracepoint;
  const char *hook;
  bpf_program *(*btf)(tcp_bpf *);
  bpf_program *(*raw)(tcp_bpf *);
};

const Probe kProbes[] = {
    {"tcp_state", "inet_sock_set_state", "tracepoint sock:inet_sock_set_state",
     [](tcp_bpf *s) { return s->progs.set_state_btf; }, [](tcp_bpf *s) { return s->progs.set_state_raw; }},
    {"tcp_retransmit", "tcp_retransmit_skb", "tracepoint tcp:tcp_retransmit_skb",
     [](tcp_bpf *s) { return s->progs.retransmit_btf; }, [](tcp_bpf *s) { return s->progs.retransmit_raw; }},
    {"tcp_retransmit_synack", "tcp_retransmit_synack", "tracepoint tcp:tcp_retransmit_synack",
     [](tcp_bpf *s) { return s->progs.retransmit_synack_btf; },
     [](tcp_bpf *s) { return s->progs.retransmit_synack_raw; }},
    {"tcp_listen_drops", "kfree_skb", "tracepoint skb:kfree_skb (reason TCP_LISTEN_OVERFLOW)",
     [](tcp_bpf *s) { return s->progs.kfree_skb_btf; }, [](tcp_bpf *s) { return s->progs.kfree_skb_raw; }},
    {"tcp_send_reset", "tcp_send_reset", "tracepoint tcp:tcp_send_reset",
     [](tcp_bpf *s) { return s->progs.send_reset_btf; }, [](tcp_bpf *s) { return s->progs.send_reset_raw; }},
    {"tcp_receive_reset", "tcp_receive_reset", "tracepoint tcp:tcp_receive_reset",
     [](tcp_bpf *s) { return s->progs.receive_reset_btf; }, [](tcp_bpf *s) { return s->progs.receive_reset_raw; }},
};

// Both sets share one object: the method only chooses which programs are autoloaded.
struct HookSet {
  const char *method;
};
const HookSet kHookSets[] = {{"tp_btf"}, {"raw_tp"}};

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

std::string addr_text(uint16_t family, const uint8_t *addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (!::inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, text, sizeof text)) return "?";
  return text;
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

using FlowTuple = std::tuple<uint32_t, std::string, uint16_t, std::string, uint16_t>;  // netns, l, lp, r, rp

struct ListenerAgg {
  uint32_t netns = 0;
  std::string addr;
  uint16_t port = 0;
  uint64_t inode = 0;
  uint32_t backlog = 0, backlog_max = 0, backlog_peak = 0;
  uint32_t syn_recv = 0, syn_recv_peak = 0;
  uint64_t samples = 0, full_samples = 0;
  bool was_full = false;  // at the previous snapshot
  bool present = false;   // at the namespace's last snapshot: a candidate for its counters' next delta
  Log2Histogram fill;     // accept-queue length at each snapshot
  uint64_t overflows = 0, syn_drops = 0, syncookies = 0, overflow_drops_seen = 0;
  uint64_t drops_seen_last = 0;
};

struct NetnsAgg {
  std::string name;
  uint32_t pid = 0;
  NetnsCounters counters;
  uint64_t unattributed_overflows = 0, unattributed_syn_drops = 0, unattributed_syncookies = 0;
  uint64_t overflows_several_full = 0;  // of unattributed_overflows: several listeners full at one sample
};

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
    std::string reasons;
    const HookSet *hooks = load_first_hook_set<HookSet>(
        kHookSets, "tcp", options.forced_hooks,
        [&](const HookSet &set) {
          // bpf_mem_alloc is how we guess the verifier takes run-time allocated maps in tracing
          // programs; a vendor kernel that backported one without the other gets the preallocated
          // per-socket map rather than no tcp family.
          bool run_time_alloc = kernel.has_type("bpf_mem_alloc");
          Result<void> loaded = load(set.method, kernel, run_time_alloc);
          return loaded || !run_time_alloc ? loaded : load(set.method, kernel, false);
        },
        reasons);
    if (hooks) method_ = hooks->method;
    if (method_.empty()) {
      for (const auto &p : kProbes) probes_.push_back({p.name, "tcp", p.hook, "", "failed", reasons});
    } else {
      attach_programs();
      ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.events), on_event, this, nullptr));
      if (!ring_) log_warning("tcp: no ring buffer ({}): resets will be missing", errno_text(errno));
    }
    attach_snapshots();
  }

  bool attached() const override { return any_link_ || snapshots_ok_; }
  std::vector<ProbeStatus> probes() const override { return probes_; }

  int event_fd() const override { return ring_ ? ring_buffer__epoll_fd(ring_.get()) : -1; }

  void drain(RecordingWriter &out) override {
    if (!ring_) return;
    drain_ring(ring_.get());
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
    bool full_interval = dt_s >= kMinIntervalS;
    last_sample_ns_ = now_ns;
    if (skel_) sample_bpf(now_ns, dt_s, full_interval, out);
    if (snapshots_ok_) sample_sockets(now_ns, dt_s, full_interval, out);
    out.put_state("tcp", "counters", counters_json());
  }

  LossCounters loss() const override {
    return {totals_.events_produced, totals_.events_lost,
            totals_.sock_map_full + totals_.port_map_full + totals_.flow_map_full, delivered_};
  }

  std::vector<int> program_fds() const override {
    std::vector<int> fds;
    if (!skel_) return fds;
    for (const auto &p : kProbes) {
      int fd = bpf_program__fd(program_of(p));
      if (fd >= 0) fds.push_back(fd);
    }
    return fds;
  }

  void stop_producers() override {
    links_.clear();
    final_sample_ = true;  // the recorder samples once more, for the window's end
  }

  void detach() override {
    ring_.reset();
    links_.clear();
    skel_.reset();
  }

 private:
  bpf_program *program_of(const Probe &p) const { return method_ == "raw_tp" ? p.raw(skel_.get()) : p.btf(skel_.get()); }

  Result<void> load(const std::string &method, const KernelFeatures &kernel, bool run_time_alloc) {
    TcpSkeleton skel(tcp_bpf__open());
    if (!skel) return runtime_error(fmt::format("cannot open the BPF object: {}", errno_text(errno)));
    hz_ = kernel_hz();
    skel->rodata->kernel_hz = hz_;
    // 6.17 added `err` and fires for failed retransmits too; count arguments, not versions.
    skel->rodata->retransmit_has_err = kernel.tracepoint_arg_count("tcp_retransmit_skb") >= 3;
    skel->rodata->kfree_skb_has_rx_sk = kernel.tracepoint_arg_count("kfree_skb") >= 4;
    int reason = kernel.tracepoint_arg_count("kfree_skb") >= 3
                     ? kernel.enum_value("skb_drop_reason", "SKB_DROP_REASON_TCP_LISTEN_OVERFLOW")
                     : -1;
    skel->rodata->listen_overflow_reason = reason > 0 ? static_cast<uint32_t>(reason) : 0;
    // -p / --cgroup: applied to each socket's owner, captured in the kernel at connect()/listen().
    set_filter_rodata(skel->rodata, options_);
    // Preallocated, the per-socket map holds 10 MB of kernel memory from the start, in 4 KiB
    // vmalloc pages; allocated at run time, only the live sockets' entries, from kmalloc. That
    // was also 10-20 % less set_state time per connection on the churn benchmark, on a machine
    // whose PTI without PCID starts every syscall with a cold TLB. In a tracing program run-time
    // allocation is safe only with bpf_mem_alloc (6.1); older kernels keep the preallocated map.
    if (run_time_alloc)
      bpf_map__set_map_flags(skel->maps.sock_states, bpf_map__map_flags(skel->maps.sock_states) | BPF_F_NO_PREALLOC);
    uint32_t slots = port_slots_for(possible_cpus());
    skel->rodata->port_slot_count = slots;
    bpf_map__set_max_entries(skel->maps.port_stats, slots);
    missing_.clear();
    for (const auto &p : kProbes) {
      bool exists = kernel.tracepoint_arg_count(p.tracepoint) >= 0;
      // A tracepoint this kernel lacks would fail the whole object's load: leave it out alone.
      if (!exists) missing_.insert(p.name);
      bpf_program__set_autoload(p.btf(skel.get()), method == "tp_btf" && exists);
      bpf_program__set_autoload(p.raw(skel.get()), method == "raw_tp" && exists);
    }
    if (!skel->rodata->listen_overflow_reason) {
      missing_.insert("tcp_listen_drops");
      bpf_program__set_autoload(kProbes[3].btf(skel.get()), false);
      bpf_program__set_autoload(kProbes[3].raw(skel.get()), false);
    }
    if (int err = tcp_bpf__load(skel.get()); err) return runtime_error(fmt::format("load failed: {}", errno_text(err)));
    skel_ = std::move(skel);
    return {};
  }

  void attach_programs() {
    for (const auto &p : kProbes) {
      if (contains(options_.disabled_probes, p.name)) {
        probes_.push_back({p.name, "tcp", p.hook, method_, "skipped", "disabled by --no-probe"});
        continue;
      }
      if (missing_.count(p.name)) {
        probes_.push_back({p.name, "tcp", p.hook, method_, "failed",
                           std::string(p.name) == "tcp_listen_drops"
                               ? "this kernel's kfree_skb has no TCP_LISTEN_OVERFLOW drop reason"
                               : "tracepoint not in this kernel's BTF"});
        continue;
      }
      UniqueLink link(bpf_program__attach(program_of(p)));
      if (!link) {
        probes_.push_back({p.name, "tcp", p.hook, method_, "failed", fmt::format("attach failed: {}", errno_text(errno))});
        continue;
      }
      links_.push_back(std::move(link));
      any_link_ = true;
      probes_.push_back({p.name, "tcp", p.hook, method_, "attached", ""});
      if (std::string(p.name) == "tcp_state") state_attached_ = true;
      if (std::string(p.name) == "tcp_retransmit") retransmit_attached_ = true;
    }
  }

  // The socket snapshots need no BPF: they work (and are reported) even when no program loaded.
  void attach_snapshots() {
    const char *probe = "tcp_sockets";
    const char *hook = "NETLINK_SOCK_DIAG + /proc/net/netstat in every network namespace";
    if (contains(options_.disabled_probes, probe)) {
      probes_.push_back({probe, "tcp", hook, "sock_diag", "skipped", "disabled by --no-probe"});
      return;
    }
    auto namespaces = namespace_finder_.find(monotonic_ns());
    walks_.walked(monotonic_ns(), snapshot_namespaces(namespaces));
    std::string error;
    for (const auto &ns : namespaces) {
      if (!ns.error.empty() && error.empty()) error = fmt::format("netns {}: {}", ns.inode, ns.error);
      auto &agg = netns_[ns.inode];
      agg.name = ns.name;
      agg.pid = ns.pid;
      agg.counters.last = ns.counters;
    }
    bool self_ok = !namespaces.empty() && namespaces.front().error.empty();
    snapshots_ok_ = self_ok;
    one_request_ = self_ok && namespaces.front().one_request;
    probes_.push_back({probe, "tcp", hook, "sock_diag", self_ok ? "attached" : "failed", self_ok ? "" : error});
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
    bool counters_read = read_percpu(bpf_map__fd(skel_->maps.counters), 0, per_cpu);
    for (const auto &c : per_cpu) add_u64_fields(sum, c);
    if (counters_read && full_interval) {
      out.add_series(now_ns, "tcp", "rates",
                     {{"dt_s", dt_s},
                      {"transitions", deltas_(totals_.transitions, sum.transitions)},
                      {"retrans_segs", deltas_(totals_.retrans_segs, sum.retrans_segs)},
                      {"syn_retrans", deltas_(totals_.syn_retrans + totals_.synack_retrans, sum.syn_retrans + sum.synack_retrans)},
                      {"resets_sent", deltas_(totals_.resets_sent, sum.resets_sent)},
                      {"resets_received", deltas_(totals_.resets_received, sum.resets_received)}});
    }
    if (counters_read) totals_ = sum;
    recursion_misses_ = recursion_misses(program_fds());  // a transition missed, perhaps a CLOSE

    std::vector<tcp_hists> hists;
    if (read_percpu(bpf_map__fd(skel_->maps.hists), 0, hists)) {
      const std::pair<const char *, const char *> names[] = {
          {"connect_us", "us"}, {"lifetime_us", "us"}, {"rto_ms", "ms"}, {"srtt_us", "us"}};
      for (size_t k = 0; k < 4; k++) {
        Log2Histogram total;
        for (const auto &h : hists) total.merge(reinterpret_cast<const triage_log2_hist *>(&h)[k]);
        Log2Histogram delta = total.minus(last_hists_[k]);
        if (delta.count()) out.add_hist(now_ns, "tcp", names[k].first, delta.to_json(names[k].second));
        out.put_state("tcp", std::string("hist_") + names[k].first, total.to_json(names[k].second));
        last_hists_[k] = total;
      }
    }

    std::vector<tcp_transition_matrix> matrix;
    if (read_percpu(bpf_map__fd(skel_->maps.transitions), 0, matrix)) {
      json rows = json::array();
      for (int from = 0; from < TCP_ST_COUNT; from++)
        for (int to = 0; to < TCP_ST_COUNT; to++) {
          uint64_t n = 0;
          for (const auto &m : matrix) n += m.count[from * TCP_ST_COUNT + to];
          if (n) rows.push_back({{"from", state_name(from)}, {"to", state_name(to)}, {"count", n}});
        }
      out.put_state("tcp", "transitions", rows);
    }

    json ports = json::array();
    for (const auto &[k, s] : port_totals()) {
      uint64_t connects = s.established;
      ports.push_back({{"netns", k.netns},
                       {"port", k.port},
                       {"role", role_name(k.role)},
                       {"opens", s.opens},
                       {"established", s.established},
                       {"active_closes", s.active_closes},
                       {"passive_closes", s.passive_closes},
                       {"aborts", s.aborts},
                       {"connect_failures", s.connect_failures},
                       {"connect_avg_us", k.role == TCP_ROLE_CLIENT && connects ? s.connect_ns_sum / connects / 1000 : 0},
                       {"connect_max_us", s.connect_ns_max / 1000},
                       {"closed", s.lifetime_count},
                       {"lifetime_avg_ms", s.lifetime_count ? s.lifetime_ns_sum / s.lifetime_count / 1000000 : 0},
                       {"close_wait_entered", s.close_wait_entered},
                       {"close_wait_left", s.close_wait_left}});
    }
    out.put_state("tcp", "ports", ports);

    struct FlowRow {
      tcp_flow_key key;
      tcp_flow_stats stats;
    };
    std::vector<FlowRow> flows;
    for_each_entry<tcp_flow_key, tcp_flow_stats>(bpf_map__fd(skel_->maps.flow_stats),
                                                 [&](const tcp_flow_key &k, const tcp_flow_stats &s) { flows.push_back({k, s}); });
    std::sort(flows.begin(), flows.end(), [](const FlowRow &a, const FlowRow &b) { return a.stats.segs > b.stats.segs; });
    json flow_rows = json::array();
    for (size_t i = 0; i < flows.size() && i < kFlowsKept; i++) {
      const auto &[k, s] = flows[i];
      flow_rows.push_back({{"netns", k.netns},
                           {"saddr", addr_text(k.family, k.saddr)},
                           {"sport", k.sport},
                           {"daddr", addr_text(k.family, k.daddr)},
                           {"dport", k.dport},
                           {"count", s.segs},
                           {"syn_count", s.syn_segs},
                           {"state", state_name(static_cast<int>(s.state))},
                           {"max_backoff", s.max_backoff},
                           {"max_rto_ms", s.max_rto_ms},
                           {"srtt_us", s.last_srtt_us},
                           {"first_ns", s.first_ns},
                           {"last_ns", s.last_ns}});
    }
    out.put_state("tcp", "flows", flow_rows);
    out.put_state("tcp", "flow_count", flows.size());

    listen_drops_.clear();
    for_each_entry<tcp_listener_key, uint64_t>(bpf_map__fd(skel_->maps.listen_drops),
                                               [&](const tcp_listener_key &k, uint64_t n) { listen_drops_[{k.netns, k.port}] = n; });
  }

  // Each port's aggregate: its slots' per-CPU copies added up (the largest connect time kept).
  std::map<tcp_port_key, tcp_port_stats, PortKeyLess> port_totals() {
    std::map<tcp_port_key, tcp_port_stats, PortKeyLess> totals;
    std::vector<tcp_port_stats> per_cpu;
    for_each_entry<uint32_t, tcp_port_key>(bpf_map__fd(skel_->maps.slot_claims), [&](uint32_t slot, const tcp_port_key &k) {
      if (read_percpu(bpf_map__fd(skel_->maps.port_stats), slot, per_cpu)) add_port_copies(totals[k], per_cpu);
    });
    return totals;
  }

  // Owners of socket inodes, resolved once per inode.
  void resolve_owners(const std::vector<uint64_t> &inodes) {
    for (auto &[inode, owner] : find_socket_owners(inodes)) owners_[inode] = owner;
    for (uint64_t inode : inodes) owners_.try_emplace(inode);  // held by no process (orphaned): do not rescan
  }

  void report_close_wait(uint64_t now_ns, const std::vector<std::pair<FlowTuple, const DiagSocket *>> &sockets,
                         RecordingWriter &out) {
    // When the peer's FIN arrived, from the kernel's stamp of the last ACK the socket accepted (the
    // FIN carried one, to a jiffy; it holds for sockets that got there before the window too). An
    // ACK after the FIN (this side sent data since) moves that stamp later, and the socket was in
    // CLOSE_WAIT when first seen, so the earlier of the two is the entry time. Without tcp_info:
    // the first sighting.
    std::set<FlowTuple> close_wait_now;
    for (const auto &entry : sockets) close_wait_now.insert(entry.first);
    for (auto it = close_wait_first_seen_.begin(); it != close_wait_first_seen_.end();)
      it = close_wait_now.count(it->first) ? std::next(it) : close_wait_first_seen_.erase(it);
    for (const auto &key : close_wait_now) close_wait_first_seen_.try_emplace(key, now_ns);
    struct Aged {
      const FlowTuple *key;
      const DiagSocket *socket;
      uint64_t age_ns;
      bool exact;
    };
    std::vector<Aged> aged;
    aged.reserve(sockets.size());
    for (const auto &[key, s] : sockets) {
      bool exact = s->last_ack_recv_ms >= 0;
      uint64_t entered = close_wait_first_seen_[key];
      if (exact) {
        uint64_t ago_ns = static_cast<uint64_t>(s->last_ack_recv_ms) * 1000000;
        entered = std::min(entered, now_ns > ago_ns ? now_ns - ago_ns : 0);
      } else if (entered <= first_sample_ns_) {
        entered = window_start_ns_;  // seen in CLOSE_WAIT before the window: at least the window
      }
      aged.push_back({&key, s, now_ns > entered ? now_ns - entered : 0, exact});
    }
    // The oldest are the leaks: they are the ones kept.
    std::sort(aged.begin(), aged.end(), [](const Aged &a, const Aged &b) { return a.age_ns > b.age_ns; });
    if (aged.size() > kCloseWaitKept) aged.resize(kCloseWaitKept);
    std::vector<uint64_t> unknown;
    for (const auto &a : aged)
      if (a.socket->inode && !owners_.count(a.socket->inode) && (final_sample_ || a.age_ns >= kCloseWaitOwnerAfterNs))
        unknown.push_back(a.socket->inode);
    resolve_owners(unknown);
    json close_wait = json::array();
    for (const auto &a : aged) {
      auto owner = owners_.find(a.socket->inode);
      bool known_owner = owner != owners_.end();
      close_wait.push_back({{"pid", known_owner ? owner->second.pid : 0},
                            {"comm", known_owner ? owner->second.comm : ""},
                            {"laddr", a.socket->laddr},
                            {"lport", a.socket->lport},
                            {"raddr", a.socket->raddr},
                            {"rport", a.socket->rport},
                            {"age_ms", a.age_ns / 1000000},
                            {"age_exact", a.exact},
                            {"rqueue", a.socket->rqueue},
                            {"netns", std::get<0>(*a.key)}});
    }
    out.put_state("tcp", "close_wait", close_wait);
    out.put_state("tcp", "close_wait_count", sockets.size());
  }

  void sample_sockets(uint64_t now_ns, double dt_s, bool full_interval, RecordingWriter &out) {
    auto namespaces = namespace_finder_.find(now_ns);
    // Few TIME_WAIT sockets: listed every interval. Many (a TIME_WAIT storm, where listing 100k
    // of them cost ~17 ms of kernel time and held the hash's bucket locks against the very
    // connections being made): every kTimeWaitListPeriodNs and at the window's end, the count in
    // between from sockstat.
    bool walk = final_sample_ || walks_.due(now_ns);
    bool list_time_wait = walk && (final_sample_ || time_wait_seen_ < kTimeWaitListAlways ||
                                   now_ns - time_wait_listed_ns_ >= kTimeWaitListPeriodNs);
    uint64_t cpu_ns = snapshot_namespaces(namespaces, {walk, list_time_wait});
    if (walk) {
      walks_.walked(now_ns, cpu_ns);
      if (!namespaces.empty() && namespaces.front().error.empty()) one_request_ = namespaces.front().one_request;
    }

    std::vector<uint64_t> unknown;
    for (const auto &ns : namespaces)
      for (const auto &s : ns.sockets)
        if (s.state == TCP_ST_LISTEN && s.inode && !owners_.count(s.inode)) unknown.push_back(s.inode);
    resolve_owners(unknown);

    json ns_rows = json::array();
    uint64_t syn_recv_total = 0;
    std::vector<std::pair<FlowTuple, const DiagSocket *>> close_wait_sockets;
    for (auto &ns : namespaces) {
      if (!ns.error.empty() && ns.counters.empty()) continue;
      auto &agg = netns_[ns.inode];  // new here: born inside the window, its counters count from 0
      if (!ns.name.empty()) agg.name = ns.name;
      if (ns.pid) agg.pid = ns.pid;
      auto interval_delta = agg.counters.advance(ns.counters, deltas_);
      auto delta_of = [&](const char *key) {
        auto it = interval_delta.find(key);
        return it == interval_delta.end() ? uint64_t{0} : it->second;
      };
      json interval = json::object();
      for (const char *key : kNetstatKeys)
        if (uint64_t d = delta_of(key)) interval[key] = d;
      if (!interval.empty()) ns_rows.push_back({{"netns", ns.inode}, {"name", agg.name}, {"delta", interval}});

      std::map<std::pair<std::string, uint16_t>, uint32_t> syn_recv_by_port;
      for (const auto &s : ns.sockets)  // none unless walked
        if (s.state == TCP_ST_SYN_RECV || s.state == TCP_ST_NEW_SYN_RECV) {
          syn_recv_by_port[{s.laddr, s.lport}]++;
          syn_recv_total++;
        }
      // The listeners that could own this interval's counters: those listening now, and those that
      // were at the last snapshot and closed since (a server stopped right after its overflows).
      // SO_REUSEPORT sockets of one address and port are one row, and one candidate.
      struct Listening {
        const DiagSocket *socket;
        uint32_t queued = 0;  // summed over a reuseport group's sockets
        bool full = false;    // any of them
      };
      std::map<ListenerAgg *, Listening> listening;
      for (const auto &s : ns.sockets) {
        if (s.state != TCP_ST_LISTEN) continue;
        auto [it, fresh] = listening.try_emplace(&listeners_[{ns.inode, s.laddr, s.lport}], Listening{&s});
        it->second.queued += s.rqueue;
        // The kernel refuses a connection once the queue holds more than the backlog.
        it->second.full |= s.rqueue > s.wqueue || (s.wqueue > 0 && s.rqueue >= s.wqueue);
      }
      std::vector<ListenerAgg *> here;
      std::vector<ListenerSignal> signals;
      for (auto &[agg_of, now] : listening) {
        ListenerAgg &l = *agg_of;
        const DiagSocket &s = *now.socket;
        l.netns = ns.inode;
        l.addr = s.laddr;
        l.port = s.lport;
        l.inode = s.inode;
        l.backlog = now.queued;
        l.backlog_max = s.wqueue;
        l.backlog_peak = std::max(l.backlog_peak, now.queued);
        if (ns.connections_walked) {  // else the last walk's count stands
          uint32_t syn_recv = 0;
          for (const auto &[key, n] : syn_recv_by_port)
            if (key.second == s.lport && (key.first == s.laddr || s.laddr == "0.0.0.0" || s.laddr == "::"))
              syn_recv += n;
          l.syn_recv = syn_recv;
          l.syn_recv_peak = std::max(l.syn_recv_peak, syn_recv);
        }
        l.samples++;
        l.full_samples += now.full;
        l.fill.add(now.queued);
        ListenerSignal sig;
        sig.queue_full = now.full || l.was_full;
        sig.syn_recv = l.syn_recv;
        l.was_full = now.full;
        here.push_back(&l);
        signals.push_back(sig);
      }
      for (auto &[key, l] : listeners_)
        if (std::get<0>(key) == ns.inode && l.present && !listening.count(&l)) {
          ListenerSignal sig;
          sig.queue_full = l.was_full;
          sig.syn_recv = l.syn_recv;
          l.was_full = false;
          l.backlog = 0;  // closed: nothing queued any more
          here.push_back(&l);
          signals.push_back(sig);
        }
      for (size_t i = 0; i < here.size(); i++) {
        ListenerAgg &l = *here[i];
        uint64_t drops = listen_drops_.count({ns.inode, l.port}) ? listen_drops_.at({ns.inode, l.port}) : 0;
        signals[i].overflow_drops = deltas_(l.drops_seen_last, drops);
        signals[i].ever_full = l.full_samples > 0;
        l.overflow_drops_seen = drops;
        l.drops_seen_last = drops;
        l.present = listening.count(&l) > 0;
      }
      Attribution overflows = attribute_overflows(delta_of("ListenOverflows"), signals);
      agg.unattributed_overflows += overflows.unattributed;
      if (overflows.several_full) agg.overflows_several_full += overflows.unattributed;
      Attribution syn_drops = attribute_syn_queue(delta_of("TCPReqQFullDrop"), signals);
      agg.unattributed_syn_drops += syn_drops.unattributed;
      Attribution cookies = attribute_syn_queue(delta_of("SyncookiesSent"), signals);
      agg.unattributed_syncookies += cookies.unattributed;
      for (size_t i = 0; i < here.size(); i++) {
        here[i]->overflows += overflows.shares[i];
        here[i]->syn_drops += syn_drops.shares[i];
        here[i]->syncookies += cookies.shares[i];
      }

      for (const auto &s : ns.sockets)
        if (s.state == TCP_ST_CLOSE_WAIT)
          close_wait_sockets.push_back({FlowTuple{ns.inode, s.laddr, s.lport, s.raddr, s.rport}, &s});
    }

    if (walk) report_close_wait(now_ns, close_wait_sockets, out);

    bool listed = list_time_wait && std::all_of(namespaces.begin(), namespaces.end(), [](const NetnsSnapshot &ns) {
                    return ns.time_wait_listed || !ns.error.empty();
                  });
    json time_wait;
    if (listed) {
      time_wait = time_wait_summary(namespaces);
      time_wait_summary_ = time_wait;
      time_wait_listed_ns_ = now_ns;
    } else {
      // The last listing's split by port and side, with the count as it is now.
      uint64_t count = 0;
      for (const auto &ns : namespaces) count += ns.time_wait_count;
      if (time_wait_summary_.is_null()) time_wait_summary_ = time_wait_summary({});
      time_wait = time_wait_summary_;
      time_wait["count"] = count;
    }
    time_wait["listed_ns"] = time_wait_listed_ns_;
    time_wait_seen_ = time_wait.value("count", uint64_t{0});
    time_wait_peak_ = std::max(time_wait_peak_, time_wait_seen_);
    tw_server_seen_ = std::max(tw_server_seen_, time_wait.value("server", uint64_t{0}));
    tw_client_seen_ = std::max(tw_client_seen_, time_wait.value("client", uint64_t{0}));
    time_wait["peak"] = time_wait_peak_;
    // Who closed first over the whole window: TIME_WAIT lasts 60 s, so peaks stand for the window.
    time_wait["active_closer_window"] = active_closer(tw_server_seen_, tw_client_seen_);
    out.put_state("tcp", "time_wait", time_wait);

    if (full_interval) {
      uint64_t backlog_total = 0;
      for (const auto &[key, l] : listeners_) backlog_total += l.backlog;
      json row = {{"dt_s", dt_s}, {"time_wait", time_wait["count"]}, {"accept_backlog", backlog_total}};
      if (walk) {  // between walks these are unknown, not zero
        row["close_wait"] = close_wait_sockets.size();
        row["syn_recv"] = syn_recv_total;
      }
      out.add_series(now_ns, "tcp", "sockets", row);
      if (!ns_rows.empty()) out.add_series(now_ns, "tcp", "netstat", {{"dt_s", dt_s}, {"namespaces", ns_rows}});
    }

    json listeners = json::array();
    for (const auto &[key, l] : listeners_) {
      const auto &owner = owners_[l.inode];
      const auto &ns = netns_[l.netns];
      listeners.push_back({{"addr", l.addr},
                           {"port", l.port},
                           {"backlog_max", l.backlog_max},
                           {"backlog", l.backlog},
                           {"backlog_peak", l.backlog_peak},
                           {"syn_recv", l.syn_recv},
                           {"syn_recv_peak", l.syn_recv_peak},
                           {"samples", l.samples},
                           {"full_samples", l.full_samples},
                           {"fill", l.fill.to_json("sockets")},
                           {"overflows", l.overflows},
                           {"overflow_drops_seen", l.overflow_drops_seen},
                           {"syn_drops", l.syn_drops},
                           {"syncookies", l.syncookies},
                           {"pid", owner.pid},
                           {"comm", owner.comm},
                           {"netns", l.netns},
                           {"netns_name", ns.name}});
    }
    out.put_state("tcp", "listeners", listeners);

    json netstat = json::array();
    for (const auto &[inode, agg] : netns_) {
      json delta = json::object();
      for (const char *key : kNetstatKeys)
        if (auto it = agg.counters.window.find(key); it != agg.counters.window.end()) delta[key] = it->second;
      if (delta.empty() && !agg.unattributed_overflows && !agg.unattributed_syn_drops) continue;
      netstat.push_back({{"netns", inode},
                         {"name", agg.name},
                         {"pid", agg.pid},
                         {"delta", delta},
                         {"unattributed_overflows", agg.unattributed_overflows},
                         {"overflows_several_full", agg.overflows_several_full},
                         {"unattributed_syn_drops", agg.unattributed_syn_drops},
                         {"unattributed_syncookies", agg.unattributed_syncookies}});
    }
    out.put_state("tcp", "netstat", netstat);
    if (!first_sample_ns_) first_sample_ns_ = now_ns;
  }

  json counters_json() const {
    return {{"method", method_},
            {"hz", hz_},
            {"state_attached", state_attached_},
            {"retransmit_attached", retransmit_attached_},
            {"snapshots", snapshots_ok_},
            {"transitions", totals_.transitions},
            {"retrans_events", totals_.retrans_events},
            {"retrans_segs", totals_.retrans_segs},
            {"retrans_failed_segs", totals_.retrans_failed_segs},
            {"syn_retrans", totals_.syn_retrans},
            {"synack_retrans", totals_.synack_retrans},
            {"listen_overflow_drops", totals_.listen_overflow_drops},
            {"resets_sent", totals_.resets_sent},
            {"resets_received", totals_.resets_received},
            {"events_produced", totals_.events_produced},
            {"events_lost", totals_.events_lost},
            {"events_delivered", delivered_},
            {"sock_map_full", totals_.sock_map_full},
            {"port_map_full", totals_.port_map_full},
            {"flow_map_full", totals_.flow_map_full},
            {"recursion_misses", recursion_misses_},
            {"counter_resets", deltas_.resets()},
            {"connection_walks", walks_.walks()},
            {"connection_walk_cpu_ns", walks_.cpu_ns()},
            {"connection_walk_longest_gap_ns", walks_.longest_gap_seen_ns()},
            {"connection_walk_cpu_share", kWalkCpuShare},
            {"connection_walk_request", one_request_ ? "both families" : "per family"}};
  }

  RecordOptions options_;
  TcpSkeleton skel_;
  std::string method_;
  std::set<std::string> missing_;
  std::vector<UniqueLink> links_;
  UniqueRingBuffer ring_;
  std::vector<ProbeStatus> probes_;
  std::vector<tcp_reset_event> pending_;
  uint64_t delivered_ = 0;
  bool any_link_ = false;  // outlives stop_producers(), unlike links_
  bool state_attached_ = false, retransmit_attached_ = false, snapshots_ok_ = false;
  unsigned hz_ = 0;
  uint64_t window_start_ns_ = monotonic_ns();
  uint64_t last_sample_ns_ = 0, first_sample_ns_ = 0;
  tcp_cpu_counters totals_{};
  CounterDeltas deltas_;  // every delta of a kernel counter, so the report can say how often one went down
  std::array<Log2Histogram, 4> last_hists_{};
  std::map<std::pair<uint32_t, uint16_t>, uint64_t> listen_drops_;
  std::map<std::tuple<uint32_t, std::string, uint16_t>, ListenerAgg> listeners_;
  std::map<uint32_t, NetnsAgg> netns_;
  std::unordered_map<uint64_t, SocketOwner> owners_;
  std::map<FlowTuple, uint64_t> close_wait_first_seen_;
  uint64_t time_wait_peak_ = 0, tw_server_seen_ = 0, tw_client_seen_ = 0;
  uint64_t recursion_misses_ = 0;     // program runs the kernel skipped (bpf_prog_info, 5.12+)
  uint64_t time_wait_seen_ = 0;       // TIME_WAIT sockets at the last snapshot
  uint64_t time_wait_listed_ns_ = 0;  // when they were last listed one by one
  json time_wait_summary_;            // what that listing said
  NamespaceFinder namespace_finder_;
  WalkSchedule walks_{kWalkCpuShare, kWalkGapMaxNs};
  bool one_request_ = false;  // the kernel answered the one request for both families
  bool final_sample_ = false;
};

}  // namespace

std::unique_ptr<Family> make_tcp_family() { return std::make_unique<TcpFamily>(); }

}  // namespace triage::tcp
