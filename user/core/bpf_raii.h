// RAII owners for libbpf objects: every skeleton, link and ring buffer is released on every path,
// including an exception or an early return while attaching.
#pragma once

#include <bpf/libbpf.h>

#include <memory>

namespace triage {

template <typename Skel, void (*Destroy)(Skel *)>
struct SkeletonDeleter {
  void operator()(Skel *skel) const noexcept { Destroy(skel); }
};

// UniqueSkeleton<sched_bpf, sched_bpf__destroy>: owns a bpftool skeleton and its maps/programs.
template <typename Skel, void (*Destroy)(Skel *)>
using UniqueSkeleton = std::unique_ptr<Skel, SkeletonDeleter<Skel, Destroy>>;

struct LinkDeleter {
  void operator()(bpf_link *link) const noexcept { bpf_link__destroy(link); }
};
using UniqueLink = std::unique_ptr<bpf_link, LinkDeleter>;

struct RingBufferDeleter {
  void operator()(ring_buffer *rb) const noexcept { ring_buffer__free(rb); }
};
using UniqueRingBuffer = std::unique_ptr<ring_buffer, RingBufferDeleter>;

}  // namespace triage
