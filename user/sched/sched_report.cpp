#include "sched/sched_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>

#include "core/histogram.h"
#include "record/event_batch.h"
#include "sched/kernel_symbols.h"
#include "sched/sched_abi.h"
#include "sched/sched_rows.h"
#include "report/finding_span.h"
#include "report/outliers.h"
#include "report/process_names.h"
#include "report/text_util.h"
#include "report/top_table.h"

namespace triage::sched {
namespace {

// A run queue longer than the CPUs can serve: on average more tasks wait than there are CPUs.
constexpr double kSaturatedRunnablePerCpu = 1.0;
// Waiting tasks at half the CPU count with a p99 wait above two scheduler periods (~2 x 12 ms on
// a small box) already shows as latency to users.
constexpr double kBusyRunnablePerCpu = 0.5;
constexpr double kSlowRunqP99Us = 25'000;
// D-state tasks that are a real share of the load: at least one task on average.
constexpr double kBlockedTasksWarning = 1.0;
// One CPU at least this busy while another is at least this much less busy, with tasks waiting:
// the work is pinned or not spread (affinity, a single-threaded bottleneck, IRQ affinity).
constexpr double kImbalanceBusyPct = 90.0;
constexpr double kImbalanceGapPct = 50.0;
constexpr size_t kOutliersKept = 200;
// A burst inside a longer window counts when it lasts at least this many intervals: averaging a
// 3 s incident into a 30 s recording must not hide it, and one noisy interval must not alarm.
constexpr size_t kSustainedIntervals = 2;
constexpr size_t kTopProcesses = 50;   // rows per top list in the JSON
constexpr size_t kTopCpuDetailed = 10;  // top CPU rows with what /proc said of them
constexpr size_t kTopStacks = 20;       // D-state stacks in the JSON

// A fixed-size kernel name (comm) that may lack its terminating NUL.
template <size_t N>
std::string fixed_string(const char (&text)[N]) {
  return std::string(text, strnlen(text, N));
}

double window_average(const std::vector<LoadRow> &load, double LoadRow::*measure) {
  double weighted = 0, span = 0;
  for (const auto &row : load) {
    weighted += row.*measure * row.dt_s;
    span += row.dt_s;
  }
  return span > 0 ? weighted / span : 0;
}

// The slice's waits of one kind: its intervals' rows merged.
Log2Histogram merged_hist(const RecordingReader &r, const char *kind) {
  Log2Histogram total;
  r.for_each_hist("sched", kind, [&](uint64_t, const json &h) { total.merge(Log2Histogram::from_json(h)); });
  return total;
}

// One "cpus" series row, stored by column since schema 4 and as a list of CpuIntervals before.
CpusRow cpus_row(const json &d) {
  CpusRow row = d.get<CpusRow>();
  if (d.contains("cpus")) row = CpusRow::of(row.dt_s, d["cpus"].get<std::vector<CpuInterval>>());
  return row;
}

// A process row's name, cgroup and when /proc showed the name, as every top list has them.
json identity_json(const ProcessRow &p, const std::function<double(uint64_t)> &seconds_since_start) {
  json row = {{"pid", p.pid}, {"comm", p.comm}, {"cgroup", p.cgroup}};
  if (!p.prev_comm.empty()) row["prev_comm"] = p.prev_comm;
  // When /proc showed the name: the report names each process by its newest (process_names.h).
  if (p.comm_seen_ns) row["comm_t"] = seconds_since_start(p.comm_seen_ns);
  return row;
}

// The slice's processes that had any (`has`: a wait of 0 ns is still a wait) ranked by `measure`,
// largest first (at most kTopProcesses), and how many there were: the rows kept whole, plus what
// the intervals summed into 'other' (at least).
std::vector<const ProcessRow *> ranked(const SlicedTable<ProcessRow> &table, uint64_t (*measure)(const ProcessRow &),
                                       bool (*has)(const ProcessRow &), uint64_t &total) {
  std::vector<const ProcessRow *> rows;
  for (const auto &p : table.rows)
    if (has(p)) rows.push_back(&p);
  total = rows.size() + (table.other && has(*table.other) ? table.other_keys : 0);
  rank_top(rows, [&](const ProcessRow *p) { return measure(*p); }, [](const ProcessRow *p) { return p->pid; },
           kTopProcesses);
  return rows;
}

}  // namespace

json build_section(const RecordingReader &r, uint64_t start_mono) {
  auto config_json = r.meta(kConfigMeta);
  if (!config_json) return nullptr;
  const auto config = config_json->get<SchedConfig>();
  const auto counters = read_counters<SchedCounters>(r, "sched", kCountersTable);
  json s;
  s["method"] = config.method;
  s["runq_latency"] = merged_hist(r, wait_kind_name(SCHED_WAIT_RUNQ)).to_json("us");

  Log2Histogram dstate;
  json by_kind = json::object();
  for (__u32 kind : {SCHED_WAIT_D_IO, SCHED_WAIT_D_MEM, SCHED_WAIT_D_OTHER}) {
    Log2Histogram h = merged_hist(r, wait_kind_name(kind));
    dstate.merge(h);
    by_kind[wait_kind_name(kind) + 2] = h.to_json("us");  // "d_io" -> "io", "mem", "other"
  }
  s["dstate_time"] = dstate.to_json("us");
  s["dstate_by_kind"] = by_kind;

  auto seconds_since_start = [&](uint64_t t_ns) {
    return t_ns > start_mono ? static_cast<double>(t_ns - start_mono) / 1e9 : 0.0;
  };
  std::vector<LoadRow> load_rows;
  json load = json::array();
  r.for_each_series("sched", "load", [&](uint64_t t, const json &d) {
    json row = load_rows.emplace_back(d.get<LoadRow>());
    row["t"] = seconds_since_start(t);
    load.push_back(row);
  });
  s["load"] = load;
  s["load_avg"] = {{"running", window_average(load_rows, &LoadRow::running)},
                   {"runnable", window_average(load_rows, &LoadRow::runnable)},
                   {"blocked", window_average(load_rows, &LoadRow::blocked)},
                   {"blocked_io", window_average(load_rows, &LoadRow::blocked_io)},
                   {"blocked_mem", window_average(load_rows, &LoadRow::blocked_mem)},
                   {"blocked_other", window_average(load_rows, &LoadRow::blocked_other)}};

  // Per-CPU window averages, plus each CPU's busy series for the timeline.
  struct CpuWeighted {
    double busy = 0, runnable = 0, blocked = 0, steal = 0, irq = 0;
  };
  std::vector<CpuWeighted> weighted;
  double span = 0;
  json busy_series = json::array();
  r.for_each_series("sched", "cpus", [&](uint64_t t, const json &d) {
    const CpusRow stored = cpus_row(d);
    const double dt = stored.dt_s;
    span += dt;
    json row = {{"t", seconds_since_start(t)}, {"busy_pct", json::array()}, {"runnable", json::array()},
                {"blocked", json::array()},    {"steal_pct", json::array()}, {"irq_pct", json::array()}};
    for (const CpuInterval &c : stored.cpus()) {
      // A damaged row's CPU number must not size the vectors (cpu 4e9 would ask for 32 GB).
      if (c.cpu < 0 || c.cpu >= kMaxRecordedCpus) throw std::out_of_range(fmt::format("cpu {} in the per-CPU series", c.cpu));
      const auto cpu = static_cast<size_t>(c.cpu);
      if (cpu >= weighted.size()) weighted.resize(cpu + 1);
      weighted[cpu].busy += c.busy_pct * dt;
      weighted[cpu].runnable += c.runnable * dt;
      weighted[cpu].blocked += c.blocked * dt;
      weighted[cpu].steal += c.steal_pct * dt;
      weighted[cpu].irq += c.irq_pct * dt;
      row["busy_pct"].push_back(c.busy_pct);
      row["runnable"].push_back(c.runnable);
      row["blocked"].push_back(c.blocked);
      row["steal_pct"].push_back(c.steal_pct);
      row["irq_pct"].push_back(c.irq_pct);
    }
    busy_series.push_back(row);
  });
  json cpus = json::array();
  auto average = [&](double weighted_sum) { return span > 0 ? weighted_sum / span : 0.0; };
  for (size_t cpu = 0; cpu < weighted.size(); cpu++)
    cpus.push_back({{"cpu", cpu},
                    {"busy_pct", average(weighted[cpu].busy)},
                    {"runnable", average(weighted[cpu].runnable)},
                    {"blocked", average(weighted[cpu].blocked)},
                    {"steal_pct", average(weighted[cpu].steal)},
                    {"irq_pct", average(weighted[cpu].irq)}});
  s["cpus"] = cpus;
  s["cpu_busy_series"] = busy_series;

  // CPU time per process: the slice's sums, each also as a share of one CPU over the slice (top's
  // %CPU: 100 = one CPU busy the whole time), and per interval. The largest carry what /proc said
  // of them at its last reading at or before the slice's end.
  // Per interval, from the same rows (one pass): the processes that used the most CPU in it.
  json cpu_series = json::array();
  const auto processes =
      read_table<ProcessRow>(r, "sched", kProcessesTable, [&](uint64_t t, const IntervalRows<ProcessRow> &interval) {
        std::vector<std::pair<uint64_t, uint32_t>> used;
        for (const auto &row : interval.rows)
          if (row.oncpu_ns) used.emplace_back(row.oncpu_ns, row.pid);
        if (used.empty()) return;
        std::sort(used.begin(), used.end(), std::greater<>());
        json rows = json::array();
        for (size_t i = 0; i < used.size() && i < kTopCpuDetailed; i++)
          rows.push_back({{"pid", used[i].second}, {"cpu_ns", used[i].first}});
        cpu_series.push_back({{"t", seconds_since_start(t)}, {"rows", std::move(rows)}});
      });
  uint64_t cpu_total = 0;
  json top_cpu = json::array();
  for (const ProcessRow *p : ranked(
           processes, [](const ProcessRow &p) { return p.oncpu_ns; }, [](const ProcessRow &p) { return p.oncpu_ns > 0; },
           cpu_total)) {
    json row = identity_json(*p, seconds_since_start);
    row["cpu_ns"] = p->oncpu_ns;
    row["cpu_pct"] = span > 0 ? static_cast<double>(p->oncpu_ns) / (span * 1e7) : 0.0;
    if (top_cpu.size() < kTopCpuDetailed) {
      if (auto details = r.last_gauge("sched", cpu_details_gauge(p->pid))) {
        const auto d = details->second.get<CpuDetails>();
        row["policy"] = d.policy;
        row["nice"] = d.nice;
        row["cpus_allowed"] = d.cpus_allowed;
        row["threads"] = d.threads;
      }
    }
    top_cpu.push_back(std::move(row));
  }
  s["top_cpu_total"] = cpu_total;
  s["top_cpu"] = top_cpu;
  s["top_cpu_series"] = cpu_series;

  // Waits per process, summed over the slice; `<list>_total` says how many processes had such
  // waits (the lists keep the largest 50).
  uint64_t runq_total = 0, dstate_total = 0;
  json top_runq = json::array();
  for (const ProcessRow *p : ranked(
           processes, [](const ProcessRow &p) { return p.runq_total_ns; },
           [](const ProcessRow &p) { return p.runq_count > 0 || p.runq_total_ns > 0; }, runq_total)) {
    json row = identity_json(*p, seconds_since_start);
    row.update({{"total_ns", p->runq_total_ns}, {"count", p->runq_count}, {"max_ns", p->runq_max_ns}});
    top_runq.push_back(std::move(row));
  }
  json top_dstate = json::array();
  for (const ProcessRow *p : ranked(
           processes, [](const ProcessRow &p) { return p.d_total_ns(); },
           [](const ProcessRow &p) { return p.d_count() > 0 || p.d_total_ns() > 0; }, dstate_total)) {
    json row = identity_json(*p, seconds_since_start);
    row.update({{"total_ns", p->d_total_ns()},
                {"count", p->d_count()},
                {"max_ns", p->d_max_ns()},
                {"io_ns", p->d_io_total_ns},
                {"mem_ns", p->d_mem_total_ns},
                {"other_ns", p->d_other_total_ns}});
    top_dstate.push_back(std::move(row));
  }
  s["top_runq_total"] = runq_total;
  s["top_runq"] = std::move(top_runq);
  s["top_dstate_total"] = dstate_total;
  s["top_dstate"] = std::move(top_dstate);

  // Where tasks waited in D: the slice's (process, kernel stack) rows, most D time first. The row
  // of keys past the sampler's bound (pid 0) and the intervals' 'other' rows count only in the sums.
  const auto stacks = read_table<DStateStackRow>(r, "sched", kDStateStacksTable);
  json dstate_stacks = json::array();
  uint64_t listed_samples = 0, listed_wait = 0, all_samples = 0, all_wait = 0;
  for (const auto &row : stacks.rows) {
    all_samples += row.samples;
    all_wait += row.wait_ns;
    if (dstate_stacks.size() == kTopStacks || row.key() == DStateStackRow{}.key()) continue;
    listed_samples += row.samples;
    listed_wait += row.wait_ns;
    dstate_stacks.push_back({{"pid", row.pid},
                             {"comm", row.comm},
                             {"samples", row.samples},
                             {"wait_ns", row.wait_ns},
                             {"max_wait_ns", row.max_wait_ns},
                             {"frames", row.frames()}});
  }
  if (stacks.other) all_samples += stacks.other->samples, all_wait += stacks.other->wait_ns;
  s["dstate_stacks_total"] = stacks.key_count();
  s["dstate_stacks"] = std::move(dstate_stacks);
  s["dstate_stacks_other"] = {{"samples", all_samples - listed_samples}, {"wait_ns", all_wait - listed_wait}};

  // The run-queue latency heatmap: one row per interval, counts per log2 bucket.
  json heatmap = json::array();
  r.for_each_hist("sched", wait_kind_name(SCHED_WAIT_RUNQ), [&](uint64_t t, const json &h) {
    const Log2Histogram interval = Log2Histogram::from_json(h);
    json buckets = json::array();  // the non-empty ones
    for (int slot = 0; slot < Log2Histogram::kSlots; slot++)
      if (interval.slot_count(slot))
        buckets.push_back({{"le", Log2Histogram::upper_bound(slot)}, {"count", interval.slot_count(slot)}});
    heatmap.push_back({{"t", seconds_since_start(t)},
                       {"buckets", std::move(buckets)},
                       {"p99_us", round_hundredth(interval.percentile(0.99))}});
  });
  s["runq_heatmap"] = heatmap;

  // Outliers: the worst kOutliersKept waits by duration, chosen while the raw records stream
  // past, so a storm of millions of records costs JSON only for the rows shown.
  WorstRows outliers(kOutliersKept);
  size_t outlier_count = 0;
  OutlierSpan outlier_span;
  for_each_record<sched_event>(r, "sched", kSchedEventLayout, [&](const sched_event &e) {
    if (!r.in_slice(e.end_ns)) return;  // a block that overlaps the slice holds records outside it
    outlier_count++;
    outlier_span.add(seconds_since_start(e.end_ns));
    outliers.offer(e.duration_ns, [&] {
      return json{{"t", seconds_since_start(e.end_ns)},
                  {"kind", wait_kind_name(e.kind)},
                  {"pid", e.pid},
                  {"tgid", e.tgid},
                  {"comm", fixed_string(e.comm)},
                  {"cpu", e.cpu},
                  {"duration_ns", e.duration_ns},
                  {"waker_pid", e.waker_pid},
                  {"waker_comm", fixed_string(e.waker_comm)}};
    });
  });
  // Recordings of schema 1 stored each outlier as a JSON row.
  r.for_each_event("sched", "", [&](uint64_t t, const std::string &kind, const json &d) {
    outlier_count++;
    outlier_span.add(seconds_since_start(t));
    outliers.offer(d.value("duration_ns", 0ULL), [&] {
      json row = d;
      row["t"] = seconds_since_start(t);
      row["kind"] = kind;
      return row;
    });
  });
  s["outliers"] = outliers.take();
  s["outlier_count"] = outlier_count;
  s["outliers_total"] = outlier_count;
  outlier_span.put(s);
  s["outlier_threshold_ns"] = config.outlier_threshold_ns;
  s["lost_events"] = counters.events_lost;
  s["events_produced"] = counters.events_produced;
  s["untracked_tasks"] = counters.task_state_missing;
  s["dropped_processes"] = counters.proc_map_full;
  s["switches"] = counters.switches;
  s["wakeups"] = counters.wakeups;
  // Spans of the per-task state machine closed late because their closing event was never seen
  // (see struct sched_cpu_acc): how much the load split had to heal itself.
  uint64_t stale = counters.stale_spans_closed, at_exit = counters.exit_spans_closed;
  s["repaired_spans"] = {{"total", stale + at_exit}, {"stale", stale}, {"at_exit", at_exit}};
  add_cpu_health(r, start_mono, s);
  return s;
}

namespace {

constexpr size_t kOutliersShown = 15;
constexpr size_t kStacksShown = 5;
constexpr size_t kFramesShown = 8;

}  // namespace

// The top D-state stacks as indented frames, innermost first (the scheduler's own frames left out).
void render_dstate_stacks_text(const json &s, std::string &out) {
  const json &stacks = s.value("dstate_stacks", json::array());
  out += fmt::format("\nWhere tasks in D waited (kernel stacks of waits past {}, sampled each interval): {} of {}\n",
                     format_duration_ns(s.value("outlier_threshold_ns", 0ULL)), std::min(stacks.size(), kStacksShown),
                     s.value("dstate_stacks_total", 0ULL));
  if (stacks.empty()) {
    out += "  none sampled: no task was in D past the threshold at a sample, or the stacks probe did not run (see probes)\n";
    return;
  }
  for (size_t i = 0; i < stacks.size() && i < kStacksShown; i++) {
    const json &st = stacks[i];
    out += fmt::format("  {} ({}): {} in D over {} samples (longest wait seen {})\n", printable(st.value("comm", "")),
                       st.value("pid", 0), format_duration_ns(st.value("wait_ns", 0ULL)), st.value("samples", 0ULL),
                       format_duration_ns(st.value("max_wait_ns", 0ULL)));
    size_t hidden = 0;
    const auto frames = interesting_frames(st.value("frames", std::vector<std::string>{}), kFramesShown, &hidden);
    for (size_t f = 0; f < frames.size(); f++) out += fmt::format("    {}{}\n", std::string(f, ' '), printable(frames[f]));
    if (hidden) out += fmt::format("    {}... {} outer frames\n", std::string(frames.size(), ' '), hidden);
  }
}

void render_text(const json &s, std::string &out) {
  heading("Scheduler: waiting for a CPU (R) or stuck in D?", out);
  if (s.is_null()) {
    out += "  not recorded\n";
    return;
  }
  const auto avg = s["load_avg"].get<LoadRow>();  // without its dt_s
  out += fmt::format(
      "  load over the window: {:.2f} running + {:.2f} runnable (waiting for a CPU) + {:.2f} blocked in D\n"
      "  blocked by cause: {:.2f} I/O wait, {:.2f} memory stall, {:.2f} other (locks, ...)\n",
      avg.running, avg.runnable, avg.blocked, avg.blocked_io, avg.blocked_mem, avg.blocked_other);

  // Each interval with how busy each CPU was (up to 8 CPUs by name; beyond, the least and most
  // busy), so a CPU pegged for a few seconds shows where it happened.
  const auto &busy_series = s.value("cpu_busy_series", json::array());
  size_t ncpu = busy_series.empty() ? 0 : busy_series[0].value("busy_pct", json::array()).size();
  constexpr size_t kCpusByName = 8;
  std::string cpu_header;
  if (ncpu > kCpusByName) cpu_header = "  busy% min..max of CPUs";
  else
    for (size_t c = 0; c < ncpu; c++) cpu_header += fmt::format(" {:>5}", fmt::format("cpu{}", c));
  out += "\n  per interval (average tasks; busy% of each CPU):\n";
  out += fmt::format("  {:>7} {:>8} {:>9} {:>8} {:>6} {:>6} {:>6}{}\n", "t(s)", "running", "runnable", "blocked", "io",
                     "mem", "other", cpu_header);
  const auto &load_rows = s["load"];
  for (size_t i = 0; i < load_rows.size(); i++) {
    const auto load = load_rows[i].get<LoadRow>();
    std::string cpus;
    if (i < busy_series.size()) {
      const auto &busy = busy_series[i].value("busy_pct", json::array());
      if (busy.size() > kCpusByName) {
        double lo = 100, hi = 0;
        for (const auto &b : busy) lo = std::min(lo, b.get<double>()), hi = std::max(hi, b.get<double>());
        cpus = fmt::format("  {:>3.0f}..{:.0f}", lo, hi);
      } else {
        for (const auto &b : busy) cpus += fmt::format(" {:>5.0f}", b.get<double>());
      }
    }
    out += fmt::format("  {:>7.1f} {:>8.2f} {:>9.2f} {:>8.2f} {:>6.2f} {:>6.2f} {:>6.2f}{}\n",
                       load_rows[i].value("t", 0.0), load.running, load.runnable, load.blocked, load.blocked_io,
                       load.blocked_mem, load.blocked_other, cpus);
  }

  out += "\n  per CPU (window average; runnable: waiting on its run queue, blocked: went to sleep in D there):\n";
  out += fmt::format("  {:>4} {:>7} {:>9} {:>8} {:>7} {:>6}\n", "CPU", "busy%", "runnable", "blocked", "steal%", "irq%");
  for (const auto &row : s["cpus"]) {
    const auto c = row.get<CpuInterval>();
    out += fmt::format("  {:>4} {:>7.1f} {:>9.2f} {:>8.2f} {:>7.1f} {:>6.1f}\n", c.cpu, c.busy_pct, c.runnable, c.blocked,
                       c.steal_pct, c.irq_pct);
  }
  render_cpu_health_text(s, out);
  if (uint64_t repaired = s.value("repaired_spans", json::object()).value("total", 0ULL))
    out += fmt::format("  waits whose closing event no probe saw, closed later: {} ({} at the task's next switch, "
                       "{} when it was freed)\n",
                       repaired, s["repaired_spans"].value("stale", 0ULL), s["repaired_spans"].value("at_exit", 0ULL));

  out += "\nrun-queue latency (wakeup or preemption to running)\n";
  render_histogram(s["runq_latency"], "usecs", out);
  out += "\nD-state time (uninterruptible sleep that counts toward the load)\n";
  render_histogram(s["dstate_time"], "usecs", out);

  render_top_cpu(s, out);
  render_top_text(top_runq_table(), s, out);
  render_top_text(top_dstate_table(), s, out);
  render_dstate_stacks_text(s, out);

  // The longest waits, not the last: the worst one is what a reader looks for.
  const json shown = keep_worst(s["outliers"], kOutliersShown, "duration_ns");
  out += fmt::format("\n{}\n", outlier_heading("waits above", s, shown.size()));
  for (const auto &e : shown) {
    std::string waker = e.value("waker_pid", 0)
                            ? fmt::format(" woken by {} ({})", printable(process_label(e, "waker_")), e.value("waker_pid", 0))
                            : "";
    out += fmt::format("  {:>7.2f}s cpu{:<2} {:<7} {:>9} {} ({}){}\n", e.value("t", 0.0), e.value("cpu", 0),
                       e.value("kind", ""), format_duration_ns(e.value("duration_ns", 0ULL)),
                       printable(process_label(e)), e.value("pid", 0), waker);
  }
}

void add_findings(const json &report, json &findings) {
  const json &s = report["sched"];
  if (s.is_null()) return;
  double ncpu = std::max(1, report["window"].value("ncpu", 1));
  const auto avg = s["load_avg"].get<LoadRow>();  // without its dt_s
  double runnable = avg.runnable, blocked = avg.blocked;
  double runq_p99 = s["runq_latency"].value("p99", 0.0);

  auto top_names = [](const json &rows) {
    std::string names;
    size_t n = 0;
    for (const auto &p : rows) {
      if (n++ == 3) break;
      names += fmt::format("{}{} ({})", names.empty() ? "" : ", ", p.value("comm", ""), p.value("pid", 0));
    }
    return names.empty() ? std::string("-") : names;
  };

  // Each interval of the slice judged on its own: a burst counts wherever it falls, and the span
  // says when. An interval's run-queue p99 comes from its heatmap row (same t).
  std::map<double, double> p99_at;
  for (const auto &row : s.value("runq_heatmap", json::array())) p99_at[row.value("t", 0.0)] = row.value("p99_us", 0.0);
  size_t saturated_intervals = 0, busy_slow_intervals = 0, blocked_intervals = 0;
  double worst_runnable = 0, worst_blocked = 0;
  ConditionSpan cpu_span, cpu_busy_span, io_span, io_loaded_span;
  for (const auto &row : s["load"]) {
    const auto load = row.get<LoadRow>();
    double t = row.value("t", 0.0), r = load.runnable, b = load.blocked;
    worst_runnable = std::max(worst_runnable, r);
    worst_blocked = std::max(worst_blocked, b);
    bool saturated = r > kSaturatedRunnablePerCpu * ncpu;
    auto p99 = p99_at.find(t);
    bool busy_slow = r > kBusyRunnablePerCpu * ncpu && p99 != p99_at.end() && p99->second > kSlowRunqP99Us;
    saturated_intervals += saturated;
    busy_slow_intervals += busy_slow;
    cpu_span.observe(t, r, saturated || busy_slow);
    cpu_busy_span.observe(t, r, r > kBusyRunnablePerCpu * ncpu);
    bool io_bound = b >= kBlockedTasksWarning && b > r;
    blocked_intervals += io_bound;
    io_span.observe(t, b, io_bound);
    io_loaded_span.observe(t, b, b > 0);
  }
  bool saturated_window = runnable > kSaturatedRunnablePerCpu * ncpu;
  bool saturated_burst = saturated_intervals >= kSustainedIntervals;
  bool busy_slow_window = runnable > kBusyRunnablePerCpu * ncpu && runq_p99 > kSlowRunqP99Us;
  if (saturated_window || saturated_burst || busy_slow_window || busy_slow_intervals >= kSustainedIntervals) {
    bool critical = saturated_window || saturated_burst;
    json finding = {
        {"id", "cpu-saturation"},
        {"severity", critical ? "critical" : "warning"},
        {"title", saturated_window
                      ? fmt::format("CPU-bound: on average {:.1f} tasks waited for {} CPU(s)", runnable, ncpu)
                  : saturated_burst
                      ? fmt::format("CPU-bound for {} intervals: up to {:.1f} tasks waited for {} CPU(s)",
                                    saturated_intervals, worst_runnable, ncpu)
                      : fmt::format("CPU-busy: up to {:.1f} tasks waited for {} CPU(s), p99 run-queue wait {}",
                                    worst_runnable, ncpu, format_duration_ns(static_cast<uint64_t>(runq_p99 * 1000)))},
        {"evidence",
         {{"runnable_avg", runnable},
          {"runnable_max", worst_runnable},
          {"saturated_intervals", saturated_intervals},
          {"ncpu", ncpu},
          {"runq_p99_us", runq_p99},
          {"top_runq", top_names(s["top_runq"])}}},
        {"advice",
         "Find what burns the CPUs (top processes by run-queue wait and CPU time); throttle or move it, add CPUs, "
         "or lower its priority (nice, cgroup cpu.weight)."}};
    // The intervals where it held; a slice-wide p99 with no one interval slow enough: those busy.
    (cpu_span.held() ? cpu_span : cpu_busy_span).stamp(finding);
    findings.push_back(std::move(finding));
  }
  bool io_window = blocked >= kBlockedTasksWarning && blocked > runnable;
  if (io_window || blocked_intervals >= kSustainedIntervals) {
    bool critical = blocked >= ncpu;
    double io_share = blocked > 0 ? avg.blocked_io / blocked : 0;
    json finding = {
        {"id", "io-saturation"},
        {"severity", critical ? "critical" : "warning"},
        {"title", io_window ? fmt::format("I/O-bound: on average {:.1f} tasks were blocked in D ({:.0f}% in I/O wait)",
                                          blocked, io_share * 100)
                            : fmt::format("I/O-bound for {} intervals: up to {:.1f} tasks were blocked in D "
                                          "({:.0f}% of the slice's D time in I/O wait)",
                                          blocked_intervals, worst_blocked, io_share * 100)},
        {"evidence",
         {{"blocked_avg", blocked},
          {"blocked_max", worst_blocked},
          {"blocked_intervals", blocked_intervals},
          {"blocked_io_avg", avg.blocked_io},
          {"blocked_mem_avg", avg.blocked_mem},
          {"blocked_other_avg", avg.blocked_other},
          {"top_dstate", top_names(s["top_dstate"])}}},
        {"advice",
         "The load is tasks waiting in uninterruptible sleep: check the block devices' latency (block section, "
         "iostat), a hung NFS/network mount, or memory reclaim when the memory-stall share is high."}};
    (io_span.held() ? io_span : io_loaded_span).stamp(finding);
    findings.push_back(std::move(finding));
  }
  // Imbalance, interval by interval: one CPU pegged while another has room.
  size_t imbalanced_intervals = 0;
  double worst_hi = 0, worst_lo = 100;
  int worst_hi_cpu = 0, worst_lo_cpu = 0;
  ConditionSpan imbalance_span;
  for (const auto &row : s["cpu_busy_series"]) {
    const auto &busy = row["busy_pct"];
    if (busy.size() < 2) continue;
    size_t hi_cpu = 0, lo_cpu = 0;
    for (size_t c = 1; c < busy.size(); c++) {
      if (busy[c].get<double>() > busy[hi_cpu].get<double>()) hi_cpu = c;
      if (busy[c].get<double>() < busy[lo_cpu].get<double>()) lo_cpu = c;
    }
    double hi = busy[hi_cpu], lo = busy[lo_cpu];
    bool imbalanced = hi >= kImbalanceBusyPct && hi - lo >= kImbalanceGapPct;
    imbalance_span.observe(row.value("t", 0.0), hi - lo, imbalanced);
    if (imbalanced) {
      imbalanced_intervals++;
      if (hi - lo > worst_hi - worst_lo) {
        worst_hi = hi, worst_lo = lo;
        worst_hi_cpu = static_cast<int>(hi_cpu), worst_lo_cpu = static_cast<int>(lo_cpu);
      }
    }
  }
  if (imbalanced_intervals >= kSustainedIntervals) {
    json finding = {
        {"id", "cpu-imbalance"},
        {"severity", "warning"},
        {"title", fmt::format("CPU imbalance for {} intervals: cpu{} {:.0f}% busy while cpu{} was {:.0f}% busy",
                              imbalanced_intervals, worst_hi_cpu, worst_hi, worst_lo_cpu, worst_lo)},
        {"evidence",
         {{"intervals", imbalanced_intervals},
          {"busiest_cpu", worst_hi_cpu},
          {"busiest_pct", worst_hi},
          {"idlest_cpu", worst_lo_cpu},
          {"idlest_pct", worst_lo}}},
        {"advice",
         "Work is pinned or not spread: check CPU affinity (taskset, cpusets), a single-threaded bottleneck, or "
         "IRQ affinity."}};
    imbalance_span.stamp(finding);
    findings.push_back(std::move(finding));
  }
  add_cpu_health_findings(report, findings);
}

}  // namespace triage::sched
