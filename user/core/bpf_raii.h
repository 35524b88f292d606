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

// Consumes everything the ring buffer holds. The zero-timeout poll first collects a pending
// wakeup from the ring's epoll set (ring_buffer__epoll_fd, which the recorder waits on), so a
// wakeup that has been served does not keep that descriptor readable.
inline void drain_ring(ring_buffer *rb) {
  ring_buffer__poll(rb, 0);
  ring_buffer__consume(rb);
}

}  // namespace triage
