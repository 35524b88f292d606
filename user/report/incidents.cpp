#include "report/incidents.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "report/finding_span.h"
#include "core/json_fields.h"

namespace triage {
namespace {

using json = nlohmann::json;

// A thread that runs 80% of an interval is as busy as one thread can be once scheduling noise,
// interrupts and the sampler's own slice boundaries are allowed for.
constexpr double kPeggedShare = 0.8;
// Half a CPU idle: the machine had room the server did not use.
constexpr double kIdleCpusMin = 0.5;
// A thread with a fifth of its process's CPU is one of the threads doing the serving work.
constexpr double kWorkerThreadShare = 0.2;
// A pause shorter than this is a hiccup, not what makes clients time out.
constexpr double kStallMinS = 1.0;
// Sched rows and tcp samples are taken at the same interval ends, read apart by a few ms.
constexpr double kSameSampleS = 0.3;
// A symptom belongs to a cause when it held from shortly before the cause to a while after it:
// clients give up after their timeouts and retry with backoff (1 s, 3 s, 7 s ...).
constexpr double kSymptomBeforeS = 2.0, kSymptomAfterS = 10.0;

// The row of a per-interval series taken at the sample ending at t, if any.
const json *row_at(const json &series, double t) {
  const json *best = nullptr;
  for (const auto &row : series)
    if (std::abs(num(row, "t") - t) <= kSameSampleS && (!best || std::abs(num(row, "t") - t) < std::abs(num(*best, "t") - t)))
      best = &row;
  return best;
}

// CPUs the processes used in the interval ending at t (sched.top_cpu_series); -1 if unknown.
double cpus_used(const json &sched, const std::set<uint64_t> &pids, double t, double dt) {
  const json *row = row_at(arr(sched, "top_cpu_series"), t);
  if (!row || dt <= 0) return -1;
  uint64_t ns = 0;
  for (const auto &p : arr(*row, "rows"))
    if (pids.count(u64(p, "pid"))) ns += u64(p, "cpu_ns");
  return static_cast<double>(ns) / (dt * 1e9);
}

// CPUs idle in the interval ending at t (sched.cpu_busy_series); -1 if unknown.
double cpus_idle(const json &sched, double t) {
  const json *row = row_at(arr(sched, "cpu_busy_series"), t);
  if (!row) return -1;
  double idle = 0;
  for (const auto &busy : arr(*row, "busy_pct")) idle += std::max(0.0, 100.0 - busy.get<double>()) / 100.0;
  return idle;
}

// The listener owners' threads from sched.top_cpu (cumulative from the window's start to the
// slice's end, as the sched section reads them), and how many do the work: a fifth or more of
// the owners' CPU time.
struct OwnerThreads {
  size_t total = 0, workers = 0;
  json rows = json::array();  // busiest first: {pid, tid, comm, cpu_pct}
};
OwnerThreads owner_threads(const json &report, const std::set<uint64_t> &pids) {
  OwnerThreads out;
  const json &w = report["window"];
  double to_s = w.contains("slice") ? num(w["slice"], "to_s") : num(w, "duration_s");
  std::vector<json> rows;
  // Shares of all the owners' threads together: nginx's master thread is its process's only one,
  // and no worker.
  uint64_t sum = 0;
  for (const auto &p : arr(report["sched"], "top_cpu"))
    if (pids.count(u64(p, "pid")))
      for (const auto &t : arr(p, "threads")) sum += u64(t, "cpu_ns");
  for (const auto &p : arr(report["sched"], "top_cpu")) {
    if (!pids.count(u64(p, "pid"))) continue;
    for (const auto &t : arr(p, "threads")) {
      out.total++;
      uint64_t ns = u64(t, "cpu_ns");
      if (sum && ns && static_cast<double>(ns) >= kWorkerThreadShare * static_cast<double>(sum)) out.workers++;
      rows.push_back({{"pid", u64(p, "pid")},
                      {"tid", u64(t, "tid")},
                      {"comm", t.value("comm", "")},
                      {"cpu_pct", to_s > 0 ? std::round(static_cast<double>(ns) / (to_s * 1e7) * 10) / 10 : 0.0}});
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const json &a, const json &b) { return num(a, "cpu_pct") > num(b, "cpu_pct"); });
  for (size_t i = 0; i < rows.size() && i < 8; i++) out.rows.push_back(rows[i]);
  return out;
}

std::string listener_of(const json &server) {
  std::string addr = server.value("addr", "");
  return addr.find(':') != std::string::npos ? fmt::format("[{}]:{}", addr, u64(server, "port"))
                                             : fmt::format("{}:{}", addr, u64(server, "port"));
}

std::string pid_list(const json &pids) {
  std::string out;
  for (const auto &p : pids) out += (out.empty() ? "" : ", ") + p.dump();
  return out;
}

void server_saturated(const json &report, const json &server, json &findings) {
  std::set<uint64_t> pids;
  for (const auto &p : arr(server, "pids")) pids.insert(p.get<uint64_t>());
  if (pids.empty()) return;
  const json &sched = report["sched"];
  OwnerThreads threads = owner_threads(report, pids);
  ConditionSpan span;
  uint64_t overflows = 0, backlog_peak = 0, backlog_max = 0, full_samples = 0;
  double cpus_at_peak = 0, idle_at_peak = 0;
  for (const auto &s : arr(server, "samples")) {
    double t = num(s, "t"), dt = t - num(s, "since_t");
    uint64_t backlog = u64(s, "backlog"), limit = u64(s, "backlog_max");
    bool pressure = s.value("full", false) || u64(s, "overflows") || (backlog && 2 * backlog >= limit);
    double cpus = cpus_used(sched, pids, t, dt), idle = cpus_idle(sched, t);
    // As many CPUs as it has serving threads, each near 100%: it cannot go faster on its threads.
    double workers = static_cast<double>(std::max<size_t>(threads.workers, 1));
    bool pegged = cpus >= kPeggedShare * workers;
    bool holds = pressure && pegged && idle >= kIdleCpusMin;
    if (!holds) continue;
    if (!span.held() || cpus > span.peak()) cpus_at_peak = cpus, idle_at_peak = idle;
    span.observe(t, cpus, true);
    overflows += u64(s, "overflows");
    full_samples += s.value("full", false);
    backlog_peak = std::max(backlog_peak, backlog);
    backlog_max = std::max(backlog_max, limit);
  }
  if (!span.held()) return;
  // The listener's own totals over the slice, as listen-overflow states them: the two must agree.
  for (const auto &l : arr(report["tcp"], "listeners"))
    if (u64(l, "netns") == u64(server, "netns") && l.value("addr", "") == server.value("addr", "") &&
        u64(l, "port") == u64(server, "port")) {
      overflows = u64(l, "overflows");
      backlog_peak = std::max(backlog_peak, u64(l, "backlog_peak"));
      backlog_max = std::max(backlog_max, u64(l, "backlog_max"));
    }
  size_t workers = std::max<size_t>(threads.workers, 1);
  std::string comm = server.value("comm", "?");
  std::string listener = listener_of(server);
  int ncpu = report["window"].value("ncpu", 0);
  double per_thread_pct = cpus_at_peak / static_cast<double>(workers) * 100;
  json f = {
      {"id", "server-saturated"},
      {"severity", overflows ? "critical" : "warning"},
      {"title",
       fmt::format("{} ({}) on {} is CPU-bound on {} thread(s) at {:.0f}% each while {:.1f} of {} CPUs sat idle; its "
                   "accept queue filled (up to {} queued, backlog {}; {} overflows): too few workers",
                   comm, pid_list(server["pids"]), listener, workers, std::min(per_thread_pct, 100.0), idle_at_peak,
                   ncpu, backlog_peak, backlog_max, overflows)},
      {"evidence",
       {{"process", comm},
        {"pids", server["pids"]},
        {"listener", listener},
        {"port", u64(server, "port")},
        {"threads", threads.total},
        {"busy_threads", workers},
        {"cpus_used", std::round(cpus_at_peak * 100) / 100},
        {"idle_cpus", std::round(idle_at_peak * 100) / 100},
        {"ncpu", ncpu},
        {"thread_cpu", threads.rows},
        {"accept_backlog_peak", backlog_peak},
        {"backlog_max", backlog_max},
        {"full_samples", full_samples},
        {"overflows", overflows}}},
      {"advice",
       fmt::format("The server does its work on {} thread(s), each as busy as a thread can be, while other CPUs idle: "
                   "it needs more workers, not a faster machine. nginx: worker_processes auto (one per CPU); other "
                   "servers: more worker processes or threads. Then size the accept queue for bursts: the listen "
                   "backlog (nginx: listen ... backlog=N) and net.core.somaxconn, which caps it. The overflows, "
                   "slow connects and client timeouts listed under this finding follow from it.",
                   workers)}};
  span.stamp(f);
  findings.push_back(std::move(f));
}

void server_stall(const json &report, const json &server, json &findings) {
  std::set<uint64_t> pids;
  for (const auto &p : arr(server, "pids")) pids.insert(p.get<uint64_t>());
  const json &samples = arr(server, "samples");
  struct Stall {
    double from = 0, to = 0;
    uint64_t backlog_peak = 0, unread_sockets = 0, unread_bytes = 0;
    double cpu_s = 0;  // the owners' CPU time in it
    bool cpu_known = true;
  };
  std::vector<Stall> stalls;
  std::optional<Stall> open;
  const json *previous = nullptr;
  for (const auto &s : samples) {
    double t = num(s, "t"), since = num(s, "since_t");
    bool consecutive = previous && std::abs(num(*previous, "t") - since) < 1e-6;
    uint64_t backlog = u64(s, "backlog"), backlog_before = consecutive ? u64(*previous, "backlog") : 0;
    // No progress between the two samples: nothing accepted, nothing read, while connections
    // waited in its accept queue (not draining) or unread on sockets it had accepted.
    // Closes by the server's own code count as progress too: they are seen for connections
    // accepted and closed between two walks, which the walks miss.
    bool stalled = s.value("compared", false) && !u64(s, "accepted_new") && !u64(s, "read_progress") &&
                   !u64(s, "app_closes") && ((backlog && backlog >= backlog_before) || u64(s, "unread_stuck"));
    if (stalled) {
      if (!open || std::abs(open->to - since) > 1e-6) {
        if (open) stalls.push_back(*open);
        open = Stall{since, since};
      }
      open->to = t;
      open->backlog_peak = std::max(open->backlog_peak, backlog);
      open->unread_sockets = std::max<uint64_t>(open->unread_sockets, u64(s, "unread_sockets"));
      open->unread_bytes = std::max(open->unread_bytes, u64(s, "unread_bytes"));
      double cpus = cpus_used(report["sched"], pids, t, t - since);
      if (cpus < 0) open->cpu_known = false;
      else open->cpu_s += cpus * (t - since);
    }
    previous = &s;
  }
  if (open) stalls.push_back(*open);
  std::erase_if(stalls, [](const Stall &s) { return s.to - s.from < kStallMinS - 0.05; });
  if (stalls.empty()) return;

  uint16_t port = static_cast<uint16_t>(u64(server, "port"));
  auto in_stall = [&](double t) {
    for (const auto &s : stalls)
      if (t >= s.from - 0.5 && t <= s.to + 1.0) return true;
    return false;
  };
  size_t timeouts = 0, resets = 0;
  uint64_t timeout_ms_max = 0;
  for (const auto &r : arr(report["tcp"], "read_timeouts"))
    if (u64(r, "dport") == port && in_stall(num(r, "t"))) timeouts++, timeout_ms_max = std::max(timeout_ms_max, u64(r, "timeout_ms"));
  if (report["tcp"].is_object() && report["tcp"].contains("resets"))
    for (const auto &r : arr(report["tcp"]["resets"], "events"))
      // A reset between two local ends is seen sent and received: counted once, as sent.
      if (r.value("kind", "") == "reset_sent" && (u64(r, "sport") == port || u64(r, "dport") == port) && in_stall(num(r, "t")))
        resets++;

  ConditionSpan span;
  double longest = 0, total = 0;
  json spans = json::array();
  for (const auto &s : stalls) {
    double length = s.to - s.from;
    longest = std::max(longest, length);
    total += length;
    span.observe(s.from, 0, true);
    span.observe(s.to, length, true);
    json row = {{"from_t", std::round(s.from * 100) / 100},
                {"to_t", std::round(s.to * 100) / 100},
                {"duration_s", std::round(length * 100) / 100},
                {"accept_backlog_peak", s.backlog_peak},
                {"unread_sockets", s.unread_sockets},
                {"unread_bytes", s.unread_bytes}};
    if (s.cpu_known) row["process_cpus"] = std::round(s.cpu_s / length * 100) / 100;
    spans.push_back(std::move(row));
  }
  OwnerThreads threads = owner_threads(report, pids);
  std::string comm = server.value("comm", "?");
  std::string listener = listener_of(server);
  uint64_t safe_ms = static_cast<uint64_t>(std::ceil(longest * 2)) * 1000;
  std::string clients = timeouts ? fmt::format("; {} client read timeout(s) ({} ms) and {} reset(s) sent in those spans",
                                               timeouts, timeout_ms_max, resets)
                        : resets ? fmt::format("; {} reset(s) sent in those spans", resets)
                                 : "";
  json f = {
      {"id", "server-stall"},
      {"severity", longest >= 2 * kStallMinS || timeouts ? "critical" : "warning"},
      {"title", fmt::format("{} ({}) on {} stopped serving {} time(s), the longest for {:.1f} s or more (samples are "
                            "{:.0f} s apart): nothing accepted or read while the process stayed alive{}",
                            comm, pid_list(server["pids"]), listener, stalls.size(), longest,
                            report["window"].value("interval_s", 1.0), clients)},
      {"evidence",
       {{"process", comm},
        {"pids", server["pids"]},
        {"listener", listener},
        {"port", port},
        {"stalls", stalls.size()},
        {"longest_s", std::round(longest * 100) / 100},
        {"stalled_s", std::round(total * 100) / 100},
        {"spans", spans},
        {"busiest_threads", threads.rows},
        {"client_read_timeouts", timeouts},
        {"client_timeout_ms", timeout_ms_max},
        {"resets_sent", resets}}},
      {"advice",
       fmt::format("The process held its listener but made no progress for seconds: a stop-the-world pause. For a JVM "
                   "read the GC log (-Xlog:gc*:file=gc.log) for Full GC pauses at these times; give the heap room "
                   "over its live set (-Xmx) or use a low-pause collector (G1, ZGC), and find what calls System.gc(). "
                   "Otherwise look for a lock every thread waits on, swapping, or a SIGSTOP. Clients: a read timeout "
                   "above the pause (here more than {} ms) with one retry turns these failures into slow answers.",
                   safe_ms)}};
  span.stamp(f);
  findings.push_back(std::move(f));
}

int rank(const json &f) {
  std::string s = f.value("severity", "");
  return s == "critical" ? 0 : s == "warning" ? 1 : 2;
}

// Causes: the server incidents, and a finding whose own family already named what it explains
// (cpu-throttled: its throttled tasks hold the run-queue wait that cpu-saturation counts).
bool is_cause(const json &f) {
  std::string id = f.value("id", "");
  return id == "server-saturated" || id == "server-stall" || f.contains("explains");
}

// Whether finding `f` is one of the things `cause` explains.
bool explains(const json &cause, const json &f) {
  const json &ce = cause["evidence"];
  const json &fe = f.contains("evidence") ? f["evidence"] : json::object();
  if (f.contains("first_t") && cause.contains("first_t")) {
    if (num(f, "last_t") < num(cause, "first_t") - kSymptomBeforeS || num(f, "first_t") > num(cause, "last_t") + kSymptomAfterS)
      return false;
  }
  std::string id = f.value("id", "");
  if (cause.contains("explains")) {
    for (const auto &named : cause["explains"])
      if (named == id) return true;
    return false;
  }
  std::string listener = ce.value("listener", "");
  std::string port = ":" + std::to_string(u64(ce, "port"));
  auto ends_with_port = [&](const char *key) {
    std::string v = fe.is_object() ? fe.value(key, "") : "";
    return v.size() > port.size() && v.compare(v.size() - port.size(), port.size(), port) == 0;
  };
  std::set<uint64_t> pids;
  for (const auto &p : arr(ce, "pids")) pids.insert(p.get<uint64_t>());
  if (id == "listen-overflow" || id == "syn-flood") return fe.value("listener", "") == listener || (u64(fe, "pid") && pids.count(u64(fe, "pid")));
  if (id == "read-timeout" || id == "keepalive-race" || id == "connect-timeout-risk") return ends_with_port("target");
  if (id == "retransmits") {
    std::string flow = fe.value("worst_flow", "");
    return flow.find(port + " ") != std::string::npos;
  }
  if (id == "time-wait-churn") return fe.value("top", "").find("port " + std::to_string(u64(ce, "port"))) != std::string::npos;
  // One pegged server thread is one busy CPU beside idle ones.
  if (id == "cpu-imbalance") return cause.value("id", "") == "server-saturated";
  // A stalled JVM's collector threads crowd the run queues.
  if (id == "cpu-saturation") {
    std::string top = fe.value("top_runq", "");
    for (uint64_t pid : pids)
      if (top.find("(" + std::to_string(pid) + ")") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

void add_incident_findings(const json &report, json &findings) {
  if (!report["tcp"].is_object() || !report["sched"].is_object()) return;
  for (const auto &server : arr(report["tcp"], "servers")) {
    server_saturated(report, server, findings);
    server_stall(report, server, findings);
  }
}

void link_causes(json &findings) {
  std::vector<size_t> causes;
  for (size_t i = 0; i < findings.size(); i++)
    if (is_cause(findings[i])) causes.push_back(i);
  if (causes.empty()) return;
  std::vector<std::vector<size_t>> symptoms(findings.size());
  std::vector<bool> explained(findings.size(), false);
  for (size_t i = 0; i < findings.size(); i++) {
    if (is_cause(findings[i])) continue;
    for (size_t c : causes)
      if (explains(findings[c], findings[i])) {
        symptoms[c].push_back(i);
        explained[i] = true;
        findings[i]["explained_by"] = findings[c]["id"];
        break;
      }
  }
  // The cause is as severe as the worst thing it explains.
  for (size_t c : causes) {
    std::set<std::string> ids;
    json list = json::array();
    for (size_t i : symptoms[c]) {
      if (rank(findings[i]) < rank(findings[c])) findings[c]["severity"] = findings[i]["severity"];
      if (ids.insert(findings[i].value("id", "")).second) list.push_back(findings[i]["id"]);
    }
    if (!list.empty()) findings[c]["explains"] = list;
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < findings.size(); i++)
    if (!explained[i]) order.push_back(i);
  // By severity, and a cause before the other findings of its severity.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::pair{rank(findings[a]), !is_cause(findings[a])} < std::pair{rank(findings[b]), !is_cause(findings[b])};
  });
  json out = json::array();
  for (size_t i : order) {
    out.push_back(findings[i]);
    for (size_t s : symptoms[i]) out.push_back(findings[s]);
  }
  findings = std::move(out);
}

}  // namespace triage
