// Lists that say what they hold, and one name per process, through made-up recordings: the JSON
// totals, the text against goldens (tests/golden/), and the HTML headings.
#include <catch2/catch.hpp>

#include "block/block_aggregate.h"
#include "block/block_report.h"
#include "block/block_rows.h"
#include "golden.h"
#include "record/recording.h"
#include "recording_fixture.h"
#include "report/html.h"
#include "report/process_names.h"
#include "report/report.h"
#include "sched/sched_report.h"
#include "sched_rows_util.h"
#include "tcp/tcp_rows.h"

using namespace triage;

namespace {

constexpr uint64_t kStart = 1'000'000'000;
constexpr uint64_t kMs = 1'000'000;

// A two-second window on a 2-CPU box: meta, probes and the sched counters, nothing else.
RecordingWriter &start_recording(test::RecordingFixture &fx) {
  auto &w = fx.writer();
  fx.set_window_meta(kStart + 2'000 * kMs);
  w.set_probes({{"sched_switch", "sched", "tracepoint sched:sched_switch", "tp_btf", "attached", ""}});
  sched_test::write_config(w, "tp_btf", 10 * kMs);
  return w;
}

// A process's run-queue waits, as the sampler hands them to the per-process delta table.
sched::ProcessRow runq_row(uint32_t pid, const std::string &comm, uint64_t total_ms) {
  return sched_test::runq_row(pid, comm, "/", total_ms * kMs, 3, total_ms * kMs / 2);
}
sched::ProcessRow dstate_row(uint32_t pid, const std::string &comm, uint64_t total_ms) {
  return sched_test::dstate_io_row(pid, comm, "/", total_ms * kMs, 3, total_ms * kMs / 2);
}

// 230 waits above 10 ms from 0.20 s on, the longest (250 ms) the first: the onset of a stall.
// The last 15 by time would hide it; 200 of them reach the JSON.
json many_waits_report() {
  test::RecordingFixture fx(kStart, "many.db");
  auto &w = start_recording(fx);
  for (uint64_t i = 0; i < 230; i++) {
    uint64_t duration_ms = i == 0 ? 250 : 10 + (i * 37) % 90;
    w.add_event(kStart + 200 * kMs + i * 7 * kMs, "sched", "runq",
                {{"pid", 1000 + i % 4}, {"tgid", 1000}, {"comm", "worker"}, {"cpu", i % 2},
                 {"duration_ns", duration_ms * kMs + i}, {"waker_pid", 0}, {"waker_comm", ""}});
  }
  // 57 processes waited for a CPU: 12 with the most, 45 more that waited 1 ms each.
  std::vector<sched::ProcessRow> processes;
  for (uint32_t i = 0; i < 12; i++) processes.push_back(runq_row(2000 + i, "proc" + std::to_string(i), 100 - i));
  for (uint32_t i = 0; i < 45; i++) processes.push_back(runq_row(3000 + i, "small" + std::to_string(i), 1));
  processes.push_back(dstate_row(7, "dd", 5));
  sched_test::write_processes(w, kStart + 2'000 * kMs, processes);
  return fx.report();
}

}  // namespace

TEST_CASE("report lists: a cut list keeps the longest, says top N of M, and the JSON its total") {
  json report = many_waits_report();
  const json &s = report["sched"];
  CHECK(s["outliers"].size() == 200);
  CHECK(s["outliers_total"] == 230);
  CHECK(s["outliers_first_t"].get<double>() == Approx(0.2));
  CHECK(s["top_runq"].size() == 50);  // the JSON keeps the largest 50
  CHECK(s["top_runq_total"] == 57);
  CHECK(s["top_dstate_total"] == 1);

  std::string text;
  sched::render_text(s, text);
  CHECK(text.find("top 15 of 230 by duration, in time order; the JSON report holds the longest 200") !=
        std::string::npos);
  CHECK(text.find("250.0ms") != std::string::npos);  // the largest, though first in time
  CHECK(text.find("top processes by run-queue wait (top 10 of 57 by total wait)") != std::string::npos);
  CHECK(text.find("top processes by D-state time (all 1)") != std::string::npos);
  check_golden(text, "sched_truncated_lists.txt");

  std::string html = render_html(report);
  CHECK(html.find("top 20 of 230 by duration") != std::string::npos);
  CHECK(html.find("Top processes by run-queue wait (top 10 of 57 by total wait)") != std::string::npos);
  CHECK(html.find(">250ms<") != std::string::npos);  // the largest wait
}

namespace {

// pid 500 ran as `taskset` and exec'd `rt_spin`: the scheduler's first event still has the old
// name, /proc the new one at the end; the block row was made before the exec. pid 700 exec'd
// from `ip` into `nginx` and exited before any sample (BPF's name only), its listener made after.
// pid 600 is a JVM whose block row carries one of its threads' names: that is no exec.
json renamed_report() {
  test::RecordingFixture fx(kStart, "renamed.db");
  auto &w = start_recording(fx);
  sched::ProcessRow rt_spin = runq_row(500, "rt_spin", 40);
  rt_spin.prev_comm = "taskset";
  rt_spin.comm_seen_ns = kStart + 2'000 * kMs;
  sched::ProcessRow java = dstate_row(600, "java", 5);
  java.comm_seen_ns = kStart + 2'000 * kMs;
  sched_test::write_processes(w, kStart + 2'000 * kMs, {rt_spin, runq_row(700, "ip", 20), java});
  auto wait = [&](uint64_t t_ms, uint32_t pid, const std::string &comm, uint32_t waker_pid, const std::string &waker) {
    w.add_event(kStart + t_ms * kMs, "sched", "runq",
                {{"pid", pid}, {"tgid", pid}, {"comm", comm}, {"cpu", 1}, {"duration_ns", 12 * kMs},
                 {"waker_pid", waker_pid}, {"waker_comm", waker}});
  };
  wait(100, 500, "taskset", 0, "");
  wait(200, 501, "stress", 500, "taskset");
  wait(1500, 500, "rt_spin", 0, "");
  wait(1800, 700, "nginx", 0, "");

  w.set_meta(block::kConfigMeta, block::BlockConfig{"tp_btf", 10 * kMs});
  const uint32_t sda = block::make_dev(8, 0);
  DeltaTable<block::ProcessDeviceRow>("block", block::kProcessesTable)
      .write(kStart + 2'000 * kMs,
             {{500, sda, "taskset", "sda", 20 * kMs, 2, 8192}, {600, sda, "C2 CompilerThre", "sda", 10 * kMs, 1, 4096}},
             w);
  w.add_event(kStart + 1'000 * kMs, "block", "write",
              {{"pid", 500}, {"tid", 500}, {"comm", "rt_spin"}, {"dev", "8:0"}, {"name", "sda"}, {"sector", 2048},
               {"size", 4096}, {"op", "write"}, {"latency_ns", 15 * kMs}, {"queue_ns", 0}, {"error", 0}});

  w.set_meta("tcp.config", tcp::TcpConfig{"tp_btf"});
  tcp::ListenerLevel nginx;
  nginx.addr = "0.0.0.0";
  nginx.port = 80;
  nginx.pid = 700;
  nginx.comm = "nginx";
  w.add_gauge(kStart + 1'000 * kMs, "tcp", "listeners", tcp::ListenersGauge{{nginx}});
  return fx.report();
}

}  // namespace

TEST_CASE("report names: a process renamed by exec reads the same, with its old name, in every section") {
  json report = renamed_report();
  const json &s = report["sched"], &b = report["block"];
  auto check_named = [](const json &row, const char *comm, const char *prev, const std::string &prefix = "") {
    INFO(row.dump());
    CHECK(row[prefix + "comm"] == comm);
    if (prev) CHECK(row.value(prefix + "prev_comm", "") == prev);
    else CHECK(!row.contains(prefix + "prev_comm"));
    CHECK(!row.contains("comm_t"));
  };
  check_named(s["top_runq"][0], "rt_spin", "taskset");
  check_named(s["top_runq"][1], "nginx", "ip");
  check_named(s["top_dstate"][0], "java", nullptr);
  for (const auto &e : s["outliers"]) {
    if (e["pid"] == 500) check_named(e, "rt_spin", "taskset");
    if (e["waker_pid"] == 500) check_named(e, "rt_spin", "taskset", "waker_");
    if (e["pid"] == 501) check_named(e, "stress", nullptr);
  }
  check_named(b["top_processes"][0], "rt_spin", "taskset");
  check_named(b["top_processes"][1], "java", nullptr);  // a thread's name, not an exec
  check_named(b["outliers"][0], "rt_spin", "taskset");
  check_named(b["dstate_devices"][0], "java", nullptr);
  check_named(report["tcp"]["listeners"][0], "nginx", "ip");

  std::string text;
  sched::render_text(s, text);
  block::render_text(b, text);
  CHECK(text.find("rt_spin (was taskset)") != std::string::npos);
  CHECK(text.find("woken by rt_spin (was taskset) (500)") != std::string::npos);
  CHECK(text.find("C2 CompilerThre") == std::string::npos);
  check_golden(text, "renamed_by_exec.txt");

  std::string html = render_html(report);
  CHECK(html.find("rt_spin (was taskset)") != std::string::npos);
}

TEST_CASE("process names: the newest sight wins; names only borrowed from a thread make no prev_comm") {
  json report = {
      {"sched", {{"outliers", {{{"t", 0.5}, {"pid", 9}, {"tgid", 9}, {"comm", "old"}},
                               {{"t", 1.5}, {"pid", 9}, {"tgid", 9}, {"comm", "new"}},
                               {{"t", 1.0}, {"pid", 9}, {"tgid", 9}, {"comm", "mid"}}}}}},
      {"block", nullptr},
      {"tcp", {{"listeners", {{{"pid", 9}, {"comm", "thread-a"}}, {{"pid", 12}, {"comm", "thread-b"}}}},
               {"resets", {{"events", {{{"t", 1.9}, {"pid", 12}, {"comm", "thread-c"}}}}}}}},
      {"oom", {{"kills", {{{"victim_pid", 9}, {"victim_comm", "thread-d"}, {"trigger_pid", 0}, {"trigger_comm", ""}}}}}}};
  resolve_process_names(report);
  for (const auto &e : report["sched"]["outliers"]) {
    CHECK(e["comm"] == "new");
    CHECK(e["prev_comm"] == "mid");
  }
  CHECK(report["tcp"]["listeners"][0]["comm"] == "new");
  CHECK(report["oom"]["kills"][0]["victim_comm"] == "new");
  CHECK(report["oom"]["kills"][0]["victim_prev_comm"] == "mid");
  CHECK(report["oom"]["kills"][0]["trigger_comm"] == "");  // pid 0: no process
  // Only sockets name pid 12: the newest of those, and no claim of an exec.
  CHECK(report["tcp"]["listeners"][1]["comm"] == "thread-c");
  CHECK(!report["tcp"]["listeners"][1].contains("prev_comm"));
  CHECK(process_label(report["sched"]["outliers"][0]) == "new (was mid)");

  // Renamed right after fork and gone before the first sample: the scheduler has only the old
  // name (no time), its socket the new one.
  json forked = {{"sched", {{"top_runq", {{{"pid", 13}, {"comm", "live_tests"}}}}}},
                 {"tcp", {{"listeners", {{{"pid", 13}, {"comm", "tcp-lo-server"}}}}}}};
  resolve_process_names(forked);
  CHECK(forked["tcp"]["listeners"][0]["comm"] == "tcp-lo-server");
  CHECK(process_label(forked["sched"]["top_runq"][0]) == "tcp-lo-server (was live_tests)");

  // Block's D-state ties copy the scheduler's rows: no extra vote for the scheduler's first-event
  // name (the parent's, before the child renamed itself) against the name block saw.
  json copied = {{"sched", {{"top_dstate", {{{"pid", 50}, {"comm", "parent"}}}}}},
                 {"block", {{"dstate_devices", {{{"pid", 50}, {"comm", "parent"}}}},
                            {"top_processes", {{{"pid", 50}, {"comm", "child"}}}}}}};
  resolve_process_names(copied);
  CHECK(copied["block"]["top_processes"][0]["comm"] == "child");
  CHECK(copied["block"]["dstate_devices"][0]["comm"] == "child");

  // An OOM victim is named by the kernel at the kill, after /proc last showed it: that name wins.
  json oom_case = {{"sched", {{"top_runq", {{{"pid", 40}, {"comm", "bash"}, {"comm_t", 1.0}}}}}},
                   {"oom", {{"kills", {{{"t", 1.4}, {"victim_pid", 40}, {"victim_comm", "python3"},
                                        {"trigger_pid", 40}, {"trigger_comm", "python3"}}}}}}};
  resolve_process_names(oom_case);
  CHECK(oom_case["oom"]["kills"][0]["victim_comm"] == "python3");
  CHECK(oom_case["sched"]["top_runq"][0]["comm"] == "python3");
  CHECK(oom_case["sched"]["top_runq"][0]["prev_comm"] == "bash");

  // BPF's 15 bytes of a kernel thread's name and /proc's whole one (or a kworker's workqueue) are
  // one name, not an exec.
  json kthread = {{"sched", {{"top_runq", {{{"pid", 31}, {"comm", "rcu_tasks_trace_kthread"}, {"comm_t", 2.0}}}},
                             {"outliers", {{{"t", 1.0}, {"pid", 31}, {"tgid", 31}, {"comm", "rcu_tasks_trace"}}}}}}};
  resolve_process_names(kthread);
  CHECK(kthread["sched"]["outliers"][0]["comm"] == "rcu_tasks_trace_kthread");
  CHECK(!kthread["sched"]["outliers"][0].contains("prev_comm"));
  CHECK(process_label(report["tcp"]["listeners"][1]) == "thread-c");
}
