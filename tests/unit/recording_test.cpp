// The recording file: written and read back, and every kind of bad input refused with exit 2 and
// one line, never a crash.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "record/event_batch.h"
#include "record/recording.h"
#include "recording_fixture.h"
#include "sched/sched_rows.h"
#include "scratch_dir.h"

using namespace triage;
namespace fs = std::filesystem;

namespace {

// The recording of a window that starts at 1000 ns (the fixture's start): written, then closed.
void write_small_recording(test::RecordingFixture &fx) {
  auto &w = fx.writer();
  w.set_meta("host", "box");
  w.set_probes({{"sched_switch", "sched", "tracepoint sched:sched_switch", "tp_btf", "attached", ""}});
  w.add_series(2000, "sched", "load", {{"runnable", 1.5}});
  w.add_series(3000, "sched", "load", {{"runnable", 2.5}});
  w.add_event(2500, "sched", "runq", {{"pid", 42}, {"comm", "a\x1b[31mb"}});
  DeltaTable<sched::SchedCounters> counters("sched", sched::kCountersTable);
  sched::SchedCounters totals;
  counters.write(2000, {totals}, w);  // nothing changed: no row
  totals.events_lost = 3;
  counters.write(3000, {totals}, w);
  w.put_snapshot("start", {{"uptime_s", 5}});
  fx.close();
}

void write_bytes(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

}  // namespace

TEST_CASE("recording: what is written is read back") {
  test::RecordingFixture fx(1000);
  write_small_recording(fx);
  auto reader = fx.reader();
  auto &r = *reader;
  CHECK(r.meta("host") == json("box"));
  CHECK(r.probes().size() == 1);
  CHECK(r.probes()[0].method == "tp_btf");
  std::vector<double> runnable;
  r.for_each_series("sched", "load", [&](uint64_t, const json &d) { runnable.push_back(d["runnable"]); });
  CHECK(runnable == std::vector<double>{1.5, 2.5});
  int events = 0;
  r.for_each_event("sched", "", [&](uint64_t t, const std::string &kind, const json &d) {
    events++;
    CHECK(t == 2500);
    CHECK(kind == "runq");
    CHECK(d["comm"] == "a\x1b[31mb");  // stored as seen; renderers make it safe
  });
  CHECK(events == 1);
  CHECK(read_counters<sched::SchedCounters>(r, "sched", sched::kCountersTable).events_lost == 3);
  CHECK(r.snapshot("start")->at("uptime_s") == 5);
  CHECK(!r.snapshot("end").has_value());
}

TEST_CASE("recording: created 0600, never over an existing file or through a symlink") {
  test::RecordingFixture fx(1000);
  write_small_recording(fx);
  const std::string &path = fx.path();
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto again = RecordingWriter::create(path);
  REQUIRE(!again.ok());
  CHECK(again.error().exit_code == kExitUsage);

  std::string target = fx.dir().file("victim"), link = fx.dir().file("planted.db");
  write_bytes(target, "precious");
  REQUIRE(symlink(target.c_str(), link.c_str()) == 0);
  auto through_link = RecordingWriter::create(link);
  CHECK(!through_link.ok());
  std::ifstream in(target);
  std::string content;
  in >> content;
  CHECK(content == "precious");
}

TEST_CASE("recording: bad input is exit 2 with one line") {
  ScratchDir dir;
  auto expect_refused = [](const std::string &path, const std::string &words) {
    auto r = RecordingReader::open(path);
    REQUIRE(!r.ok());
    CHECK(r.error().exit_code == kExitUsage);
    CHECK(r.error().message.find('\n') == std::string::npos);
    INFO(r.error().message);
    CHECK(r.error().message.find(words) != std::string::npos);
  };

  expect_refused(dir.file("missing.db"), "cannot open");

  write_bytes(dir.file("empty.db"), "");
  expect_refused(dir.file("empty.db"), "empty");

  std::mt19937 rng(7);
  std::string noise(8192, '\0');
  for (auto &c : noise) c = static_cast<char>(rng());
  write_bytes(dir.file("noise.db"), noise);
  expect_refused(dir.file("noise.db"), "not a triage recording");

  expect_refused(dir.path, "not a regular file");

  // A valid SQLite database that is not a recording.
  {
    sqlite3 *db = nullptr;
    sqlite3_open(dir.file("foreign.db").c_str(), &db);
    sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1);", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  expect_refused(dir.file("foreign.db"), "not a triage recording");

  // A recording from a newer triage.
  test::RecordingFixture newer_fx(1000, "newer.db");
  write_small_recording(newer_fx);
  const std::string &newer = newer_fx.path();
  {
    sqlite3 *db = nullptr;
    sqlite3_open(newer.c_str(), &db);
    sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  expect_refused(newer, "newer");
}

TEST_CASE("recording: truncated at every page boundary is refused or read, never a crash") {
  test::RecordingFixture fx(1000);
  write_small_recording(fx);
  std::ifstream in(fx.path(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() >= 4096 * 3);
  int refused = 0;
  for (size_t cut = 0; cut < bytes.size(); cut += 4096) {
    auto truncated = fx.dir().file("cut" + std::to_string(cut) + ".db");
    write_bytes(truncated, bytes.substr(0, cut));
    auto r = RecordingReader::open(truncated);
    if (!r.ok()) {
      refused++;
      CHECK(r.error().exit_code == kExitUsage);
    }
  }
  CHECK(refused > 0);
}

TEST_CASE("recording: raw event batches keep every record, in order, across early flushes") {
  struct Record {
    uint64_t t_ns;
    uint32_t id, pad;
  };
  test::RecordingFixture fx(0, "blocks.db");
  {
    auto &w = fx.writer();
    // A capacity of 4 records forces flushes in the middle of one drain.
    EventBatch batch("test", "record/1", sizeof(Record), 4);
    batch.begin(w);
    for (uint32_t i = 0; i < 10; i++) {
      Record r{1000u + i, i, 0};
      batch.add(&r, sizeof r, r.t_ns);
    }
    char short_record[4] = {};
    batch.add(short_record, sizeof short_record, 0);  // an ABI mismatch: counted, never stored
    batch.end();
    CHECK(batch.delivered() == 10);
    CHECK(batch.malformed() == 1);
    fx.close();
  }
  auto reader = fx.reader();
  std::vector<uint32_t> ids;
  size_t blocks = 0;
  reader->for_each_event_block("test", [&](const EventBlock &b) {
    blocks++;
    CHECK(b.t_first <= b.t_last);
  });
  for_each_record<Record>(*reader, "test", "record/1", [&](const Record &r) {
    CHECK(r.t_ns == 1000 + r.id);
    ids.push_back(r.id);
  });
  CHECK(blocks == 3);
  CHECK(ids == std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  size_t other_layout = 0;
  for_each_record<Record>(*reader, "test", "record/2", [&](const Record &) { other_layout++; });
  CHECK(other_layout == 0);
}
