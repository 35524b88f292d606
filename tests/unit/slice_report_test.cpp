// Slices of a recording: how --from/--to/--last are read, what is refused (with the recording's
// own range), and a report built from a slice.
#include <catch2/catch.hpp>

#include <fstream>

#include "core/loss_rows.h"
#include "oom/oom_rows.h"
#include "record/recording.h"
#include "report/report.h"
#include "report/slice_args.h"
#include "recording_fixture.h"

using namespace triage;

namespace {
constexpr uint64_t kSecond = 1'000'000'000;
// 2026-12-06T03:12:00Z
constexpr uint64_t kStartRealtimeNs = 1796526720ULL * kSecond;

WindowBounds fifteen_seconds() { return {100 * kSecond, 115 * kSecond, kStartRealtimeNs}; }

Slice slice_of(std::initializer_list<std::optional<std::string>> args) {
  auto it = args.begin();
  SliceArgs a{*it, *(it + 1), *(it + 2)};
  auto s = resolve_slice(a, fifteen_seconds());
  INFO((s ? std::string("ok") : s.error().message));
  REQUIRE(s);
  return *s;
}

std::string refusal(std::initializer_list<std::optional<std::string>> args) {
  auto it = args.begin();
  SliceArgs a{*it, *(it + 1), *(it + 2)};
  auto s = resolve_slice(a, fifteen_seconds());
  REQUIRE(!s);
  CHECK(s.error().exit_code == kExitUsage);
  return s.error().message;
}
}  // namespace

TEST_CASE("slice: durations, clock times and ISO times name the same slice") {
  CHECK(parse_duration_s("90") == 90.0);
  CHECK(parse_duration_s("1m30s") == 90.0);
  CHECK(parse_duration_s("1.5") == 1.5);
  CHECK(parse_duration_s("500ms") == 0.5);
  CHECK(parse_duration_s("2h") == 7200.0);
  CHECK(!parse_duration_s("soon"));
  CHECK(!parse_duration_s("5x"));
  CHECK(!parse_duration_s(""));

  Slice seconds = slice_of({"5", "10", std::nullopt});
  CHECK(seconds.from_ns == 105 * kSecond);
  CHECK(seconds.to_ns == 110 * kSecond);
  Slice clock = slice_of({"03:12:05", "03:12:10", std::nullopt});
  CHECK(clock.from_ns == seconds.from_ns);
  CHECK(clock.to_ns == seconds.to_ns);
  Slice iso = slice_of({"2026-12-06T03:12:05Z", "2026-12-06T03:12:10Z", std::nullopt});
  CHECK(iso.from_ns == seconds.from_ns);
  CHECK(iso.to_ns == seconds.to_ns);

  // From the start or to the end: everything on that side (rows of the attach, the last flush).
  Slice head = slice_of({std::nullopt, "5", std::nullopt});
  CHECK(head.from_ns == 0);
  Slice last = slice_of({std::nullopt, std::nullopt, "1m"});
  CHECK(last.from_ns == 0);  // longer than the window: all of it
  CHECK(last.to_ns == UINT64_MAX);
  Slice tail = slice_of({std::nullopt, std::nullopt, "5s"});
  CHECK(tail.from_ns == 110 * kSecond);
  CHECK(slice_of({std::nullopt, "99", std::nullopt}).to_ns == UINT64_MAX);  // cut at the end
}

TEST_CASE("slice: outside the recording, empty or malformed is refused with the recording's range") {
  for (const auto &message : {refusal({"20", std::nullopt, std::nullopt}), refusal({"8", "6", std::nullopt}),
                              refusal({"soon", std::nullopt, std::nullopt}), refusal({std::nullopt, "03:11:00", std::nullopt}),
                              refusal({std::nullopt, std::nullopt, "-5"}), refusal({"1", std::nullopt, "5s"})}) {
    INFO(message);
    CHECK(message.find("the recording covers 0 to 15.0 s (2026-12-06T03:12:00Z to 2026-12-06T03:12:15Z)") !=
          std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
  }
}

TEST_CASE("slice: a recording of schema 2 is refused, naming both versions") {
  auto r = RecordingReader::open(std::string(TRIAGE_FIXTURES_DIR) + "/recordings/schema2_every_family.db");
  REQUIRE(!r);
  INFO(r.error().message);
  CHECK(r.error().exit_code == kExitUsage);
  CHECK(r.error().message.find("schema 2") != std::string::npos);
  CHECK(r.error().message.find("schema " + std::to_string(kRecordingSchemaVersion)) != std::string::npos);
}

TEST_CASE("slice: a report of a slice counts only its intervals, and its findings' spans lie in it") {
  test::RecordingFixture fx(100 * kSecond, "w.db");
  auto &w = fx.writer();
  w.set_meta("start_realtime_ns", kStartRealtimeNs);
  w.set_meta("end_ns", 115 * kSecond);
  w.set_meta("ncpu", 2);
  w.set_meta("interval_s", 1.0);
  w.set_meta(oom::kOomConfigMeta, {{"method", "tp_btf"}, {"kmsg", "read"}});
  DeltaTable<oom::OomCounters> counters("oom", "counters");
  DeltaTable<LossRow> loss("oom", kLossTable);
  for (uint64_t s = 1; s <= 15; s++) {
    oom::OomCounters c;
    c.marks = s >= 7 ? 2 : 0;  // two kills at 7 s
    c.events_received = c.marks;
    counters.write((100 + s) * kSecond, {c}, w);
    loss.write((100 + s) * kSecond, {LossRow{{}, c.marks, c.marks, 0}}, w);
  }
  for (uint32_t pid : {41u, 42u})
    w.add_event(107 * kSecond - 300'000'000, "oom", "kill",
                {{"victim_pid", pid}, {"victim_comm", "hog"}, {"victim_rss_kb", 1000 * pid}, {"constraint", "memcg"}});
  fx.flush();

  auto reader = fx.reader();
  auto &r = *reader;
  json whole = build_report(r);
  CHECK(whole["oom"]["marks"] == 2);
  CHECK(whole["lost_events"]["families"]["oom"]["produced"] == 2);
  REQUIRE(whole["findings"].size() == 1);
  CHECK(whole["findings"][0]["first_t"] == 6.7);
  CHECK(whole["findings"][0]["peak_t"] == 6.7);
  CHECK(!whole["window"].contains("slice"));

  r.set_slice({105 * kSecond, 110 * kSecond});
  json middle = build_report(r);
  CHECK(middle["window"]["slice"] == json{{"from_s", 5.0}, {"to_s", 10.0}});
  CHECK(middle["window"]["duration_s"] == 5.0);
  CHECK(middle["window"]["recording_duration_s"] == 15.0);
  CHECK(middle["oom"]["marks"] == 2);
  CHECK(middle["findings"].size() == 1);

  r.set_slice({110 * kSecond, UINT64_MAX});
  json tail = build_report(r);
  CHECK(tail["oom"]["marks"] == 0);
  CHECK(tail["oom"]["count"] == 0);
  CHECK(tail["lost_events"]["families"]["oom"]["produced"] == 0);
  CHECK(tail["findings"].empty());
  std::string text = render_text(middle);
  CHECK(text.find("slice 5.0–10.0 s of a 15.0s window") != std::string::npos);
  CHECK(text.find("(at 6.7 s into the window)") != std::string::npos);
}

namespace {
// Keys this triage added to the report after that recording's triage (steal and IRQ shares, PSI,
// cgroup quotas, the calibration loop, tcp.servers): the old report has none of them, and all it has must agree.
void drop_keys_added_since(json &report) {
  json &sched = report["sched"];
  for (const char *key : {"pressure", "cgroup_quota", "cgroup_quota_total", "cgroup_quota_series", "calibration"})
    sched.erase(key);
  for (const char *list : {"cpus", "cpu_busy_series"})
    for (auto &row : sched[list]) {
      row.erase("steal_pct");
      row.erase("irq_pct");
    }
  // tcp: the listeners under pressure per sample, and the SYN sources' peak.
  if (!report["tcp"].is_object()) return;
  report["tcp"].erase("servers");
  for (auto &l : report["tcp"]["listeners"]) l.erase("syn_recv_sources_peak");
}

// Schema 3 stored some interval histograms with empty buckets; the heatmap lists non-empty ones.
void drop_empty_heatmap_buckets(json &report) {
  for (auto &row : report["sched"]["runq_heatmap"]) {
    json kept = json::array();
    for (const auto &b : row["buckets"])
      if (b.value("count", 0) != 0) kept.push_back(b);
    row["buckets"] = kept;
  }
}
}  // namespace

TEST_CASE("slice: a recording of schema 3 renders as the triage that recorded it rendered it") {
  // The .json files are that triage's own reports of the fixture, whole and from 2 to 5 s.
  const std::string fixtures = std::string(TRIAGE_FIXTURES_DIR) + "/recordings/";
  for (const auto &[golden, args] : {std::pair{"schema3_every_family.report.json", SliceArgs{}},
                                     std::pair{"schema3_every_family.slice_2_5.json", SliceArgs{"2", "5", std::nullopt}}}) {
    INFO(golden);
    auto reader = RecordingReader::open(fixtures + "schema3_every_family.db");
    REQUIRE(reader);
    auto slice = resolve_slice(args, WindowBounds::of(**reader));
    REQUIRE(slice);
    (*reader)->set_slice(*slice);
    json now = build_report(**reader);
    std::ifstream in(fixtures + golden);
    json then = json::parse(in);
    drop_empty_heatmap_buckets(now);
    drop_empty_heatmap_buckets(then);
    drop_keys_added_since(now);
    for (const char *family : {"sched", "block", "tcp", "oom", "lost_events", "findings", "window"}) {
      INFO(family);
      CHECK(now[family] == then[family]);
    }
    CHECK(now == then);
  }
}
