// for_each_entry (user/core/bpf_maps.h) over a real BPF hash map: batches, or the walk on kernels
// without them, must hand over every entry exactly once with its value. Every family reads its
// hash maps through it each interval.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <map>

#include "core/bpf_maps.h"
#include "live_support.h"

namespace {

struct Value {
  uint64_t a, b;
};

struct MapFd {
  int fd;
  ~MapFd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

TEST_CASE("bpf maps: for_each_entry hands over every entry of a hash map once") {
  live::require_root_and_btf();
  MapFd map{bpf_map_create(BPF_MAP_TYPE_HASH, "triage_test", sizeof(uint64_t), sizeof(Value), 20000, nullptr)};
  REQUIRE(map.fd >= 0);

  std::map<uint64_t, uint64_t> seen;
  triage::for_each_entry<uint64_t, Value>(map.fd, [&](uint64_t k, const Value &) { seen[k]++; });
  CHECK(seen.empty());

  constexpr uint64_t kEntries = 5000;  // many batches, and buckets holding several entries
  for (uint64_t k = 1; k <= kEntries; k++) {
    Value v{k * 3, k + 7};
    REQUIRE(bpf_map_update_elem(map.fd, &k, &v, BPF_NOEXIST) == 0);
  }
  size_t wrong_values = 0;
  triage::for_each_entry<uint64_t, Value>(map.fd, [&](uint64_t k, const Value &v) {
    seen[k]++;
    if (v.a != k * 3 || v.b != k + 7) wrong_values++;
  });
  CHECK(seen.size() == kEntries);
  CHECK(wrong_values == 0);
  size_t not_once = 0;
  for (const auto &[k, n] : seen) not_once += n != 1;
  CHECK(not_once == 0);
  CHECK(seen.begin()->first == 1);
  CHECK(seen.rbegin()->first == kEntries);
}
