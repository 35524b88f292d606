// The slice model's keyed tables: totals in, per-interval deltas stored, any slice summed back.
#include <catch2/catch.hpp>

#include "core/delta_table.h"
#include "record/recording.h"
#include "scratch_dir.h"

using namespace triage;

namespace {

struct WaitRow {
  uint32_t pid = 0;
  std::string comm;
  uint64_t total_ns = 0, count = 0, max_ns = 0;
  Log2Histogram latency;
  auto key() const { return pid; }
  uint64_t rank() const { return total_ns; }
  static constexpr auto counters() { return std::tuple{&WaitRow::total_ns, &WaitRow::count}; }
  static constexpr auto peaks() { return std::tuple{&WaitRow::max_ns}; }
  static constexpr auto histograms() { return std::tuple{&WaitRow::latency}; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(WaitRow, pid, comm, total_ns, count, max_ns, latency)

WaitRow row(uint32_t pid, const std::string &comm, uint64_t total, uint64_t count, uint64_t max) {
  WaitRow r;
  r.pid = pid;
  r.comm = comm;
  r.total_ns = total;
  r.count = count;
  r.max_ns = max;
  for (uint64_t i = 0; i < count; i++) r.latency.add(100);  // cumulative, as the kernel keeps it
  return r;
}

constexpr uint64_t kSecond = 1'000'000'000;

}  // namespace

TEST_CASE("delta table: consecutive slices add up to the whole window, labels from the latest") {
  ScratchDir dir;
  auto writer = RecordingWriter::create(dir.file("t.db"));
  REQUIRE(writer);
  auto &w = **writer;
  w.set_meta("start_ns", kSecond);
  DeltaTable<WaitRow> table("sched", "waits");
  // Totals since attach, as the kernel would report them at t = 2, 3, 4, 5 s.
  table.write(2 * kSecond, {row(1, "a", 100, 1, 100)}, w);
  table.write(3 * kSecond, {row(1, "a", 100, 1, 100), row(2, "b", 50, 5, 20)}, w);  // only pid 2 changed
  table.write(4 * kSecond, {row(1, "a2", 400, 3, 250), row(2, "b", 50, 5, 20)}, w);
  table.write(5 * kSecond, {row(1, "a2", 390, 3, 250), row(2, "b", 80, 6, 30)}, w);  // pid 1 read short
  REQUIRE(w.flush());

  auto reader = RecordingReader::open(dir.file("t.db"));
  REQUIRE(reader);
  auto &r = **reader;
  auto whole = read_table<WaitRow>(r, "sched", "waits");
  REQUIRE(whole.rows.size() == 2);
  CHECK(whole.rows[0].pid == 1);
  CHECK(whole.rows[0].comm == "a2");
  CHECK(whole.rows[0].total_ns == 400);  // the short read counts nothing, never a negative
  CHECK(whole.rows[0].count == 3);
  CHECK(whole.rows[0].max_ns == 250);
  CHECK(whole.rows[0].latency.count() == 3);
  CHECK(whole.rows[1].total_ns == 80);
  CHECK(whole.intervals == 4);

  uint64_t sum_total = 0, sum_count = 0;
  for (auto [from, to] : {std::pair{0.0, 2.5}, std::pair{2.5, 3.5}, std::pair{3.5, 9.0}}) {
    r.set_slice({static_cast<uint64_t>(from * kSecond), static_cast<uint64_t>(to * kSecond)});
    for (const auto &x : read_table<WaitRow>(r, "sched", "waits").rows) {
      sum_total += x.total_ns;
      sum_count += x.count;
    }
  }
  CHECK(sum_total == 480);
  CHECK(sum_count == 9);

  r.set_slice({static_cast<uint64_t>(2.5 * kSecond), static_cast<uint64_t>(3.5 * kSecond)});
  auto middle = read_table<WaitRow>(r, "sched", "waits");
  REQUIRE(middle.rows.size() == 1);
  CHECK(middle.rows[0].pid == 2);
  CHECK(middle.rows[0].max_ns == 20);
}

TEST_CASE("delta table: past the per-interval row limit the rest is one 'other' row, totals exact") {
  ScratchDir dir;
  auto writer = RecordingWriter::create(dir.file("t.db"));
  REQUIRE(writer);
  auto &w = **writer;
  w.set_meta("start_ns", kSecond);
  DeltaTable<WaitRow> table("sched", "waits");
  std::vector<WaitRow> totals;
  uint64_t expected = 0;
  for (uint32_t pid = 1; pid <= kRowsPerInterval + 10; pid++) {
    totals.push_back(row(pid, "p", pid * 10, 1, pid * 10));
    expected += pid * 10;
  }
  table.write(2 * kSecond, totals, w);
  REQUIRE(w.flush());
  auto reader = RecordingReader::open(dir.file("t.db"));
  REQUIRE(reader);
  auto t = read_table<WaitRow>(**reader, "sched", "waits");
  CHECK(t.rows.size() == kRowsPerInterval);
  REQUIRE(t.other.has_value());
  CHECK(t.other_keys == 10);
  CHECK(t.key_count() == kRowsPerInterval + 10);
  uint64_t got = t.other->total_ns;
  for (const auto &x : t.rows) got += x.total_ns;
  CHECK(got == expected);
  CHECK(t.rows.front().pid == kRowsPerInterval + 10);  // the largest kept whole
}

TEST_CASE("recording: gauges read at or before the slice's end, events and series by slice") {
  ScratchDir dir;
  auto writer = RecordingWriter::create(dir.file("t.db"));
  REQUIRE(writer);
  auto &w = **writer;
  w.set_meta("start_ns", kSecond);
  w.add_gauge(2 * kSecond, "tcp", "backlog", {{"queued", 3}});
  w.add_gauge(4 * kSecond, "tcp", "backlog", {{"queued", 9}});
  w.add_series(2 * kSecond, "sched", "load", {{"runnable", 1}});
  w.add_series(4 * kSecond, "sched", "load", {{"runnable", 2}});
  w.add_event(3 * kSecond, "oom", "kill", {{"pid", 7}});
  REQUIRE(w.flush());
  auto reader = RecordingReader::open(dir.file("t.db"));
  REQUIRE(reader);
  auto &r = **reader;
  CHECK(r.last_gauge("tcp", "backlog")->second["queued"] == 9);
  r.set_slice({3 * kSecond, static_cast<uint64_t>(3.5 * kSecond)});
  auto held = r.last_gauge("tcp", "backlog");
  REQUIRE(held);
  CHECK(held->first == 2 * kSecond);  // the level read before the slice still holds in it
  int gauges = 0, series = 0, events = 0;
  r.for_each_gauge("tcp", "backlog", [&](uint64_t, const json &) { gauges++; });
  r.for_each_series("sched", "load", [&](uint64_t, const json &) { series++; });
  r.for_each_event("oom", "", [&](uint64_t, const std::string &, const json &) { events++; });
  CHECK(gauges == 0);
  CHECK(series == 0);
  CHECK(events == 0);
  r.set_slice({static_cast<uint64_t>(2.5 * kSecond), 4 * kSecond});
  r.for_each_gauge("tcp", "backlog", [&](uint64_t, const json &) { gauges++; });
  r.for_each_series("sched", "load", [&](uint64_t, const json &) { series++; });
  r.for_each_event("oom", "", [&](uint64_t, const std::string &, const json &) { events++; });
  CHECK(gauges == 1);
  CHECK(series == 1);
  CHECK(events == 1);
}
