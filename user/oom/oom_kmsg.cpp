#include "oom/oom_kmsg.h"

#include <charconv>
#include <cstring>

namespace triage::oom {
namespace {

// A limit this large is no limit: the kernel's PAGE_COUNTER_MAX is LONG_MAX / PAGE_SIZE pages.
constexpr uint64_t kUnlimitedPages = 1ULL << 50;
// Without the log line, a memory cgroup this close to its limit at the kill is taken as the
// constraint: a charge fails once usage + the request exceeds the limit, and reclaim has already
// failed, so usage sits within a few pages of it (a margin for per-CPU charge batches).
constexpr double kAtLimitFraction = 0.98;

template <typename T>
bool parse_number(std::string_view s, T &out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  return !s.empty() && std::from_chars(s.data(), s.data() + s.size(), out).ec == std::errc();
}

// The value of `key=` up to the next comma; keys are matched only at the start or after a comma.
std::string_view field(std::string_view text, std::string_view key) {
  size_t at = 0;
  while ((at = text.find(key, at)) != std::string_view::npos) {
    if (at == 0 || text[at - 1] == ',' || text[at - 1] == ':') break;
    at++;
  }
  if (at == std::string_view::npos) return {};
  std::string_view rest = text.substr(at + key.size());
  return rest.substr(0, rest.find(','));
}

// "key:123kB" -> 123.
uint64_t kb_field(std::string_view text, std::string_view key) {
  size_t at = text.find(key);
  if (at == std::string_view::npos) return 0;
  std::string_view rest = text.substr(at + key.size());
  size_t end = rest.find_first_not_of("0123456789");
  uint64_t value = 0;
  parse_number(rest.substr(0, end), value);
  return value;
}

std::string comm_of(const char (&comm)[16]) { return std::string(comm, strnlen(comm, sizeof comm)); }

}  // namespace

std::string_view kmsg_text(std::string_view record) {
  size_t semicolon = record.find(';');
  if (record.empty() || record[0] == ' ' || semicolon == std::string_view::npos) return {};
  std::string_view text = record.substr(semicolon + 1);
  size_t newline = text.find('\n');
  return text.substr(0, newline);
}

std::string constraint_name(std::string_view k) {
  if (k == "CONSTRAINT_MEMCG") return "memcg";
  if (k == "CONSTRAINT_NONE") return "global";
  if (k == "CONSTRAINT_CPUSET") return "cpuset";
  if (k == "CONSTRAINT_MEMORY_POLICY") return "mempolicy";
  return k.empty() ? "unknown" : std::string(k);
}

std::optional<OomKillLine> parse_oom_kill_line(std::string_view text) {
  size_t at = text.find("oom-kill:");
  if (at == std::string_view::npos) return std::nullopt;
  text.remove_prefix(at + 9);
  OomKillLine line;
  std::string_view constraint = field(text, "constraint=");
  if (constraint.empty()) return std::nullopt;
  line.constraint = constraint_name(constraint);
  line.oom_memcg = std::string(field(text, "oom_memcg="));
  line.task_memcg = std::string(field(text, "task_memcg="));
  // The task name may hold commas: take pid and uid from the end, where the kernel puts them.
  size_t pid_at = text.rfind(",pid=");
  size_t uid_at = text.rfind(",uid=");
  if (pid_at == std::string_view::npos || !parse_number(field(text.substr(pid_at + 1), "pid="), line.pid))
    return std::nullopt;
  if (uid_at != std::string_view::npos && uid_at > pid_at) parse_number(field(text.substr(uid_at + 1), "uid="), line.uid);
  size_t task_at = text.find(",task=");
  if (task_at != std::string_view::npos && task_at < pid_at) line.task = std::string(text.substr(task_at + 6, pid_at - task_at - 6));
  return line;
}

std::optional<KilledProcessLine> parse_killed_process_line(std::string_view text) {
  size_t at = text.find("Killed process ");
  if (at == std::string_view::npos) return std::nullopt;
  text.remove_prefix(at + 15);
  KilledProcessLine k;
  size_t open = text.find(" (");
  if (open == std::string_view::npos || !parse_number(text.substr(0, open), k.pid)) return std::nullopt;
  size_t close = text.find(") total-vm:", open);
  if (close == std::string_view::npos) close = text.rfind(')');
  if (close == std::string_view::npos || close < open + 2) return std::nullopt;
  k.comm = std::string(text.substr(open + 2, close - open - 2));
  std::string_view rest = text.substr(close);
  k.total_vm_kb = kb_field(rest, "total-vm:");
  k.anon_rss_kb = kb_field(rest, "anon-rss:");
  k.file_rss_kb = kb_field(rest, "file-rss:");
  k.shmem_rss_kb = kb_field(rest, "shmem-rss:");
  k.pgtables_kb = kb_field(rest, "pgtables:");
  k.uid = static_cast<uint32_t>(kb_field(rest, "UID:"));
  size_t adj = rest.find("oom_score_adj:");
  if (adj != std::string_view::npos) {
    std::string_view v = rest.substr(adj + 14);
    parse_number(v.substr(0, v.find_first_not_of("-0123456789")), k.oom_score_adj);
  }
  return k;
}

std::string memcg_path(const oom_event &e) {
  std::string path;
  uint32_t depth = e.memcg_depth > OOM_MEMCG_DEPTH ? OOM_MEMCG_DEPTH : e.memcg_depth;
  for (uint32_t i = depth; i-- > 0;)
    path += "/" + std::string(e.memcg_path[i], strnlen(e.memcg_path[i], OOM_MEMCG_NAME_LEN));
  if (e.memcg_truncated) path = "/..." + path;
  return path.empty() ? "/" : path;
}

json kill_row(const oom_event &e, const std::optional<OomKillLine> &log, const std::optional<KilledProcessLine> &killed,
              uint64_t page_size) {
  const uint64_t kb_per_page = page_size / 1024;
  bool have_task = e.victim_comm[0] != 0;  // the old mark_victim(pid) gives the pid alone
  json row = {{"victim_pid", e.victim_tgid},
              {"victim_tid", e.victim_pid},
              {"victim_comm", comm_of(e.victim_comm)},
              {"total_vm_kb", e.total_vm_pages * kb_per_page},
              {"anon_rss_kb", e.anon_pages * kb_per_page},
              {"file_rss_kb", e.file_pages * kb_per_page},
              {"shmem_rss_kb", e.shmem_pages * kb_per_page},
              {"pgtables_kb", e.pgtables_bytes / 1024},
              {"oom_score_adj", e.oom_score_adj},
              {"uid", e.uid},
              {"trigger_pid", e.trigger_tgid},
              {"trigger_tid", e.trigger_pid},
              {"trigger_comm", comm_of(e.trigger_comm)},
              {"memcg", have_task ? memcg_path(e) : ""},
              {"memcg_id", e.memcg_id},
              {"source", "tracepoint"}};
  if (!have_task && killed) {
    row["victim_comm"] = killed->comm;
    row["total_vm_kb"] = killed->total_vm_kb;
    row["anon_rss_kb"] = killed->anon_rss_kb;
    row["file_rss_kb"] = killed->file_rss_kb;
    row["shmem_rss_kb"] = killed->shmem_rss_kb;
    row["pgtables_kb"] = killed->pgtables_kb;
    row["oom_score_adj"] = killed->oom_score_adj;
    row["uid"] = killed->uid;
    row["source"] = "tracepoint+kmsg";
  }
  if (!have_task && log) row["memcg"] = log->task_memcg;
  row["victim_rss_kb"] = row["anon_rss_kb"].get<uint64_t>() + row["file_rss_kb"].get<uint64_t>() +
                         row["shmem_rss_kb"].get<uint64_t>();

  bool limited = e.memcg_limit_pages > 0 && e.memcg_limit_pages < kUnlimitedPages;
  row["memcg_limit_kb"] = limited ? json(e.memcg_limit_pages * kb_per_page) : json(nullptr);
  row["memcg_usage_kb"] = have_task ? json(e.memcg_usage_pages * kb_per_page) : json(nullptr);
  if (log) {
    row["constraint"] = log->constraint;
    row["constraint_source"] = "kmsg";
    if (!log->oom_memcg.empty()) row["oom_memcg"] = log->oom_memcg;
  } else if (limited && static_cast<double>(e.memcg_usage_pages) >= kAtLimitFraction * static_cast<double>(e.memcg_limit_pages)) {
    row["constraint"] = "memcg";
    row["constraint_source"] = "inferred: the victim's memory cgroup was at its limit";
  } else {
    // Only the victim's own cgroup is read: an ancestor at its limit or a cpuset/mempolicy OOM
    // looks the same from here, so say we do not know rather than guess "global".
    row["constraint"] = "unknown";
    row["constraint_source"] = "no oom-kill line in the kernel log and the victim's cgroup was below its limit";
  }
  return row;
}

}  // namespace triage::oom
