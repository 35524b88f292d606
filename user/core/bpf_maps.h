// Small typed helpers over libbpf's map calls, used by every family's sampler (not the hot path).
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <string>
#include <vector>

namespace triage {

inline int possible_cpus() {
  static const int n = libbpf_num_possible_cpus();
  return n > 0 ? n : 1;
}

// Reads every CPU's copy of a per-CPU array element. libbpf pads each copy to 8 bytes.
template <typename T>
bool read_percpu(int map_fd, uint32_t key, std::vector<T> &out) {
  static_assert(sizeof(T) % 8 == 0, "per-CPU values are copied in 8-byte strides");
  out.resize(possible_cpus());
  return bpf_map_lookup_elem(map_fd, &key, out.data()) == 0;
}

// Calls fn(key, value) for every entry of a hash map (a snapshot: entries may change meanwhile).
template <typename K, typename V, typename Fn>
void for_each_entry(int map_fd, Fn &&fn) {
  K key{}, next{};
  V value{};
  const void *prev = nullptr;
  while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
    if (bpf_map_lookup_elem(map_fd, &next, &value) == 0) fn(next, value);
    key = next;
    prev = &key;
  }
}

inline bool contains(const std::vector<std::string> &names, const std::string &name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace triage
