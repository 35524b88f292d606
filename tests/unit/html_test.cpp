// The HTML postmortem from a made-up recording: a well-formed page, no script whatever the traced
// machine named its processes, a drawn chart wherever there is data, "not recorded" where a
// family is null.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>

#include "block/block_rows.h"
#include "oom/oom_rows.h"
#include "sched_rows_util.h"
#include "record/recording.h"
#include "recording_fixture.h"
#include "report/html.h"
#include "report/report.h"

using namespace triage;
using nlohmann::json;

namespace {

constexpr uint64_t kStart = 5'000'000'000;
constexpr const char *kHostileComm = "<script>alert(1)</script>";
constexpr const char *kHostileCgroup = "/system.slice/\"onload=x'.service";

json hist(std::initializer_list<std::pair<uint64_t, uint64_t>> buckets) {
  json b = json::array();
  uint64_t count = 0;
  for (auto [le, c] : buckets) b.push_back({{"le", le}, {"count", c}}), count += c;
  return {{"unit", "us"}, {"count", count}, {"sum", count * 10}, {"min", 1}, {"max", 4096},
          {"p50", 16.0},  {"p90", 512.0},   {"p99", 4096.0},     {"buckets", b}};
}

// Four seconds on two CPUs with every family but tcp: sched (a hostile comm and cgroup), block,
// oom (one kill at 2.5 s), and the /proc snapshots (a hostile kmsg line and path).
json full_report() {
  test::RecordingFixture fx(kStart, "full.db");
  {
    auto &w = fx.writer();
    w.set_meta("start_realtime_ns", 1'700'000'000'000'000'000ULL);
    w.set_meta("end_ns", kStart + 4'000'000'000ULL);
    w.set_meta("host", "db<1>&\"prod\"");
    w.set_meta("kernel", "6.1.0-test");
    w.set_meta("ncpu", 2);
    w.set_meta("interval_s", 1.0);
    w.set_probes({{"sched_switch", "sched", "tracepoint sched:sched_switch", "tp_btf", "attached", ""},
                  {"tcp_state", "tcp", "tracepoint sock:inet_sock_set_state", "tp_btf", "failed",
                   "permission denied <EPERM>"}});
    for (int i = 1; i <= 4; i++) {
      uint64_t t = kStart + i * 1'000'000'000ULL;
      w.add_series(t, "sched", "load",
                   {{"dt_s", 1.0}, {"running", 1.5}, {"runnable", 0.5 * i}, {"blocked", 0.25},
                    {"blocked_io", 0.25}, {"blocked_mem", 0.0}, {"blocked_other", 0.0}});
      w.add_hist(t, "sched", "runq", hist({{8, 10u * i}, {64, 3}, {2048, static_cast<uint64_t>(i)}}));
    }
    // As the samplers write them (sched/sched_rows.h, block/block_rows.h).
    sched_test::write_config(w);
    w.add_hist(kStart + 4'000'000'000ULL, "sched", "d_io", hist({{128, 5}, {1024, 2}}));
    sched_test::write_processes(w, kStart + 4'000'000'000ULL,
                                {sched_test::runq_row(666, kHostileComm, kHostileCgroup, 9'000'000, 40, 2'000'000),
                                 sched_test::runq_row(42, "esc\x1b[2Jape", "/", 1'000'000, 4, 500'000)});
    sched::SchedCounters sched_counters;
    sched_counters.events_lost = 3;
    sched_test::write_counters(w, kStart + 4'000'000'000ULL, sched_counters);

    w.set_meta(block::kConfigMeta, block::BlockConfig{"tp_btf", 100'000'000});
    auto op_row = [](const std::string &op, uint64_t count, uint64_t bytes, const json &latency, const json &queue) {
      block::DeviceOpRow row;
      row.dev = 253u << 20;
      row.op = op;
      row.name = "vda";
      row.count = count;
      row.bytes = bytes;
      row.latency_us = Log2Histogram::from_json(latency);
      row.queue_us = Log2Histogram::from_json(queue);
      return row;
    };
    DeltaTable<block::DeviceOpRow>("block", block::kDevicesTable)
        .write(kStart + 4'000'000'000ULL,
               {op_row("read", 12, 49152, hist({{256, 10}, {1024, 2}}), hist({{4, 12}})),
                op_row("write", 5, 20480, hist({{512, 5}}), hist({{4, 5}}))},
               w);

    w.set_meta(oom::kOomConfigMeta, {{"method", "tp_btf"}, {"kmsg", "read"}});
    w.add_event(kStart + 2'500'000'000ULL, "oom", "kill",
                {{"victim_pid", 4242}, {"victim_comm", "<img src=x onerror=alert(2)>"}, {"victim_rss_kb", 65536},
                 {"oom_score_adj", 0}, {"trigger_pid", 4242}, {"trigger_comm", "hog"}, {"memcg", kHostileCgroup},
                 {"constraint", "memcg"}, {"memcg_limit_kb", 131072}, {"memcg_usage_kb", 131000}});

    json snap = {{"time_ns", 1},
                 {"uptime_s", 100.0},
                 {"loadavg", {0.5, 0.4, 0.3}},
                 {"mem", {{"total_kb", 8'000'000}, {"available_kb", 6'000'000}, {"free_kb", 5'000'000}}},
                 {"tasks", {{"R", 1}, {"S", 50}, {"Z", 0}, {"total", 51}, {"threads", 80}, {"pid_max", 32768}}},
                 {"filesystems", json::array({{{"mount", "/mnt/<b>evil</b>"}, {"fstype", "ext4"}, {"device", "/dev/vdb"},
                                               {"size_kb", 1000}, {"avail_kb", 500}, {"used_pct", 50.0},
                                               {"inodes", 100}, {"inodes_free", 90}, {"inodes_used_pct", 10.0}}})},
                 {"kmsg", json::array({{{"time", 12.5}, {"level", 3}, {"text", "Killed process 1 (<script>x</script>)"}}})},
                 {"netstat", {{"TcpRetransSegs", 10}}}};
    w.put_snapshot("start", snap);
    snap["netstat"]["TcpRetransSegs"] = 25;
    w.put_snapshot("end", snap);
  }
  return fx.report();
}

// A window where nothing was recorded: every family null, no snapshot.
json empty_report() {
  test::RecordingFixture fx(kStart, "empty.db");
  fx.writer().set_meta("end_ns", kStart + 1'000'000'000ULL);
  return fx.report();
}

size_t count(const std::string &haystack, const std::string &needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + needle.size())) n++;
  return n;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The <svg>...</svg> element with that id, or "".
std::string chart(const std::string &html, const std::string &id) {
  size_t at = html.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  size_t begin = html.rfind("<svg", at), end = html.find("</svg>", at);
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  return html.substr(begin, end + 6 - begin);
}

size_t marks(const std::string &svg) { return count(svg, "<rect") + count(svg, "<path") + count(svg, "<polyline"); }

}  // namespace

TEST_CASE("html: one well-formed, self-contained page") {
  std::string html = render_html(full_report());
  CHECK(html.starts_with("<!DOCTYPE html>"));
  CHECK(count(lower(html), "<html") == 1);
  CHECK(count(html, "</html>") == 1);
  CHECK(count(html, "<body>") == 1);
  CHECK(count(html, "<svg") == count(html, "</svg>"));
  CHECK(count(html, "<svg") >= 4);
  CHECK(count(html, "<table") == count(html, "</table>"));
  CHECK(count(html, "<section") == count(html, "</section>"));
  // Nothing to fetch and nothing to run.
  CHECK(lower(html).find("<script") == std::string::npos);
  CHECK(lower(html).find("<link") == std::string::npos);
  CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg"));
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find("Content-Security-Policy") != std::string::npos);
}

TEST_CASE("html: strings from the traced machine are escaped") {
  std::string html = render_html(full_report());
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("&lt;img src=x onerror=alert(2)&gt;") != std::string::npos);
  CHECK(lower(html).find("<img") == std::string::npos);
  CHECK(html.find("&quot;onload=x&#39;") != std::string::npos);
  CHECK(html.find("\"onload") == std::string::npos);
  CHECK(html.find("/mnt/&lt;b&gt;evil&lt;/b&gt;") != std::string::npos);
  CHECK(html.find("<b>evil") == std::string::npos);
  CHECK(html.find("db&lt;1&gt;&amp;&quot;prod&quot;") != std::string::npos);
  CHECK(html.find("permission denied &lt;EPERM&gt;") != std::string::npos);
  // Control characters shown, never emitted.
  CHECK(html.find('\x1b') == std::string::npos);
  CHECK(html.find("esc\\x1b[2Jape") != std::string::npos);
}

TEST_CASE("html_escape: the five characters, control bytes, invalid UTF-8") {
  CHECK(html_escape("a&b<c>d\"e'f") == "a&amp;b&lt;c&gt;d&quot;e&#39;f");
  CHECK(html_escape("line\nbreak\x07") == "line\\x0abreak\\x07");
  CHECK(html_escape("bad\xff") == "bad\\xff");
  CHECK(html_escape("caf\xc3\xa9") == "caf\xc3\xa9");
}

TEST_CASE("html: every chart with data draws marks") {
  json report = full_report();
  std::string html = render_html(report);
  for (const char *id : {"chart-load", "chart-runq-latency", "chart-dstate", "chart-runq-heatmap", "chart-block-0"}) {
    INFO(id);
    std::string svg = chart(html, id);
    REQUIRE(!svg.empty());
    CHECK(marks(svg) > 0);
  }
  // Stacked load: three areas (running, runnable, blocked), the CPU-count line, the OOM marker.
  std::string load = chart(html, "chart-load");
  CHECK(count(load, "class=\"area ") == 3);
  CHECK(load.find("class=\"ncpu\"") != std::string::npos);
  CHECK(load.find("OOM: &lt;img src=x onerror=alert(2)&gt; (4242)") != std::string::npos);
  // Heatmap: one cell per (interval, non-empty bucket): 4 intervals x 3 buckets.
  CHECK(count(chart(html, "chart-runq-heatmap"), "class=\"cell\"") == 12);
  // Run-queue histogram: three non-empty buckets.
  CHECK(count(chart(html, "chart-runq-latency"), "class=\"bar ") == 3);
  // Block: read and write bars.
  CHECK(count(chart(html, "chart-block-0"), "class=\"bar read\"") == 2);
  CHECK(count(chart(html, "chart-block-0"), "class=\"bar write\"") == 1);
  // TCP was not recorded: no TCP chart, and it says so.
  CHECK(chart(html, "chart-tcp-rates").empty());
  CHECK(html.find("not recorded: the tcp probes") != std::string::npos);
  // The snapshot tables and the netstat delta during the window.
  CHECK(html.find("TcpRetransSegs") != std::string::npos);
  CHECK(html.find("<b>+15</b>") != std::string::npos);
  CHECK(html.find("Killed process 1 (&lt;script&gt;x&lt;/script&gt;)") != std::string::npos);
}

TEST_CASE("html: TCP series are drawn when the report has them") {
  json report = full_report();
  report["tcp"] = {{"lost_events", 0},
                   {"rate_series", json::array({{{"t", 1.0}, {"dt_s", 1.0}, {"retrans_segs", 4}, {"transitions", 10}},
                                                {{"t", 2.0}, {"dt_s", 1.0}, {"retrans_segs", 9}, {"transitions", 3}}})},
                   {"socket_series", json::array({{{"t", 1.0}, {"time_wait", 100}, {"close_wait", 2}},
                                                  {{"t", 2.0}, {"time_wait", 120}, {"close_wait", 5}}})},
                   {"transitions", json::array({{{"from", "TCP_SYN_SENT"}, {"to", "TCP_ESTABLISHED"}, {"count", 7}}})}};
  std::string html = render_html(report);
  std::string rates = chart(html, "chart-tcp-rates"), sockets = chart(html, "chart-tcp-sockets");
  CHECK(count(rates, "<polyline") == 2);  // retransmits and transitions; absent series are skipped
  CHECK(count(sockets, "<polyline") == 2);
  CHECK(html.find("TCP_SYN_SENT") != std::string::npos);
  CHECK(html.find("CLOSE_WAIT stuck during the window") == std::string::npos);  // no leak, no table
  // A leak whose owner was gone by the end is still listed, with its span.
  report["tcp"]["close_wait_leaks"] = json::array({{{"pid", 4242}, {"comm", "<leaky>"}, {"count", 20},
                                                    {"ports", {8080, 8081}}, {"oldest_ms", 8000}, {"still_open", 0},
                                                    {"first_t", 2.0}, {"last_t", 10.0}}});
  html = render_html(report);
  CHECK(html.find("CLOSE_WAIT stuck during the window") != std::string::npos);
  CHECK(html.find("&lt;leaky&gt; (4242)") != std::string::npos);
  CHECK(html.find("8080, 8081") != std::string::npos);
  CHECK(html.find("2.0-10.0 s") != std::string::npos);
  // A tcp section without series renders its tables and no chart.
  report["tcp"] = {{"lost_events", 0}};
  html = render_html(report);
  CHECK(chart(html, "chart-tcp-rates").empty());
  CHECK(html.find("not recorded: the tcp probes") == std::string::npos);
}

TEST_CASE("html: null families say not recorded") {
  json report = empty_report();
  std::string html = render_html(report);
  for (const char *family : {"sched", "block", "tcp", "oom"}) {
    INFO(family);
    CHECK(html.find(std::string("not recorded: the ") + family + " probes") != std::string::npos);
  }
  CHECK(count(html, "<svg") == 0);
  CHECK(html.find("No warning or critical finding") != std::string::npos);
  // Even a report missing keys altogether renders.
  CHECK(render_html(json::object()).find("</html>") != std::string::npos);
}
