// The sched family's loader and sampler: chooses the hook set by trying the kernel, attaches each
// program on its own, seeds the tasks already waiting, and every interval turns the in-kernel
// accumulators into the load series, histogram deltas and the per-process delta table.
#include "sched/sched_family.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "core/bpf_maps.h"
#include "core/bpf_raii.h"
#include "core/clock.h"
#include "core/histogram.h"
#include "core/bpf_object.h"
#include "core/log.h"
#include "record/event_batch.h"
#include "sched.skel.h"
#include "sched/sched_abi.h"
#include "sched/cpu_health.h"
#include "sched/kernel_symbols.h"
#include "sched/sched_cpu_time.h"
#include "sched/sched_load.h"
#include "sched/sched_processes.h"
#include "sched/sched_rows.h"

namespace triage::sched {
namespace {

using SchedObject = BpfObject<sched_bpf, sched_bpf__open, sched_bpf__load, sched_bpf__destroy>;

constexpr size_t kTopCpuDetailed = 10;  // per interval: the largest CPU users read from /proc
constexpr double kDetailedCpuShare = 0.05;  // ... that used at least this share of one CPU in it
constexpr size_t kThreadsPerProcess = 5;
// Distinct (process, stack) keys kept in the totals since attach; new ones past it are summed
// into one row (pid 0, stack_id 0) so that a week of watch cannot grow the sampler's memory.
constexpr size_t kMaxStackKeys = 4096;
constexpr const char *kStacksProbe = "sched_dstate_stacks";

}  // namespace

// tp_btf reads run-queue waits (and so the end of D waits) from the scheduler's own sched_info at
// switch-in, so it runs nothing at wakeups; raw_tp keeps the full wakeup state machine.
const ProbeSpec kSchedProbes[] = {
    {"sched_switch", "tracepoint sched:sched_switch", "sched_switch", "switch_btf", "switch_raw",
     "the whole sched section: run-queue latency, D-state waits and the load decomposition"},
    {"sched_process_free", "tracepoint sched:sched_process_free", "sched_process_free", "free_btf", "free_raw",
     "tasks that exit while waiting: their wait stays open and counted to the window's end"},
    {"sched_wakeup", "tracepoint sched:sched_wakeup", "sched_wakeup", nullptr, "wakeup_raw",
     "who woke a D-state task, and the end of D-state waits (they end at the next switch-in and include run-queue "
     "time)"},
    {"sched_wakeup_new", "tracepoint sched:sched_wakeup_new", "sched_wakeup_new", nullptr, "wakeup_new_raw",
     "run-queue latency of newly forked tasks before their first run"},
    {"sched_seed", "iter/task (tasks already waiting at start)", nullptr, "seed_btf", "seed_raw",
     "tasks already waiting when recording started (counted only from their next event)", true},
    {"sched_dstate_stacks", "iter/task (kernel stacks of tasks long in D, each interval)", nullptr, "stacks_btf",
     "stacks_raw", "the kernel stacks where tasks waited in D (dstate_stacks): only how long, not where"},
};

ProbeTable probe_table() { return kSchedProbes; }

namespace {

// Whether the scheduler keeps sched_info (CONFIG_SCHED_INFO; on kernels before 5.14 also
// schedstats or delay accounting turned on): then /proc/self/schedstat counts our own runs.
bool kernel_keeps_sched_info() {
  std::ifstream in("/proc/self/schedstat");
  unsigned long long run_ns = 0, run_delay_ns = 0, pcount = 0;
  return static_cast<bool>(in >> run_ns >> run_delay_ns >> pcount) && pcount > 0;
}

// The cgroup a process belongs to, as /proc/<pid>/cgroup names it: the v2 path when the process
// sits below the v2 root, else the cpu controller's v1 path.
std::string read_cgroup_path(uint32_t pid) {
  std::ifstream in(fmt::format("/proc/{}/cgroup", pid));
  std::string line, v2, cpu_v1;
  while (std::getline(in, line)) {
    auto first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (controllers.empty()) v2 = path;
    else if (controllers.find("cpu") != std::string::npos && controllers.find("cpuset") == std::string::npos)
      cpu_v1 = path;
  }
  if (!v2.empty() && v2 != "/") return v2;
  if (!cpu_v1.empty()) return cpu_v1;
  return v2;
}

std::string comm_of(const char (&comm)[16]) { return std::string(comm, strnlen(comm, sizeof comm)); }

class SchedFamily final : public Family {
 public:
  std::string name() const override { return "sched"; }

  void attach(const RecordOptions &options, const KernelFeatures &kernel) override {
    options_ = options;
    health_ = CpuHealthSampler(options.cgroup_path);
    // Without sched_switch there is no section: a set whose switch program will not attach is
    // refused, so that the next one is tried.
    // The stacks iterator is the one program a kernel may refuse on its own (bpf_get_task_stack in
    // an iterator, 5.9+): when the set does not load with it, it loads again without it, so that
    // only the stacks are missing and say why.
    bool loaded = bpf_.load_first(options, [&](const char *method) -> Result<void> {
      auto prepare_set = [&](sched_bpf &skel) { return prepare(skel, method, kernel); };
      Result<void> ready = bpf_.try_load(method, kernel, prepare_set);
      if (!ready && !contains(options.disabled_probes, kStacksProbe)) {
        std::string why = ready.error().message;
        bpf_.leave_out(kStacksProbe, fmt::format("the {} set did not load with it ({}); loaded without it", method, why));
        ready = bpf_.try_load(method, kernel, prepare_set);
        if (!ready) ready = runtime_error(why);  // the set's own failure: the first reason stands
      }
      return ready ? bpf_.attach_required({"sched_switch"}) : ready;
    });
    if (!loaded) return;
    attach_programs();
    if (!attached()) return;
    bpf_.attach("sched_seed");  // tasks already queued or in D when we attached
    bpf_.attach(kStacksProbe);  // run by sample(), once per interval
    last_stack_sample_ns_ = monotonic_ns();
    bpf_.open_ring("events", on_event, this, "outliers will be missing");
    health_.start(monotonic_ns());
    last_integrals_ = integrate_now(monotonic_ns());
    last_cpu_times_ = read_proc_stat_cpus();
    std::array<Log2Histogram, SCHED_WAIT_KINDS> none{};
    last_hists_ = none;
  }

  // switch_attached_ outlives stop_producers(): the final drain and sample still run.
  bool attached() const override { return switch_attached_; }
  std::vector<ProbeStatus> probes() const override { return bpf_.statuses(); }

  void drain(RecordingWriter &out) override {
    write_config(out);  // at the first drain, 100 ms in: a window killed before its first sample still has it
    if (bpf_.event_fd() < 0) return;
    events_.begin(out);
    bpf_.drain();
    events_.end();
  }

  int event_fd() const override { return bpf_.event_fd(); }

  void sample(uint64_t now_ns, RecordingWriter &out) override {
    if (!attached()) return;
    LoadIntegrals integrals = integrate_now(now_ns);
    std::vector<CpuTimes> cpu_times = read_proc_stat_cpus();
    LoadInterval load = load_between(last_integrals_, integrals, last_cpu_times_, cpu_times);
    double dt_s = static_cast<double>(integrals.t_ns - last_integrals_.t_ns) / 1e9;
    // A sliver of an interval joins no row (its waits are in the histograms).
    if (dt_s >= kMinSeriesIntervalS) {
      LoadRow row{dt_s, load.running, load.runnable, load.blocked, load.blocked_io, load.blocked_mem, load.blocked_other};
      out.add_series(now_ns, "sched", "load", row);
      out.add_series(now_ns, "sched", "cpus", CpusRow::of(dt_s, load.cpus));
    }
    last_integrals_ = std::move(integrals);
    last_cpu_times_ = std::move(cpu_times);
    health_.sample(now_ns, dt_s, out);

    write_config(out);
    sample_histograms(now_ns, out);
    sample_processes(now_ns, dt_s, out);
    sample_stacks(now_ns, out);
    SchedCounters counters;
    counters.switches = last_integrals_.switches;
    counters.wakeups = last_integrals_.wakeups;
    counters.events_produced = last_integrals_.events_produced;
    counters.events_lost = last_integrals_.events_lost;
    counters.events_delivered = events_.delivered() + events_.malformed();
    counters.task_state_missing = last_integrals_.task_state_missing;
    counters.proc_map_full = last_integrals_.proc_map_full;
    counters.stale_spans_closed = last_integrals_.stale_spans_closed;
    counters.exit_spans_closed = last_integrals_.exit_spans_closed;
    counters.runs_unattributed = last_integrals_.runs_unattributed;
    counters_table_.write(now_ns, {counters}, out);
  }

  LossCounters loss() const override {
    return {last_integrals_.events_produced,
            last_integrals_.events_lost,
            last_integrals_.task_state_missing + last_integrals_.proc_map_full,
            events_.delivered() + events_.malformed(),
            {{"task_state_missing", last_integrals_.task_state_missing}, {"proc_map_full", last_integrals_.proc_map_full}}};
  }

  std::vector<int> program_fds() const override { return bpf_.program_fds(); }

  void stop_producers() override {
    if (attached()) health_.finish();  // while the probes still run: the end as the window saw it
    bpf_.stop();
  }

  void detach() override {
    switch_attached_ = false;
    bpf_.close();
  }

 private:
  // The window's constants, once: their presence tells a report that sched was recorded.
  void write_config(RecordingWriter &out) {
    if (config_written_ || !bpf_.loaded()) return;
    out.set_meta(kConfigMeta, SchedConfig{bpf_.method(), options_.outlier_threshold_ns});
    config_written_ = true;
  }

  // The object's constants and map sizes for `method`; refuses the set where the kernel lacks
  // what it needs.
  Result<void> prepare(sched_bpf &skel, std::string_view method, const KernelFeatures &kernel) {
    const bool by_pid = method == "raw_tp";
    if (!by_pid && !KernelFeatures::map_type_supported(BPF_MAP_TYPE_TASK_STORAGE))
      return runtime_error("task storage maps are not supported (kernel < 5.11)");

    base_ns_ = monotonic_ns();
    {
      timespec boot{};
      ::clock_gettime(CLOCK_BOOTTIME, &boot);
      long ticks_per_s = ::sysconf(_SC_CLK_TCK);
      window_start_ticks_ = ticks_per_s > 0 ? (static_cast<uint64_t>(boot.tv_sec) * ticks_per_s +
                                               static_cast<uint64_t>(boot.tv_nsec) * ticks_per_s / 1'000'000'000)
                                            : 0;
    }
    skel.rodata->base_ns = base_ns_;
    skel.rodata->outlier_threshold_ns = options_.outlier_threshold_ns;
    // Stacks of the waits the timeline calls outliers: long enough to matter, rare enough to be cheap.
    skel.rodata->stack_min_wait_ns = options_.outlier_threshold_ns;
    set_filter_rodata(skel.rodata, options_);
    // 5.18 added prev_state to sched_switch; count the arguments rather than trust a version.
    skel.rodata->switch_has_prev_state = kernel.tracepoint_arg_count("sched_switch") >= 4;

    if (!by_pid && !kernel_keeps_sched_info())
      return runtime_error("the scheduler keeps no sched_info (/proc/self/schedstat counts no runs)");
    if (!by_pid && !kernel.has_struct_member("sched_entity", "cfs_rq"))
      return runtime_error("no path from a task to its run queue's clock (kernel without CONFIG_FAIR_GROUP_SCHED)");

    // One transfer entry per CPU that can own a span (see struct sched_span_transfer).
    int possible_cpus = libbpf_num_possible_cpus();
    if (possible_cpus <= 0) return runtime_error("cannot count the possible CPUs");
    bpf_map__set_max_entries(skel.maps.span_transfers, static_cast<uint32_t>(possible_cpus));
    bpf_map__set_max_entries(skel.maps.cpu_running, static_cast<uint32_t>(possible_cpus));
    // The unused set's per-task map is never created: task storage may not exist on this kernel.
    bpf_map__set_autocreate(by_pid ? skel.maps.task_states : skel.maps.task_states_by_pid, false);

    return {};
  }

  void attach_programs() {
    switch_attached_ = bpf_.is_attached("sched_switch");
    if (!bpf_.attach("sched_process_free") && switch_attached_)
      log_warning("sched: without sched_process_free, a task that exits unseen while waiting stays counted");
    // The tp_btf set has no wakeup programs (see kSchedProbes): attach() lists nothing for them there.
    bool wakeup = bpf_.attach("sched_wakeup");
    bpf_.attach("sched_wakeup_new");
    if (switch_attached_ && !wakeup && std::string_view(bpf_.method()) == "raw_tp")
      log_warning("sched: without sched_wakeup, D-state waits end at the next switch-in and include run-queue time");
  }

  static int on_event(void *ctx, void *data, size_t size) {
    auto *self = static_cast<SchedFamily *>(ctx);
    uint64_t end_ns = 0;
    if (size >= sizeof(sched_event)) std::memcpy(&end_ns, data, sizeof end_ns);
    self->events_.add(data, size, end_ns);
    return 0;
  }

  LoadIntegrals integrate_now(uint64_t now_ns) {
    std::vector<sched_cpu_acc> per_cpu;
    if (!read_percpu(bpf_map__fd(bpf_.skel()->maps.cpu_acc), 0, per_cpu)) per_cpu.clear();
    // After the per-CPU copies: a span that moves between the two reads shows as a sliver that
    // load_between() clamps, never as a whole task counted twice.
    std::vector<sched_span_transfer> transfers(per_cpu.size());
    for (uint32_t cpu = 0; cpu < transfers.size(); cpu++)
      if (bpf_map_lookup_elem(bpf_map__fd(bpf_.skel()->maps.span_transfers), &cpu, &transfers[cpu]) != 0) transfers[cpu] = {};
    add_span_transfers(per_cpu, transfers);
    return integrate(per_cpu, now_ns > base_ns_ ? now_ns - base_ns_ : 0);
  }

  void sample_histograms(uint64_t now_ns, RecordingWriter &out) {
    std::vector<sched_hists> per_cpu;
    if (!read_percpu(bpf_map__fd(bpf_.skel()->maps.hists), 0, per_cpu)) return;
    for (int kind = 0; kind < SCHED_WAIT_KINDS; kind++) {
      Log2Histogram total;
      for (const auto &h : per_cpu) total.merge(h.by_kind[kind]);
      Log2Histogram delta = total.minus(last_hists_[kind]);
      // The interval's waits: a slice merges its rows (no cumulative copy is kept).
      if (delta.count()) out.add_hist(now_ns, "sched", wait_kind_name(kind), compact_histogram(delta));
      last_hists_[kind] = total;
    }
  }

  std::vector<sched_cpu_running> read_cpu_running() {
    std::vector<sched_cpu_running> running(static_cast<size_t>(std::max(libbpf_num_possible_cpus(), 0)));
    for (uint32_t cpu = 0; cpu < running.size(); cpu++)
      if (bpf_map_lookup_elem(bpf_map__fd(bpf_.skel()->maps.cpu_running), &cpu, &running[cpu]) != 0) running[cpu] = {};
    return running;
  }

  // What /proc says of the processes that used the most CPU in this interval: a gauge per
  // process, so that a slice's top CPU rows show how each was scheduled and its busiest threads.
  // Only a process above kDetailedCpuShare of one CPU in the interval: an idle machine writes none.
  void sample_cpu_details(const std::vector<ProcessWaits> &rows, uint64_t now_ns, double dt_s, RecordingWriter &out) {
    auto exec_at_start = [&](uint32_t tid) -> std::optional<uint64_t> {
      uint64_t exec = 0;
      if (bpf_map_lookup_elem(bpf_map__fd(bpf_.skel()->maps.thread_exec_at_start), &tid, &exec) != 0) return std::nullopt;
      return exec;
    };
    // Per interval: the processes that used the most CPU since the last sample.
    std::vector<std::pair<uint64_t, uint32_t>> deltas;
    std::unordered_map<uint32_t, uint64_t> now_totals;
    for (const auto &r : rows) {
      now_totals[r.tgid] = r.stats.oncpu_ns;
      auto before = last_cpu_totals_.find(r.tgid);
      uint64_t was = before == last_cpu_totals_.end() ? 0 : before->second;
      if (r.stats.oncpu_ns > was) deltas.push_back({r.stats.oncpu_ns - was, r.tgid});
    }
    std::sort(deltas.begin(), deltas.end(), std::greater<>());
    last_cpu_totals_ = std::move(now_totals);

    const auto min_ns = static_cast<uint64_t>(dt_s * 1e9 * kDetailedCpuShare);
    for (size_t i = 0; i < deltas.size() && i < kTopCpuDetailed && deltas[i].first >= min_ns; i++) {
      uint32_t tgid = deltas[i].second;
      auto attrs = scheduling_attributes("/proc", tgid);
      if (!attrs) continue;  // gone: the last reading stays the process's
      CpuDetails details{attrs->policy, attrs->nice, attrs->cpus_allowed, {}};
      for (const auto &t : busiest_threads("/proc", tgid, window_start_ticks_, exec_at_start, kThreadsPerProcess))
        details.threads.push_back({t.tid, t.comm, t.cpu_ns});
      out.add_gauge(now_ns, "sched", cpu_details_gauge(tgid), details);
    }
  }

  // The name and cgroup the BPF side saw are from the process's first event, often before an
  // exec or a rename; while the process lives, /proc has the current ones. The row keeps both,
  // and when /proc showed its name, so that the report can name the process by its last one.
  void label(ProcessRow &row, const sched_proc_stats &s, uint64_t now_ns, bool read_proc) {
    ProcessIdentity &id = identities_[row.pid];
    if (read_proc) {
      std::ifstream comm_file(fmt::format("/proc/{}/comm", row.pid));
      std::string comm;
      if (std::getline(comm_file, comm)) {
        // Stamped when /proc first shows this name: a label, stored again only when it changes.
        if (comm != id.comm || !id.comm_seen_ns) id.comm_seen_ns = now_ns;
        id.comm = comm;
        id.cgroup = read_cgroup_path(row.pid);
      }
    }
    std::string bpf_comm = comm_of(s.comm);
    if (id.comm.empty()) id.comm = bpf_comm;
    row.comm = id.comm;
    row.cgroup = id.cgroup;
    row.comm_seen_ns = id.comm_seen_ns;
    // Not a rename when /proc shows more of the same name (a kernel thread's whole name, a
    // kworker's workqueue): BPF reads the task's 15 bytes.
    row.prev_comm = !bpf_comm.empty() && !id.comm.starts_with(bpf_comm) ? bpf_comm : "";
  }

  // Every process's totals since attach into the per-process delta table: the recording keeps
  // what changed in each interval, the report ranks a slice's sums into top_runq, top_dstate and
  // top_cpu.
  void sample_processes(uint64_t now_ns, double dt_s, RecordingWriter &out) {
    std::vector<ProcessWaits> waits;
    for_each_entry<uint32_t, sched_proc_stats>(bpf_map__fd(bpf_.skel()->maps.proc_stats),
                                               [&](uint32_t tgid, const sched_proc_stats &s) { waits.push_back({tgid, s}); });
    // After proc_stats (see struct sched_proc_cache): a write-back between the reads shows late, not twice.
    if (read_percpu(bpf_map__fd(bpf_.skel()->maps.proc_cache), 0, proc_caches_)) add_cached_processes(waits, proc_caches_);
    add_running_cpu_time(waits, read_cpu_running(), "/proc");

    std::vector<ProcessRow> totals;
    totals.reserve(waits.size());
    for (const auto &w : waits) totals.push_back(process_row(w.tgid, w.stats));
    // /proc is read only for the processes the interval's delta row keeps whole (the largest
    // that changed): a row summed into 'other' loses its labels anyway.
    std::vector<std::pair<uint64_t, size_t>> changed;
    std::unordered_map<uint32_t, uint64_t> ranks;
    for (size_t i = 0; i < totals.size(); i++) {
      uint64_t rank = totals[i].rank();
      ranks[totals[i].pid] = rank;
      auto before = last_ranks_.find(totals[i].pid);
      uint64_t was = before == last_ranks_.end() ? 0 : before->second;
      if (rank > was || before == last_ranks_.end()) changed.push_back({rank > was ? rank - was : 0, i});
    }
    last_ranks_ = std::move(ranks);
    std::sort(changed.begin(), changed.end(), std::greater<>());
    std::vector<bool> read_proc(totals.size());
    for (size_t i = 0; i < changed.size() && i < kRowsPerInterval; i++) read_proc[changed[i].second] = true;
    for (size_t i = 0; i < totals.size(); i++) label(totals[i], waits[i].stats, now_ns, read_proc[i]);
    processes_table_.write(now_ns, totals, out);
    sample_cpu_details(waits, now_ns, dt_s, out);
  }

  // The kernel stacks of tasks in D at least the threshold now: the iterator walks every task once,
  // and writes a record for those only (bpf/sched/sched_stacks.bpf.h).
  Result<std::vector<sched_stack_sample>> read_stack_samples() const {
    Result<UniqueFd> iter = bpf_.open_iterator(kStacksProbe);
    if (!iter) return iter.error();
    std::string bytes;
    char buf[16384];
    ssize_t n;
    while ((n = ::read(iter->get(), buf, sizeof buf)) > 0) bytes.append(buf, static_cast<size_t>(n));
    if (n < 0) return runtime_error(fmt::format("reading the stacks iterator: {}", errno_text(errno)));
    std::vector<sched_stack_sample> samples(bytes.size() / sizeof(sched_stack_sample));
    // An interval with no task long in D reads nothing: memcpy must not see the empty vector's null.
    if (!samples.empty()) std::memcpy(samples.data(), bytes.data(), samples.size() * sizeof(sched_stack_sample));
    return samples;
  }

  void sample_stacks(uint64_t now_ns, RecordingWriter &out) {
    if (!bpf_.is_attached(kStacksProbe)) return;
    const uint64_t since_last = now_ns > last_stack_sample_ns_ ? now_ns - last_stack_sample_ns_ : 0;
    last_stack_sample_ns_ = now_ns;
    const uint64_t started = monotonic_ns();
    auto samples = read_stack_samples();
    if (!samples) {
      if (!stack_error_logged_) log_warning("sched: no D-state stacks this interval: {}", samples.error().message);
      stack_error_logged_ = true;
      return;
    }
    if (!samples->empty() && !symbols_) {
      symbols_ = KernelSymbols::load();
      if (!symbols_->usable()) log_warning("sched: /proc/kallsyms names no address: D-state stacks stay unsymbolized");
    }
    for (const auto &sample : *samples) {
      std::string stack;
      for (uint32_t i = 0; i < sample.nr_frames && i < SCHED_STACK_DEPTH; i++)
        stack += (i ? ";" : "") + symbols_->name_of(sample.ips[i]);
      DStateStackRow key_row;
      key_row.pid = sample.tgid;
      key_row.stack_id = DStateStackRow::stack_id_of(stack);
      auto it = stack_totals_.find(key_row.key());
      if (it == stack_totals_.end()) {
        if (stack_totals_.size() >= kMaxStackKeys) key_row = DStateStackRow{};  // the bound's row
        else {
          key_row.stack = std::move(stack);
          key_row.comm = comm_of(sample.comm);
        }
        it = stack_totals_.try_emplace(key_row.key(), key_row).first;
      }
      DStateStackRow &total = it->second;
      total.samples++;
      total.wait_ns += std::min<uint64_t>(sample.wait_ns, since_last);
      total.max_wait_ns = std::max<uint64_t>(total.max_wait_ns, sample.wait_ns);
    }
    std::vector<DStateStackRow> totals;
    totals.reserve(stack_totals_.size());
    for (const auto &[key, row] : stack_totals_) totals.push_back(row);
    stacks_table_.write(now_ns, totals, out);
    log_debug("sched: D-state stacks: {} in {} us", samples->size(), (monotonic_ns() - started) / 1000);
  }

  static ProcessRow process_row(uint32_t tgid, const sched_proc_stats &s) {
    ProcessRow row;
    row.pid = tgid;
    row.runq_total_ns = s.total_ns[SCHED_WAIT_RUNQ];
    row.runq_count = s.count[SCHED_WAIT_RUNQ];
    row.runq_max_ns = s.max_ns[SCHED_WAIT_RUNQ];
    row.d_io_total_ns = s.total_ns[SCHED_WAIT_D_IO];
    row.d_io_count = s.count[SCHED_WAIT_D_IO];
    row.d_io_max_ns = s.max_ns[SCHED_WAIT_D_IO];
    row.d_mem_total_ns = s.total_ns[SCHED_WAIT_D_MEM];
    row.d_mem_count = s.count[SCHED_WAIT_D_MEM];
    row.d_mem_max_ns = s.max_ns[SCHED_WAIT_D_MEM];
    row.d_other_total_ns = s.total_ns[SCHED_WAIT_D_OTHER];
    row.d_other_count = s.count[SCHED_WAIT_D_OTHER];
    row.d_other_max_ns = s.max_ns[SCHED_WAIT_D_OTHER];
    row.oncpu_ns = s.oncpu_ns;
    return row;
  }

  RecordOptions options_;
  SchedObject bpf_{"sched", kSchedProbes};
  CpuHealthSampler health_;
  bool switch_attached_ = false;
  uint64_t base_ns_ = 0;
  LoadIntegrals last_integrals_;
  std::vector<CpuTimes> last_cpu_times_;
  std::array<Log2Histogram, SCHED_WAIT_KINDS> last_hists_{};
  std::vector<sched_proc_cache> proc_caches_;  // one per CPU, kept between samples (7.5 KiB each)
  EventBatch events_{"sched", kSchedEventLayout, sizeof(sched_event)};
  struct ProcessIdentity {
    std::string comm, cgroup;
    uint64_t comm_seen_ns = 0;  // the sample at which /proc first showed `comm`; 0: never (BPF's name)
  };
  std::unordered_map<uint32_t, ProcessIdentity> identities_;
  std::unordered_map<uint32_t, uint64_t> last_ranks_;       // ProcessRow::rank() per process at the last sample
  bool config_written_ = false;
  DeltaTable<SchedCounters> counters_table_{"sched", kCountersTable};
  DeltaTable<ProcessRow> processes_table_{"sched", kProcessesTable};
  DeltaTable<DStateStackRow> stacks_table_{"sched", kDStateStacksTable};
  std::map<std::pair<uint32_t, uint64_t>, DStateStackRow> stack_totals_;  // since attach, bounded by kMaxStackKeys
  std::optional<KernelSymbols> symbols_;  // /proc/kallsyms, read at the first stack
  uint64_t last_stack_sample_ns_ = 0;
  bool stack_error_logged_ = false;
  std::unordered_map<uint32_t, uint64_t> last_cpu_totals_;  // CPU time per process at the last sample
  uint64_t window_start_ticks_ = 0;                         // CLOCK_BOOTTIME at attach, in clock ticks
};

}  // namespace

std::unique_ptr<Family> make_sched_family() { return std::make_unique<SchedFamily>(); }

}  // namespace triage::sched
