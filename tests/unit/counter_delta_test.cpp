// Counters read twice never wrap: a delta below zero is 0 for that interval, and counted.
#include <catch2/catch.hpp>

#include "block/block_aggregate.h"
#include "block/block_report.h"
#include "core/counter_delta.h"
#include "core/percpu_sum.h"
#include "record/recording.h"
#include "recording_fixture.h"
#include "tcp/tcp_abi.h"
#include "tcp/tcp_model.h"

using namespace triage;

TEST_CASE("counter deltas: a counter that goes down yields 0 and a counted reset") {
  CounterDeltas deltas;
  const uint64_t series[] = {5, 12, 1, 4, 4};
  std::vector<uint64_t> out;
  for (size_t i = 1; i < std::size(series); i++) out.push_back(deltas(series[i - 1], series[i]));
  CHECK(out == std::vector<uint64_t>{7, 0, 3, 0});
  CHECK(deltas.resets() == 1);
}

TEST_CASE("tcp: a namespace's counters never wrap, and a counter it lacks keeps its value") {
  CounterDeltas deltas;
  tcp::NetnsCounters ns;
  // First sight: the namespace was born in the window, its counters count from 0.
  CHECK(ns.advance({{"ListenOverflows", 3}, {"TcpOutSegs", 100}}, deltas) ==
        std::map<std::string, uint64_t>{{"ListenOverflows", 3}, {"TcpOutSegs", 100}});
  // Gone, and its inode reused by a new namespace with smaller counters: 0, not 2^64 - 90.
  CHECK(ns.advance({{"ListenOverflows", 1}, {"TcpOutSegs", 10}}, deltas).empty());
  CHECK(deltas.resets() == 2);
  // A read without TcpOutSegs: it is not taken as 0, so the next delta is not 25.
  CHECK(ns.advance({{"ListenOverflows", 2}}, deltas) == std::map<std::string, uint64_t>{{"ListenOverflows", 1}});
  CHECK(ns.advance({{"ListenOverflows", 2}, {"TcpOutSegs", 25}}, deltas) ==
        std::map<std::string, uint64_t>{{"TcpOutSegs", 15}});
  // A counter new to a namespace read before is a baseline, not its history.
  CHECK(ns.advance({{"ListenOverflows", 2}, {"TcpOutSegs", 25}, {"TCPTimeouts", 9000}}, deltas).empty());
  CHECK(ns.window == std::map<std::string, uint64_t>{{"ListenOverflows", 4}, {"TcpOutSegs", 115}});
  CHECK(deltas.resets() == 2);
}

TEST_CASE("block: a device counter that goes down makes no wrapped timeline row, and is counted", "[block]") {
  test::RecordingFixture fx(uint64_t{1'000'000'000'000});
  {
    auto &w = fx.writer();
    block::BlockSampler sampler([](uint32_t) { return std::string("loop0"); });
    const uint64_t start = 1'000'000'000'000, second = 1'000'000'000;
    sampler.start(start);
    block::SampleInput in;
    in.method = "tp_btf";
    const uint64_t reads[] = {100, 40, 60};  // a read that missed part of the totals, then one that did not
    for (size_t i = 0; i < std::size(reads); i++) {
      block::DeviceTotals d;
      d.dev = block::make_dev(7, 0);
      d.ops[BLOCK_OP_READ].count = reads[i];
      d.ops[BLOCK_OP_READ].bytes = reads[i] * 4096;
      in.devices = {d};
      sampler.sample(start + (i + 1) * second, in, w);
    }
    fx.close();
  }
  json s = block::build_section(*fx.reader(), 1'000'000'000'000);
  REQUIRE(s["timeline"].size() == 2);
  CHECK(s["timeline"][0]["count"] == 100);
  CHECK(s["timeline"][1]["count"] == 20);
  CHECK(s["timeline"][1]["bytes"] == 20 * 4096);
  CHECK(s["counter_resets"] == 2);  // the count and the bytes went down once each
}

TEST_CASE("per-CPU copies add up field by field, and the sum reads back at once") {
  // The tcp sampler summed through a uint64_t * cast and then read sum.transitions (an unsigned
  // long long) in the same function: at -O2 the read saw 0 and the rate series wrapped.
  std::vector<tcp_cpu_counters> copies(3);
  for (size_t cpu = 0; cpu < copies.size(); cpu++) {
    copies[cpu].transitions = 10 * (cpu + 1);
    copies[cpu].resets_received = cpu;
  }
  tcp_cpu_counters sum{};
  for (const auto &c : copies) add_u64_fields(sum, c);
  CHECK(sum.transitions == 60);
  CHECK(sum.resets_received == 3);
  CounterDeltas deltas;
  CHECK(deltas(15, sum.transitions) == 45);
}
