#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>

#include "sched/sched_processes.h"

using namespace triage::sched;

namespace {

sched_proc_stats waits(uint32_t kind, uint64_t total_ns, uint64_t count, uint64_t max_ns, const char *comm) {
  sched_proc_stats s{};
  s.total_ns[kind] = total_ns;
  s.count[kind] = count;
  s.max_ns[kind] = max_ns;
  std::strncpy(s.comm, comm, sizeof s.comm - 1);
  return s;
}

}  // namespace

TEST_CASE("sched processes: each CPU's cached waits add to the rows read from proc_stats", "[sched]") {
  std::vector<ProcessWaits> rows = {{100, waits(SCHED_WAIT_RUNQ, 5000, 10, 900, "postgres")}};
  std::vector<sched_proc_cache> caches(2);
  // CPU 0: more run-queue waits of 100, with a longer one than proc_stats has seen.
  caches[0].entries[100 % SCHED_PROC_CACHE_SLOTS] = {100, 1, waits(SCHED_WAIT_RUNQ, 3000, 2, 2500, "postgres")};
  // CPU 1: 100's D waits, and a process proc_stats has never seen.
  caches[1].entries[100 % SCHED_PROC_CACHE_SLOTS] = {100, 1, waits(SCHED_WAIT_D_IO, 7000, 1, 7000, "postgres")};
  caches[1].entries[7] = {199, 1, waits(SCHED_WAIT_D_OTHER, 400, 4, 150, "kworker")};
  // An empty slot holding stale numbers (a write-back only clears `used`) adds nothing.
  caches[1].entries[8] = {100, 0, waits(SCHED_WAIT_RUNQ, 1'000'000, 1, 1'000'000, "stale")};

  add_cached_processes(rows, caches);

  REQUIRE(rows.size() == 2);
  const sched_proc_stats &pg = rows[0].stats;
  CHECK(rows[0].tgid == 100);
  CHECK(pg.total_ns[SCHED_WAIT_RUNQ] == 8000);
  CHECK(pg.count[SCHED_WAIT_RUNQ] == 12);
  CHECK(pg.max_ns[SCHED_WAIT_RUNQ] == 2500);
  CHECK(pg.total_ns[SCHED_WAIT_D_IO] == 7000);
  CHECK(pg.max_ns[SCHED_WAIT_D_IO] == 7000);
  CHECK(std::string(pg.comm) == "postgres");
  CHECK(rows[1].tgid == 199);
  CHECK(rows[1].stats.count[SCHED_WAIT_D_OTHER] == 4);
  CHECK(std::string(rows[1].stats.comm) == "kworker");
}

TEST_CASE("sched processes: a smaller cached maximum leaves proc_stats' maximum alone", "[sched]") {
  std::vector<ProcessWaits> rows = {{42, waits(SCHED_WAIT_D_MEM, 9000, 3, 6000, "java")}};
  std::vector<sched_proc_cache> caches(1);
  caches[0].entries[42] = {42, 1, waits(SCHED_WAIT_D_MEM, 100, 1, 100, "java")};
  add_cached_processes(rows, caches);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].stats.max_ns[SCHED_WAIT_D_MEM] == 6000);
  CHECK(rows[0].stats.count[SCHED_WAIT_D_MEM] == 4);
}
