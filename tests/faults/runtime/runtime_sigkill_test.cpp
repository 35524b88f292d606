// SIGKILL: no BPF program or link of the recorder stays attached afterwards (the kernel's own
// list, through bpftool), and the recording is readable up to the last flush.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "fault_support.h"
#include "test_binary.h"

TEST_CASE("runtime: after SIGKILL no program or link of triage is left in the kernel") {
  live::require_tool("bpftool");
  live::TempDir dir;
  std::string db = dir.file("killed.db");
  live::Recording rec(db, {"-d", "30", "-i", "0.5"});
  REQUIRE(rec.wait_attached());
  faults::BpfObjects mine = faults::bpf_objects_of(rec.pid());
  INFO("programs held by the recorder: " << mine.progs.size() << ", links: " << mine.links.size());
  REQUIRE(!mine.progs.empty());
  REQUIRE(!mine.links.empty());
  // The kernel lists them: the comparison after the kill is against the kernel's own view.
  faults::BpfObjects loaded = faults::bpf_objects();
  for (auto id : mine.progs) CHECK(loaded.progs.count(id) == 1);
  for (auto id : mine.links) CHECK(loaded.links.count(id) == 1);
  live::sleep_s(1.2);
  rec.signal(SIGKILL);
  rec.wait();

  // The kernel releases programs and links asynchronously (RCU): poll briefly.
  faults::BpfObjects left;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    auto now = faults::bpf_objects();
    left = {};
    for (auto id : mine.progs)
      if (now.progs.count(id)) left.progs.insert(id);
    for (auto id : mine.links)
      if (now.links.count(id)) left.links.insert(id);
    if (left.progs.empty() && left.links.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  CHECK(left.progs.empty());
  CHECK(left.links.empty());

  auto report = live::report_json(db);
  CHECK(report["window"]["cut_short"] == true);
  CHECK(report["window"]["end_reason"].get<std::string>().rfind("incomplete", 0) == 0);
  CHECK(report["sched"]["load"].size() >= 1);  // flushed every 0.5 s before the kill

  // Slices of the cut window: they end at its last flush, and two consecutive ones add up to it.
  auto first = live::report_json(db, {"--to", "0.75"});
  auto rest = live::report_json(db, {"--from", "0.75"});
  auto last = live::report_json(db, {"--last", "0.5"});
  CHECK(std::abs(last["window"]["slice"]["to_s"].get<double>() - report["window"]["duration_s"].get<double>()) < 0.01);
  uint64_t whole = report["sched"]["switches"].get<uint64_t>();
  INFO("switches: whole " << whole << ", first " << first["sched"]["switches"] << ", rest " << rest["sched"]["switches"]);
  CHECK(whole > 0);
  CHECK(first["sched"]["switches"].get<uint64_t>() + rest["sched"]["switches"].get<uint64_t>() == whole);
  CHECK(first["sched"]["load"].size() + rest["sched"]["load"].size() == report["sched"]["load"].size());
  auto outside = live::run({triage_test_binary(), "report", db, "--from", "600"});
  CHECK(outside.exit_code == 2);
  CHECK(outside.err.find("the recording covers 0 to") != std::string::npos);
}
