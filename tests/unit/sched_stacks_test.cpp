// D-state kernel stacks: symbolizing return addresses from kallsyms text, trimming frames for the
// report, and the per-(process, stack) table summed over slices of a made-up recording.
#include <catch2/catch.hpp>

#include "record/recording.h"
#include "report/report.h"
#include "sched/kernel_symbols.h"
#include "sched/sched_rows.h"
#include "recording_fixture.h"
#include "sched_rows_util.h"

using namespace triage;
using sched::KernelSymbols;

namespace {

constexpr const char *kKallsyms =
    "ffffffff81000000 T _stext\n"
    "ffffffff81001000 t __schedule\n"
    "ffffffff81001800 T schedule\n"
    "ffffffff81002000 T io_schedule\n"
    "ffffffff81002100 D some_data\n"
    "ffffffff81003000 T folio_wait_bit_common\n"
    "ffffffff81004000 W weak_function\n"
    "ffffffff81005000 T _etext\n"
    "ffffffffc0001000 t ext4_sync_file\t[ext4]\n"
    "ffffffffc0000000 t jbd2_log_wait_commit\t[jbd2]\n";

}  // namespace

TEST_CASE("kernel symbols: an address is named by the text symbol that holds it") {
  const auto symbols = KernelSymbols::parse(kKallsyms);
  REQUIRE(symbols.usable());
  CHECK(symbols.name_of(0xffffffff81002000) == "io_schedule");
  CHECK(symbols.name_of(0xffffffff81002345) == "io_schedule");  // data symbols do not cut a function
  CHECK(symbols.name_of(0xffffffff81001900) == "schedule");
  CHECK(symbols.name_of(0xffffffff81003fff) == "folio_wait_bit_common");
  CHECK(symbols.name_of(0xffffffff81004010) == "weak_function");
  // Modules, listed out of address order, with their [module] after the name.
  CHECK(symbols.name_of(0xffffffffc0000010) == "jbd2_log_wait_commit");
  CHECK(symbols.name_of(0xffffffffc0001234) == "ext4_sync_file");
  // Below every symbol, or far past the last: an address, never a guess.
  CHECK(symbols.name_of(0xffffffff80000000) == "0xffffffff80000000");
  CHECK(symbols.name_of(0xffffffffc1000000) == "0xffffffffc1000000");
}

TEST_CASE("kernel symbols: addresses hidden by kptr_restrict name nothing") {
  const auto hidden = KernelSymbols::parse(
      "0000000000000000 T _stext\n0000000000000000 T io_schedule\n0000000000000000 t ext4_sync_file\t[ext4]\n");
  CHECK(!hidden.usable());
  CHECK(hidden.name_of(0xffffffff81002000) == "0xffffffff81002000");
  CHECK(!KernelSymbols::parse("").usable());
  CHECK(!KernelSymbols::parse("garbage\nffffffff81000000\nzz T x\n").usable());
  CHECK(!KernelSymbols::load("/nonexistent/kallsyms").usable());
}

TEST_CASE("kernel stacks: the report's frames skip the scheduler's own and stop at the limit") {
  size_t hidden = 0;
  auto frames = sched::interesting_frames({"__schedule", "schedule", "io_schedule", "folio_wait_bit_common",
                                           "filemap_fdatawait_range", "do_fsync", "do_syscall_64"},
                                          3, &hidden);
  CHECK(frames == std::vector<std::string>{"io_schedule", "folio_wait_bit_common", "filemap_fdatawait_range"});
  CHECK(hidden == 2);
  frames = sched::interesting_frames({"__schedule", "schedule"}, 8, &hidden);
  CHECK(frames.size() == 2);  // only the scheduler: shown rather than nothing
  CHECK(hidden == 0);
  CHECK(sched::interesting_frames({}, 8, &hidden).empty());
}

TEST_CASE("D-state stacks: a stack row keys on its stack id and reads its frames back") {
  sched::DStateStackRow row;
  row.pid = 300;
  row.stack = "io_schedule;folio_wait_bit_common;do_fsync";
  row.stack_id = sched::DStateStackRow::stack_id_of(row.stack);
  CHECK(row.stack_id != 0);
  CHECK(row.stack_id != sched::DStateStackRow::stack_id_of("io_schedule;do_fsync"));
  CHECK(row.frames() == std::vector<std::string>{"io_schedule", "folio_wait_bit_common", "do_fsync"});
  CHECK(sched::DStateStackRow{}.frames().empty());
}

namespace {

constexpr uint64_t kStart = 1'000'000'000, kSecond = 1'000'000'000;
const std::string kFsyncStack = "__schedule;schedule;io_schedule;folio_wait_bit_common;file_write_and_wait_range;do_fsync";
const std::string kLockStack = "__schedule;schedule;schedule_preempt_disabled;__mutex_lock;do_truncate";

sched::DStateStackRow stack_row(uint32_t pid, const std::string &comm, const std::string &stack) {
  sched::DStateStackRow row;
  row.pid = pid;
  row.comm = comm;
  row.stack = stack;
  row.stack_id = sched::DStateStackRow::stack_id_of(stack);
  return row;
}

}  // namespace

TEST_CASE("D-state stacks: any slice shows its own top stacks, and slices add up to the window") {
  test::RecordingFixture fx(kStart, "stacks.db");
  auto &w = fx.writer();
  w.set_meta("end_ns", kStart + 4 * kSecond);
  w.set_meta("ncpu", 2);
  sched_test::write_config(w);
  DeltaTable<sched::DStateStackRow> table("sched", sched::kDStateStacksTable);
  auto writer = stack_row(300, "writer", kFsyncStack), locker = stack_row(301, "locker", kLockStack);
  for (uint64_t i = 1; i <= 4; i++) {
    // The writer waits in fsync in the first two seconds, the locker on a mutex in the last two.
    if (i <= 2) writer.samples += 2, writer.wait_ns += 2 * 900'000'000, writer.max_wait_ns = 40'000'000 * i;
    else locker.samples += 1, locker.wait_ns += 500'000'000, locker.max_wait_ns = 700'000'000;
    table.write(kStart + i * kSecond, {writer, locker}, w);
  }
  fx.close();
  auto reader = fx.reader();
  auto &r = *reader;
  const json whole = build_report(r)["sched"];
  REQUIRE(whole["dstate_stacks"].size() == 2);
  CHECK(whole["dstate_stacks_total"] == 2);
  CHECK(whole["dstate_stacks"][0]["pid"] == 300);
  CHECK(whole["dstate_stacks"][0]["comm"] == "writer");
  CHECK(whole["dstate_stacks"][0]["wait_ns"] == 3'600'000'000);
  CHECK(whole["dstate_stacks"][0]["samples"] == 4);
  CHECK(whole["dstate_stacks"][0]["max_wait_ns"] == 80'000'000);
  CHECK(whole["dstate_stacks"][0]["frames"][2] == "io_schedule");

  r.set_slice({kStart + 2 * kSecond, kStart + 4 * kSecond});
  const json late = build_report(r)["sched"];
  REQUIRE(late["dstate_stacks"].size() == 1);
  CHECK(late["dstate_stacks"][0]["pid"] == 301);
  CHECK(late["dstate_stacks"][0]["frames"][3] == "__mutex_lock");
  r.set_slice({kStart, kStart + 2 * kSecond});
  const json early = build_report(r)["sched"];
  REQUIRE(early["dstate_stacks"].size() == 1);
  CHECK(early["dstate_stacks"][0]["wait_ns"] == 3'600'000'000);
  CHECK(late["dstate_stacks"][0]["wait_ns"].get<uint64_t>() == 1'000'000'000);

  const std::string text = render_text(build_report(r));
  CHECK(text.find("Where tasks in D waited") != std::string::npos);
  CHECK(text.find("    io_schedule\n") != std::string::npos);  // the scheduler's frames left out
  CHECK(text.find("     folio_wait_bit_common\n") != std::string::npos);
}
