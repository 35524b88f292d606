// Small typed helpers over libbpf's map calls, used by every family's sampler (not the hot path).
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
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
// Entries come in batches, one syscall per few hundred: walking them one by one took two per
// entry, 100k syscalls every interval for the socket map of a busy server. Kernels without
// batch lookups (before 5.6) get the walk.
template <typename K, typename V, typename Fn>
void for_each_entry(int map_fd, Fn &&fn) {
  std::vector<K> keys(256);
  std::vector<V> values(keys.size());
  // The position between batches: a bucket index (u32) for hash maps, a key for the generic
  // implementation (arrays); room for either.
  struct Position {
    alignas(8) unsigned char bytes[std::max(sizeof(K), sizeof(uint64_t))];
  } batch_in{}, batch_out{};
  bool started = false;
  for (;;) {
    uint32_t count = static_cast<uint32_t>(keys.size());
    int err = bpf_map_lookup_batch(map_fd, started ? &batch_in : nullptr, &batch_out, keys.data(), values.data(),
                                   &count, nullptr);
    if (err == -ENOSPC && keys.size() < (1u << 16)) {  // one bucket holds more than the buffer
      keys.resize(keys.size() * 4);
      values.resize(keys.size());
      continue;
    }
    if (err && err != -ENOENT) {
      if (!started) break;  // no batch support: walk instead
      return;
    }
    for (uint32_t i = 0; i < count && i < keys.size(); i++) fn(keys[i], values[i]);
    if (err == -ENOENT) return;  // the last batch
    batch_in = batch_out;
    started = true;
  }
  K key{}, next{};
  V value{};
  const void *prev = nullptr;
  while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
    if (bpf_map_lookup_elem(map_fd, &next, &value) == 0) fn(next, value);
    key = next;
    prev = &key;
  }
}

// Runs of these programs the kernel skipped because one was already running on that CPU (a
// tracepoint hit from an interrupt inside it): events never seen. Kernels before 5.12 say 0.
inline uint64_t recursion_misses(const std::vector<int> &program_fds) {
  uint64_t misses = 0;
  for (int fd : program_fds) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) misses += info.recursion_misses;
  }
  return misses;
}

inline bool contains(const std::vector<std::string> &names, const std::string &name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace triage
