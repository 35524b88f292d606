// The block family's aggregation and report, fed synthetic totals through a real recording file.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>

#include "block/block_aggregate.h"
#include "block/block_report.h"
#include "core/histogram.h"
#include "record/recording.h"
#include "recording_fixture.h"
#include "sched_rows_util.h"

using namespace triage;
using namespace triage::block;

namespace {

constexpr uint64_t kStart = 1'000'000'000'000ULL;  // monotonic ns of the window's start
constexpr uint64_t kSecond = 1'000'000'000ULL;
const uint32_t kLoop0 = make_dev(7, 0);
const uint32_t kSda = make_dev(8, 0);

std::string name_of(uint32_t dev) { return dev == kLoop0 ? "loop0" : dev == kSda ? "sda" : ""; }

// Adds `n` completions of `latency_us` and `bytes` each to a device's op.
void add_requests(DeviceTotals &d, int op, uint64_t n, uint64_t latency_us, uint64_t bytes) {
  auto &o = d.ops[op];
  for (uint64_t i = 0; i < n; i++) {
    o.count++;
    o.bytes += bytes;
    o.latency_us.add(latency_us);
    o.size_bytes.add(bytes);
  }
}

json build(const test::RecordingFixture &fx) { return build_section(*fx.reader(), kStart); }

}  // namespace

TEST_CASE("block timeline rows are per-interval deltas of the cumulative totals", "[block]") {
  test::RecordingFixture fx(kStart);  // a recording without a window start is refused
  auto &w = fx.writer();
  BlockSampler sampler(name_of);
  sampler.start(kStart);

  DeviceTotals loop0;
  loop0.dev = kLoop0;
  add_requests(loop0, BLOCK_OP_READ, 100, 100, 4096);  // interval 1: 100 fast reads
  SampleInput in;
  in.method = "tp_btf";
  in.devices = {loop0};
  in.processes = {{4242, kLoop0, "dd", 50'000'000, 100, 409600}};
  sampler.sample(kStart + kSecond, in, w);

  add_requests(loop0, BLOCK_OP_WRITE, 50, 200'000, 8192);  // interval 2: 50 slow writes
  in.devices = {loop0};
  in.counters.completions = 150;
  in.counters.unpaired_completions = 3;
  in.counters.dropped_requests = 1;
  sampler.sample(kStart + 2 * kSecond, in, w);

  // A sliver of an interval at the final flush joins no timeline row.
  sampler.sample(kStart + 2 * kSecond + 1'000'000, in, w);
  fx.flush();

  json s = build(fx);
  REQUIRE(s["timeline"].size() == 2);
  CHECK(s["timeline"][0]["dev"] == "7:0");
  CHECK(s["timeline"][0]["name"] == "loop0");
  CHECK(s["timeline"][0]["iops"].get<double>() == Approx(100));
  CHECK(s["timeline"][0]["mbps"].get<double>() == 0.41);  // 0.4096, to the hundredth
  CHECK(s["timeline"][0]["p99_us"].get<double>() <= 128);
  CHECK(s["timeline"][1]["iops"].get<double>() == Approx(50));
  // Only the second interval's writes: the timeline shows when the disk slowed down.
  CHECK(s["timeline"][1]["p50_us"].get<double>() >= 131072);
  CHECK(s["timeline"][1]["t"].get<double>() == Approx(2.0));

  REQUIRE(s["devices"].size() == 1);
  const json &ops = s["devices"][0]["ops"];
  CHECK(ops["read"]["count"] == 100);
  CHECK(ops["write"]["count"] == 50);
  CHECK(ops["write"]["bytes"] == 50 * 8192);
  CHECK(ops["flush"]["count"] == 0);
  CHECK(ops["discard"]["count"] == 0);
  CHECK(ops["read"]["latency"]["unit"] == "us");
  CHECK(ops["read"]["size"]["count"] == 100);
  CHECK(s["unpaired_completions"] == 3);
  CHECK(s["dropped_requests"] == 1);
  CHECK(s["lost_events"] == 0);
  CHECK(s["top_processes"][0]["pid"] == 4242);
  CHECK(s["top_processes"][0]["devices"][0]["name"] == "loop0");
  CHECK(s["dstate_devices"].is_null());  // sched not recorded: nothing to tie
}

TEST_CASE("per-process rows add the per-CPU write-back caches by process and device", "[block]") {
  std::vector<ProcessDeviceTotals> rows = {{100, kLoop0, "fio", 5000, 10, 40960}};
  std::vector<block_proc_cache> caches(2);
  std::memset(caches.data(), 0, caches.size() * sizeof(block_proc_cache));
  auto put = [](block_proc_cache &c, int slot, uint32_t tgid, uint32_t dev, const char *comm, uint64_t total_ns,
                uint64_t count, uint64_t bytes) {
    auto &e = c.entries[slot];
    e.key = {tgid, dev};
    e.stats.total_ns = total_ns;
    e.stats.count = count;
    e.stats.bytes = bytes;
    std::strncpy(e.stats.comm, comm, sizeof e.stats.comm);
  };
  put(caches[0], 3, 100, kLoop0, "fio", 700, 2, 8192);      // a row proc_stats has: added to it
  put(caches[1], 9, 100, kLoop0, "fio", 300, 1, 4096);      // the same key on another CPU
  put(caches[1], 10, 100, kSda, "fio", 50, 1, 512);         // same process, another device: its own row
  put(caches[0], 20, 200, kSda, "dd", 9000, 3, 3 << 20);    // never written back yet: a new row
  put(caches[0], 21, 300, kSda, "stale", 0, 0, 0);          // count 0: an empty slot, whatever it holds
  add_cached_processes(rows, caches);

  REQUIRE(rows.size() == 3);
  auto row = [&](uint32_t tgid, uint32_t dev) -> const ProcessDeviceTotals & {
    auto it = std::find_if(rows.begin(), rows.end(), [&](const auto &r) { return r.tgid == tgid && r.dev == dev; });
    REQUIRE(it != rows.end());
    return *it;
  };
  CHECK(row(100, kLoop0).total_ns == 6000);
  CHECK(row(100, kLoop0).count == 13);
  CHECK(row(100, kLoop0).bytes == 40960 + 8192 + 4096);
  CHECK(row(100, kSda).count == 1);
  CHECK(row(100, kSda).comm == "fio");
  CHECK(row(200, kSda).comm == "dd");
  CHECK(row(200, kSda).total_ns == 9000);
  CHECK(row(200, kSda).bytes == (3u << 20));
}

TEST_CASE("block outliers keep who, where and how slow", "[block]") {
  test::RecordingFixture fx(kStart);  // a recording without a window start is refused
  auto &w = fx.writer();
  block_event e{};
  e.end_ns = kStart + 3 * kSecond / 2;
  e.latency_ns = 250'000'000;
  e.sector = 2048;
  e.bytes = 4096;
  e.dev = kSda;
  e.op = BLOCK_OP_WRITE;
  e.pid = 11;
  e.tgid = 10;
  std::strcpy(e.comm, "postgres");
  w.add_event(e.end_ns, "block", op_name(e.op), outlier_row(e, "sda"));
  BlockSampler sampler(name_of);
  sampler.start(kStart);
  SampleInput in;
  in.method = "raw_tp";
  in.counters.events_lost = 2;
  sampler.sample(kStart + 2 * kSecond, in, w);
  fx.flush();

  json s = build(fx);
  REQUIRE(s["outliers"].size() == 1);
  const json &o = s["outliers"][0];
  CHECK(o["pid"] == 10);
  CHECK(o["comm"] == "postgres");
  CHECK(o["dev"] == "8:0");
  CHECK(o["op"] == "write");
  CHECK(o["sector"] == 2048);
  CHECK(o["size"] == 4096);
  CHECK(o["latency_ns"] == 250'000'000);
  CHECK(o["t"].get<double>() == Approx(1.5));
  CHECK(s["lost_events"] == 2);
}

TEST_CASE("disk-slow fires on a high read/write p99 and ties D-state processes to devices", "[block]") {
  test::RecordingFixture fx(kStart);  // a recording without a window start is refused
  auto &w = fx.writer();
  BlockSampler sampler(name_of);
  sampler.start(kStart);
  DeviceTotals slow, fast;
  slow.dev = kLoop0;
  fast.dev = kSda;
  add_requests(slow, BLOCK_OP_WRITE, 100, 80'000, 4096);  // p99 ~80 ms
  add_requests(fast, BLOCK_OP_READ, 100, 200, 4096);
  add_requests(fast, BLOCK_OP_FLUSH, 100, 900'000, 0);  // slow flushes alone do not make a slow disk
  SampleInput in;
  in.devices = {slow, fast};
  in.processes = {{300, kLoop0, "writer", 8'000'000'000ULL, 100, 409600}};
  sampler.sample(kStart + kSecond, in, w);
  sched::ProcessRow nfsclient;
  nfsclient.pid = 301;
  nfsclient.comm = "nfsclient";
  nfsclient.d_other_total_ns = 500'000'000;
  nfsclient.d_other_count = 1;
  sched_test::write_config(w);
  sched_test::write_processes(w, kStart + kSecond,
                              {sched_test::dstate_io_row(300, "writer", "/", 900'000'000, 10, 200'000'000), nfsclient});
  fx.flush();

  json report;
  report["block"] = build(fx);
  REQUIRE(report["block"]["dstate_devices"].size() == 1);
  CHECK(report["block"]["dstate_devices"][0]["pid"] == 300);
  CHECK(report["block"]["dstate_devices"][0]["devices"][0]["name"] == "loop0");
  REQUIRE(report["block"]["dstate_unmatched"].size() == 1);
  CHECK(report["block"]["dstate_unmatched"][0]["pid"] == 301);

  // sched's io-saturation is already there: block adds the devices to its evidence.
  json findings = json::array({{{"id", "io-saturation"}, {"severity", "warning"}, {"evidence", json::object()}}});
  add_findings(report, findings);
  REQUIRE(findings.size() == 2);
  CHECK(findings[0]["evidence"]["dstate_on_devices"].get<std::string>().find("writer (300) -> loop0 (7:0)") !=
        std::string::npos);
  CHECK(findings[1]["id"] == "disk-slow");
  CHECK(findings[1]["severity"] == "warning");
  CHECK(findings[1]["evidence"]["dev"] == "7:0");
  CHECK(findings[1]["evidence"]["top_submitters"] == "writer (300)");

  std::string text;
  render_text(report["block"], text);
  CHECK(text.find("loop0 (7:0)") != std::string::npos);
  CHECK(text.find("nfsclient (301)") != std::string::npos);
}

TEST_CASE("a quiet disk and a lone slow request yield no finding", "[block]") {
  test::RecordingFixture fx(kStart);  // a recording without a window start is refused
  auto &w = fx.writer();
  BlockSampler sampler(name_of);
  sampler.start(kStart);
  DeviceTotals d;
  d.dev = kSda;
  add_requests(d, BLOCK_OP_READ, 5, 2'000'000, 4096);  // too few requests for a p99
  SampleInput in;
  in.devices = {d};
  sampler.sample(kStart + kSecond, in, w);
  fx.flush();
  json report;
  report["block"] = build(fx);
  json findings = json::array();
  add_findings(report, findings);
  CHECK(findings.empty());
}

namespace {

// One window of `seconds` on sda: `writes` synchronous writes of 4 KiB at `write_us` each, each
// followed by a flush, queued `queue_us` in the scheduler; the sched family saw `blocked_avg` tasks
// in D, all of them `writer` (pid 500), which submitted the writes.
json sync_writer_report(uint64_t write_us, uint64_t queue_us, double blocked_avg) {
  test::RecordingFixture fx(kStart);  // a recording without a window start is refused
  auto &w = fx.writer();
  BlockSampler sampler(name_of);
  sampler.start(kStart);
  DeviceTotals sda;
  sda.dev = kSda;
  add_requests(sda, BLOCK_OP_WRITE, 6000, write_us, 4096);
  add_requests(sda, BLOCK_OP_FLUSH, 6000, 300, 0);
  for (int i = 0; i < 6000; i++) sda.ops[BLOCK_OP_WRITE].queue_us.add(queue_us);
  SampleInput in;
  in.devices = {sda};
  in.processes = {{500, kSda, "fsync_loop", 55'000'000'000ULL, 6000, 6000 * 4096}};
  sampler.sample(kStart + 60 * kSecond, in, w);
  sched_test::write_config(w);
  sched_test::write_processes(w, kStart + 60 * kSecond,
                              {sched_test::dstate_io_row(500, "fsync_loop", "/", 55'000'000'000ULL, 6000, 2'000'000)});
  fx.flush();
  json report;
  report["window"] = {{"duration_s", 60.0}};
  report["block"] = build(fx);
  json findings = json::array({{{"id", "io-saturation"},
                                {"severity", "warning"},
                                {"title", "I/O-bound"},
                                {"evidence", {{"blocked_avg", blocked_avg}, {"top_dstate", "fsync_loop (500)"}}},
                                {"advice", "check the devices"}}});
  add_findings(report, findings);
  return findings;
}

}  // namespace

TEST_CASE("one synchronous writer on a fast, idle device is sync-writes, not io-saturation", "[block]") {
  json findings = sync_writer_report(110, 2, 0.92);
  REQUIRE(findings.size() == 1);
  const json &f = findings[0];
  CHECK(f["id"] == "sync-writes");
  CHECK(f["severity"] == "warning");
  CHECK(f["title"].get<std::string>().find("fsync_loop (500)") != std::string::npos);
  CHECK(f["title"].get<std::string>().find("100 flushes/s") != std::string::npos);
  CHECK(f["evidence"]["flushes_per_s"] == 100.0);
  CHECK(f["evidence"]["writes_per_s"] == 100.0);
  CHECK(f["evidence"]["blocked_avg"] == 0.92);
  CHECK(f["evidence"]["devices"].get<std::string>().find("sda (8:0): p99 ") != std::string::npos);
  CHECK(f["advice"].get<std::string>().find("fsync") != std::string::npos);
}

TEST_CASE("a slow device, a long queue or many blocked tasks keep io-saturation", "[block]") {
  SECTION("slow device") {
    json findings = sync_writer_report(80'000, 2, 0.92);  // p99 ~80 ms: disk-slow too
    CHECK(findings[0]["id"] == "io-saturation");
    CHECK(findings[1]["id"] == "disk-slow");
  }
  SECTION("requests queue behind a busy device") { CHECK(sync_writer_report(110, 5'000, 0.92)[0]["id"] == "io-saturation"); }
  SECTION("many tasks in D") { CHECK(sync_writer_report(110, 2, 6.0)[0]["id"] == "io-saturation"); }
}

TEST_CASE("every block count says what it counts: flushes ended by the kernel are not lost data", "[block]") {
  json s = {{"completions", 60'000},
            {"unissued_flushes", 59'742},
            {"unpaired_completions", 3},
            {"partial_completions", 0},
            {"dropped_requests", 1},
            {"recursion_misses", 0},
            {"devices", json::array({{{"ops", {{"flush", {{"count", 59'742}}}}}}})}};
  auto lines = request_accounting(s);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "completed and timed (issue to completion): 60000");
  CHECK(lines[1].starts_with("flushes ended without an issue of their own: 59742 — not lost data"));
  CHECK(lines[1].find("the flush rows: 59742") != std::string::npos);
  CHECK(lines[2].starts_with("completions without a seen issue: 3 — not lost data"));
  CHECK(lines[2].find("flush rows") == std::string::npos);  // 3 is nowhere near 59742 flushes
  CHECK(lines[3].starts_with("requests not followed (the in-flight table was full): 1"));

  // A recording from before flushes were told apart: the one count says it holds them.
  s["unissued_flushes"] = nullptr;
  s["unpaired_completions"] = 59'745;
  lines = request_accounting(s);
  REQUIRE(lines.size() == 3);
  CHECK(lines[1].find("59745 — not lost data") != std::string::npos);
  CHECK(lines[1].find("here about the 59742 flush rows: one such write per flush") != std::string::npos);
  CHECK(lines[1].find("so do flushes the block layer served with its own flush request") != std::string::npos);
}

TEST_CASE("a flush's sector sentinel reads unknown, and timeline rates are rounded", "[block]") {
  test::RecordingFixture fx(kStart);  // a recording without a window start is refused
  auto &w = fx.writer();
  block_event e{};
  e.end_ns = kStart + kSecond;
  e.latency_ns = 300'000'000;
  e.sector = UINT64_MAX;  // blk_rq_init()'s (sector_t)-1, kept by flushes
  e.dev = kSda;
  e.op = BLOCK_OP_FLUSH;
  std::strcpy(e.comm, "jbd2/sda1-8");
  CHECK(outlier_row(e, "sda")["sector"].is_null());
  json old_row = outlier_row(e, "sda");
  old_row["sector"] = UINT64_MAX;  // as recordings made before this stored it
  w.add_event(e.end_ns, "block", "flush", old_row);
  w.add_series(kStart + kSecond, "block", "timeline",
                        {{"dt_s", 0.3}, {"dev", "8:0"}, {"name", "sda"}, {"count", 1}, {"iops", 3.3333333333333335},
                         {"mbps", 0.30000000000000004}, {"p50_us", 12.345678}, {"p99_us", 110.123456}});
  BlockSampler sampler(name_of);
  sampler.start(kStart);
  SampleInput in;
  in.method = "tp_btf";
  in.counters.completions = 5;
  in.counters.unissued_flushes = 7;
  sampler.sample(kStart + 2 * kSecond, in, w);
  fx.flush();

  json s = build(fx);
  CHECK(s["unissued_flushes"] == 7);
  CHECK(s["outliers"][0]["sector"].is_null());
  CHECK(s["timeline"][0]["iops"] == 3.33);
  CHECK(s["timeline"][0]["mbps"] == 0.3);
  CHECK(s["timeline"][0]["p50_us"] == 12.35);
  CHECK(s["timeline"][0]["p99_us"] == 110.12);
  std::string text;
  render_text(s, text);
  CHECK(text.find("sector unknown") != std::string::npos);
  CHECK(text.find("18446744073709551615") == std::string::npos);
  CHECK(text.find("flushes ended without an issue of their own: 7 — not lost data") != std::string::npos);
}

TEST_CASE("a slow second inside a quiet window is disk-slow, stamped with when it held", "[block]") {
  test::RecordingFixture fx(kStart);  // a recording without a window start is refused
  auto &w = fx.writer();
  BlockSampler sampler(name_of);
  sampler.start(kStart);
  DeviceTotals sda;
  sda.dev = kSda;
  SampleInput in;
  in.method = "tp_btf";
  for (uint64_t i = 1; i <= 10; i++) {
    add_requests(sda, BLOCK_OP_READ, 1000, 100, 4096);             // fast reads all along
    if (i == 6) add_requests(sda, BLOCK_OP_WRITE, 50, 80'000, 4096);  // one slow second: 0.5 % of the window
    in.devices = {sda};
    in.counters.completions = sda.ops[BLOCK_OP_READ].count + sda.ops[BLOCK_OP_WRITE].count;
    sampler.sample(kStart + i * kSecond, in, w);
  }
  fx.flush();

  auto reader = fx.reader();
  auto findings_of = [&](uint64_t from_s, uint64_t to_s) {
    reader->set_slice({kStart + from_s * kSecond, kStart + to_s * kSecond});
    json report;
    report["block"] = build_section(*reader, kStart);
    json findings = json::array();
    add_findings(report, findings);
    return std::pair{report["block"], findings};
  };
  auto [whole, findings] = findings_of(0, 10);
  CHECK(whole["devices"][0]["read_write_latency"]["p99"].get<double>() < 50'000);  // the window's p99 hides it
  REQUIRE(findings.size() == 1);
  CHECK(findings[0]["id"] == "disk-slow");
  CHECK(findings[0]["evidence"]["slow_intervals"] == 1);
  CHECK(findings[0]["first_t"] == 6.0);
  CHECK(findings[0]["last_t"] == 6.0);
  CHECK(findings[0]["peak_t"] == 6.0);
  CHECK(findings_of(0, 5).second.empty());
  CHECK(findings_of(6, 10).second.empty());
  auto [burst, burst_findings] = findings_of(5, 6);
  REQUIRE(burst_findings.size() == 1);
  CHECK(burst_findings[0]["title"].get<std::string>().find("Disk sda (8:0) is slow") == 0);

  // The slices' counts add up to the window's, per operation and for the counters.
  uint64_t reads = 0, writes = 0, completions = 0;
  for (auto [from, to] : {std::pair{0, 3}, std::pair{3, 6}, std::pair{6, 10}}) {
    json s = findings_of(from, to).first;
    reads += s["devices"][0]["ops"]["read"]["count"].get<uint64_t>();
    writes += s["devices"][0]["ops"]["write"]["latency"]["count"].get<uint64_t>();
    completions += s["completions"].get<uint64_t>();
  }
  CHECK(reads == 10'000);
  CHECK(writes == 50);
  CHECK(completions == whole["completions"].get<uint64_t>());
  CHECK(completions == 10'050);
}

TEST_CASE("a device row is stored compact and read back exactly", "[block]") {
  DeviceOpRow row;
  row.dev = kSda;
  row.op = "write";
  row.count = 3;
  row.bytes = 12288;
  for (uint64_t us : {40, 70, 5000}) row.latency_us.add(us);
  row.size_bytes.add(4096);
  json stored = row;
  CHECK(!stored.contains("queue_us"));   // empty: left out
  CHECK(!stored.contains("name"));
  // [sum, min, max, then (le, count) of the non-empty slots only]: 3 slots, no percentiles.
  CHECK(stored["latency_us"].size() == 3 + 2 * 3);
  auto back = stored.get<DeviceOpRow>();
  CHECK(back.key() == row.key());
  CHECK(back.count == 3);
  CHECK(back.latency_us.to_json("us") == row.latency_us.to_json("us"));
  CHECK(back.size_bytes.to_json("bytes") == row.size_bytes.to_json("bytes"));
  CHECK(back.queue_us.count() == 0);
}
