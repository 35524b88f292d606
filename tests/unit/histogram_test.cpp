#include <catch2/catch.hpp>

#include "core/histogram.h"

using triage::Log2Histogram;

TEST_CASE("histogram: slot k holds values below 2^k, as the BPF side buckets them") {
  CHECK(Log2Histogram::slot_of(0) == 0);
  CHECK(Log2Histogram::slot_of(1) == 1);
  CHECK(Log2Histogram::slot_of(2) == 2);
  CHECK(Log2Histogram::slot_of(3) == 2);
  CHECK(Log2Histogram::slot_of(4) == 3);
  CHECK(Log2Histogram::slot_of(1023) == 10);
  CHECK(Log2Histogram::slot_of(1024) == 11);
  CHECK(Log2Histogram::slot_of(UINT64_MAX) == Log2Histogram::kSlots - 1);
  for (uint64_t v : {0ULL, 1ULL, 5ULL, 1000ULL, 123456ULL})
    CHECK(v < Log2Histogram::upper_bound(static_cast<int>(Log2Histogram::slot_of(v))));
}

TEST_CASE("histogram: percentiles interpolate inside the slot and stay within min and max") {
  Log2Histogram h;
  for (int i = 0; i < 90; i++) h.add(100);    // slot 7: [64, 128)
  for (int i = 0; i < 10; i++) h.add(5000);   // slot 13: [4096, 8192)
  CHECK(h.count() == 100);
  CHECK(h.min() == 100);
  CHECK(h.max() == 5000);
  double p50 = h.percentile(0.5);
  CHECK(p50 >= 100);
  CHECK(p50 < 128);
  CHECK(h.percentile(0.90) <= 128);
  double p99 = h.percentile(0.99);
  CHECK(p99 > 4096);
  CHECK(p99 <= 5000);
  CHECK(Log2Histogram().percentile(0.5) == 0);
}

TEST_CASE("histogram: JSON has the INTERFACE shape and round-trips") {
  Log2Histogram h;
  h.add(3);
  h.add(3);
  h.add(40);
  auto j = h.to_json("us");
  for (const char *key : {"unit", "count", "sum", "min", "max", "p50", "p90", "p99", "buckets"}) CHECK(j.contains(key));
  CHECK(j["unit"] == "us");
  CHECK(j["count"] == 3);
  CHECK(j["sum"] == 46);
  CHECK(j["buckets"].back()["le"] == 64);
  CHECK(j["buckets"][2]["le"] == 4);
  CHECK(j["buckets"][2]["count"] == 2);
  auto back = Log2Histogram::from_json(j);
  CHECK(back.count() == 3);
  CHECK(back.slot_count(2) == 2);
  CHECK(back.slot_count(6) == 1);
  CHECK(back.min() == 3);
}

TEST_CASE("histogram: merging a kernel copy and taking interval deltas") {
  triage_log2_hist k{};
  k.slots[4] = 7;
  k.count = 7;
  k.sum = 70;
  k.max = 12;
  k.min_plus_one = 9;  // min 8
  Log2Histogram total;
  total.merge(k);
  CHECK(total.count() == 7);
  CHECK(total.min() == 8);
  Log2Histogram later = total;
  later.add(1000);
  auto delta = later.minus(total);
  CHECK(delta.count() == 1);
  CHECK(delta.slot_count(10) == 1);
  CHECK(delta.sum() == 1000);
}
