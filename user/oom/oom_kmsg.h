// What the kernel log says about an OOM kill, for what the tracepoint does not carry: the
// constraint (global, memory cgroup, cpuset, mempolicy) is only in the "oom-kill:" line that
// dump_header() prints just before the kill. Plain C++: unit tests feed it log lines.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "oom/oom.h"
#include "record/recording.h"

namespace triage::oom {

// "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,
//  oom_memcg=/a,task_memcg=/a/b,task=name,pid=123,uid=0"
struct OomKillLine {
  std::string constraint;  // memcg, global, cpuset, mempolicy (from CONSTRAINT_*)
  std::string oom_memcg;   // the cgroup whose limit was hit (only for memcg OOMs)
  std::string task_memcg;  // the victim's memory cgroup
  std::string task;
  uint32_t pid = 0;
  uint32_t uid = 0;
};

// "Killed process 123 (name) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, shmem-rss:0kB,
//  UID:0 pgtables:40kB oom_score_adj:0", after a prefix such as "Memory cgroup out of memory: ".
struct KilledProcessLine {
  uint32_t pid = 0;
  std::string comm;
  uint64_t total_vm_kb = 0, anon_rss_kb = 0, file_rss_kb = 0, shmem_rss_kb = 0, pgtables_kb = 0;
  uint32_t uid = 0;
  int32_t oom_score_adj = 0;
};

// The message text of a /dev/kmsg record ("prio,seq,usec,flags;text"); empty for continuation
// lines and malformed records.
std::string_view kmsg_text(std::string_view record);
std::optional<OomKillLine> parse_oom_kill_line(std::string_view text);
std::optional<KilledProcessLine> parse_killed_process_line(std::string_view text);
// CONSTRAINT_MEMCG -> memcg, CONSTRAINT_NONE -> global, ...
std::string constraint_name(std::string_view kernel_constraint);

// A kill as the recording stores it: what the program read at the kill, completed by what the log
// said about it (either may be missing) and by the page size.
json kill_row(const oom_event &e, const std::optional<OomKillLine> &log_line,
              const std::optional<KilledProcessLine> &killed_line, uint64_t page_size);

// The memory cgroup path from the event's components (innermost first): "/a/b", "/" for the root.
std::string memcg_path(const oom_event &e);

}  // namespace triage::oom
