// libFuzzer: arbitrary text through every /proc and kernel-log parser (what a container, an old
// kernel or a hostile FUSE mount could hand them), and through the escapers that make names safe
// for a terminal and for HTML. The parsers promise JSON that dumps without throwing (names are
// made valid UTF-8 on the way in): a strict dump below checks that promise.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "oom/oom_kmsg.h"
#include "report/html.h"
#include "report/text_util.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_parts.h"

using namespace triage;
using namespace triage::snapshot_detail;
using nlohmann::json;

namespace {
void dump_strict(const json &value) { (void)value.dump(); }  // throws on invalid UTF-8: a crash here
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  // Two files at once for the parsers that pair them (netstat + snmp, two /proc/stat samples).
  size_t half = size / 2;
  std::string_view first = text.substr(0, half), second = text.substr(half);

  (void)parse_loadavg(text);
  (void)parse_uptime(text);
  ProcStat before = parse_proc_stat(first), after = parse_proc_stat(second);
  dump_strict(cpu_percentages(before.cpus, after.cpus));
  dump_strict(mem_from_meminfo(parse_key_values(text)));
  (void)parse_header_value_pairs(text);
  dump_strict(netstat_counters(first, second));
  auto mounts = parse_mounts(text);
  for (const auto &m : filesystems_worth_reporting(mounts)) (void)m;
  if (auto stat = parse_pid_stat(text)) dump_strict(task_summary({*stat}, 1));
  dump_strict(socket_summary(parse_proc_net_tcp(text), 1, SocketSource::proc_net_tcp));
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (auto record = interesting_kmsg_record(line)) dump_strict(*record);
    std::string_view message = oom::kmsg_text(line);
    (void)oom::parse_oom_kill_line(message);
    (void)oom::parse_killed_process_line(message);
    (void)oom::constraint_name(message);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  dump_strict(json(valid_utf8(text)));
  dump_strict(json(printable(text)));
  dump_strict(json(html_escape(text)));
  return 0;
}
