// The slice model's keyed tables: totals in, per-interval deltas stored, any slice summed back.
#include <catch2/catch.hpp>

#include "block/block_rows.h"
#include "core/delta_table.h"
#include "core/loss_rows.h"
#include "oom/oom_rows.h"
#include "sched/sched_rows.h"
#include "tcp/tcp_rows.h"
#include "record/recording.h"
#include "recording_fixture.h"

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
  test::RecordingFixture fx(kSecond, "t.db");  // a window that starts at 1 s
  auto &w = fx.writer();
  DeltaTable<WaitRow> table("sched", "waits");
  // Totals since attach, as the kernel would report them at t = 2, 3, 4, 5 s.
  table.write(2 * kSecond, {row(1, "a", 100, 1, 100)}, w);
  table.write(3 * kSecond, {row(1, "a", 100, 1, 100), row(2, "b", 50, 5, 20)}, w);  // only pid 2 changed
  table.write(4 * kSecond, {row(1, "a2", 400, 3, 250), row(2, "b", 50, 5, 20)}, w);
  table.write(5 * kSecond, {row(1, "a2", 390, 3, 250), row(2, "b", 80, 6, 30)}, w);  // pid 1 read short
  fx.flush();

  auto reader = fx.reader();
  auto &r = *reader;
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
  test::RecordingFixture fx(kSecond, "t.db");  // a window that starts at 1 s
  auto &w = fx.writer();
  DeltaTable<WaitRow> table("sched", "waits");
  std::vector<WaitRow> totals;
  uint64_t expected = 0;
  for (uint32_t pid = 1; pid <= kRowsPerInterval + 10; pid++) {
    totals.push_back(row(pid, "p", pid * 10, 1, pid * 10));
    expected += pid * 10;
  }
  table.write(2 * kSecond, totals, w);
  fx.flush();
  auto reader = fx.reader();
  auto t = read_table<WaitRow>(*reader, "sched", "waits");
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
  test::RecordingFixture fx(kSecond, "t.db");  // a window that starts at 1 s
  auto &w = fx.writer();
  w.add_gauge(2 * kSecond, "tcp", "backlog", {{"queued", 3}});
  w.add_gauge(4 * kSecond, "tcp", "backlog", {{"queued", 9}});
  w.add_series(2 * kSecond, "sched", "load", {{"runnable", 1}});
  w.add_series(4 * kSecond, "sched", "load", {{"runnable", 2}});
  w.add_event(3 * kSecond, "oom", "kill", {{"pid", 7}});
  fx.flush();
  auto reader = fx.reader();
  auto &r = *reader;
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

namespace {
// WaitRow with its name declared a label: stored apart, when it changes.
struct NamedWaitRow {
  uint32_t pid = 0;
  std::string comm;
  uint64_t total_ns = 0;
  auto key() const { return pid; }
  uint64_t rank() const { return total_ns; }
  static constexpr auto labels() { return std::tuple{&NamedWaitRow::comm}; }
  static constexpr auto counters() { return std::tuple{&NamedWaitRow::total_ns}; }
  static constexpr auto peaks() { return std::tuple{}; }
  static constexpr auto histograms() { return std::tuple{}; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NamedWaitRow, pid, comm, total_ns)

NamedWaitRow named(uint32_t pid, const std::string &comm, uint64_t total) { return {pid, comm, total}; }

int label_rows_written(const RecordingReader &r) {
  int n = 0;
  r.for_each_gauge_until("sched", "waits/labels", UINT64_MAX,
                         [&](uint64_t, const json &gauge) { n += static_cast<int>(gauge.at("rows").size()); });
  return n;
}
}  // namespace

TEST_CASE("delta table: labels are stored when they change, and a slice gets those in force at its end") {
  test::RecordingFixture fx(kSecond, "t.db");  // a window that starts at 1 s
  auto &w = fx.writer();
  DeltaTable<NamedWaitRow> table("sched", "waits");
  table.write(2 * kSecond, {named(1, "a", 10), named(2, "b", 10)}, w);
  table.write(3 * kSecond, {named(1, "a", 20), named(2, "b", 20)}, w);  // same names: no label row
  table.write(4 * kSecond, {named(1, "a2", 30), named(2, "b", 30)}, w);  // pid 1 renamed
  table.write(5 * kSecond, {named(1, "a2", 40), named(2, "b", 40)}, w);
  fx.flush();
  auto reader = fx.reader();
  auto &r = *reader;
  CHECK(label_rows_written(r) == 3);  // a and b at 2 s, a2 at 4 s

  // A slice after the names were written still has them.
  r.set_slice({static_cast<uint64_t>(4.5 * kSecond), 6 * kSecond});
  auto late = read_table<NamedWaitRow>(r, "sched", "waits");
  REQUIRE(late.rows.size() == 2);
  for (const auto &row : late.rows) {
    CHECK(row.total_ns == 10);
    CHECK(row.comm == (row.pid == 1 ? "a2" : "b"));
  }
  // Before the rename, the old name.
  r.set_slice({static_cast<uint64_t>(2.5 * kSecond), static_cast<uint64_t>(3.5 * kSecond)});
  auto early = read_table<NamedWaitRow>(r, "sched", "waits");
  REQUIRE(early.rows.size() == 2);
  CHECK(std::find_if(early.rows.begin(), early.rows.end(), [](const auto &x) { return x.pid == 1; })->comm == "a");

  // The delta rows are arrays under the table's column list, without the labels.
  auto columns = r.meta(ColumnCodec::meta_key("sched", "waits"));
  REQUIRE(columns);
  r.set_slice({});
  r.for_each_delta("sched", "waits", [&](uint64_t, const json &interval) {
    for (const auto &stored : interval.at("rows")) {
      REQUIRE(stored.is_array());
      CHECK(ColumnCodec::decode(stored, columns->get<std::vector<std::string>>()).value("comm", "") == "");
    }
  });
}

TEST_CASE("delta table: a row's array and its object read back the same, schema 3's objects too") {
  ColumnCodec codec;
  json full = {{"pid", 7}, {"comm", "java"}, {"total_ns", 5}, {"latency", json::array({3, 1, 2, 2, 1})}};
  json sparse = {{"pid", 8}, {"total_ns", 0}, {"comm", ""}};
  json stored_full = codec.encode(full), stored_sparse = codec.encode(sparse);
  CHECK(stored_sparse == json::array({0, 0, 8}));  // comm, latency, pid: blanks stand as 0, trailing ones left out
  const auto &columns = codec.columns();
  CHECK(ColumnCodec::decode(stored_full, columns) == full);
  CHECK(ColumnCodec::decode(stored_sparse, columns) == json{{"pid", 8}});
  CHECK(ColumnCodec::decode(full, columns) == full);  // an object (schema 3) is read as it is
  // A damaged row with more values than columns loses the extra, not the report.
  CHECK(ColumnCodec::decode(json::array({1, 2, 3, 4, 5, 6}), columns).size() == columns.size());
}

namespace {
// A stored 0 reads back as the field's default: true only while every default is 0, "" or empty.
template <typename Row>
void check_defaults_are_blank(const char *name) {
  INFO(name);
  json defaults = Row{};
  for (const auto &[field, value] : defaults.items()) {
    INFO(field);
    bool blank = value.is_null() || (value.is_number() && value == 0) || (value.is_string() && value == "") ||
                 (value.is_structured() && value.empty()) || value == json::array({0, 0, 0});  // an empty histogram
    CHECK(blank);
  }
}
}  // namespace

TEST_CASE("delta table: every stored row's defaults are blank, so a stored 0 reads back exactly") {
  check_defaults_are_blank<sched::ProcessRow>("sched processes");
  check_defaults_are_blank<sched::SchedCounters>("sched counters");
  check_defaults_are_blank<sched::CgroupQuotaRow>("sched cgroup quotas");
  check_defaults_are_blank<block::DeviceOpRow>("block devices");
  check_defaults_are_blank<block::ProcessDeviceRow>("block processes");
  check_defaults_are_blank<block::BlockCounters>("block counters");
  check_defaults_are_blank<tcp::CounterRow>("tcp counters");
  check_defaults_are_blank<tcp::TransitionRow>("tcp transitions");
  check_defaults_are_blank<tcp::PortRow>("tcp ports");
  check_defaults_are_blank<tcp::FlowRow>("tcp flows");
  check_defaults_are_blank<tcp::ListenerCountRow>("tcp listener counts");
  check_defaults_are_blank<tcp::NetnsRow>("tcp netstat");
  check_defaults_are_blank<oom::OomCounters>("oom counters");
  check_defaults_are_blank<LossRow>("loss");
  check_defaults_are_blank<DroppedRow>("dropped");
}

TEST_CASE("recording: a series row is stored by column and reads back as the object written") {
  test::RecordingFixture fx(kSecond, "t.db");  // a window that starts at 1 s
  auto &w = fx.writer();
  const std::vector<json> written = {
      {{"dt_s", 1.0}, {"time_wait", 0}, {"close_wait", 3}, {"name", "vda"}},
      {{"dt_s", 1.0}, {"time_wait", 7}},  // between walks close_wait is unknown: absent, not 0
      {{"dt_s", 0.5}, {"time_wait", 0}, {"close_wait", 0}, {"new_key", json::array({1, 2})}, {"name", ""}}};
  for (size_t i = 0; i < written.size(); i++) w.add_series((2 + i) * kSecond, "tcp", "sockets", written[i]);
  fx.flush();
  auto reader = fx.reader();
  std::vector<json> read;
  reader->for_each_series("tcp", "sockets", [&](uint64_t, const json &row) { read.push_back(row); });
  CHECK(read == written);
  CHECK(reader->columns("tcp", "sockets").size() == 5);
}
