// dmesg | tail, narrowed to the kernel messages an incident responder looks for first: OOM kills,
// SYN floods and hung tasks.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>

#include <fmt/format.h>

#include "core/unique_fd.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_parts.h"

namespace triage::snapshot_detail {

using nlohmann::json;

namespace {

constexpr std::string_view kInterestingPhrases[] = {
    "Out of memory", "oom-kill", "Killed process",  // OOM killer
    "SYN flooding",                                 // listen queue overflow with syncookies
    "blocked for more than",                        // hung task detector
};

// /dev/kmsg never returns more than this per record; smaller buffers make read() fail with EINVAL.
constexpr size_t kReadBuffer = 16384;
// The ring buffer is finite, but a kernel logging faster than we read could keep us here forever.
constexpr size_t kMaxBytesRead = 64 << 20;

bool is_interesting(std::string_view text) {
  if (is_hardware_error_message(text)) return true;
  for (auto phrase : kInterestingPhrases)
    if (text.find(phrase) != std::string_view::npos) return true;
  return false;
}

// Feeds complete lines of a byte stream to a callback: /dev/kmsg yields one record per read, a
// fixture file yields arbitrary chunks.
class LineSplitter {
 public:
  template <typename OnLine>
  void feed(std::string_view chunk, OnLine on_line) {
    pending_.append(chunk);
    size_t start = 0;
    for (size_t end; (end = pending_.find('\n', start)) != std::string::npos; start = end + 1)
      on_line(std::string_view(pending_).substr(start, end - start));
    pending_.erase(0, start);
  }
  template <typename OnLine>
  void finish(OnLine on_line) {
    if (!pending_.empty()) on_line(std::string_view(pending_));
    pending_.clear();
  }

 private:
  std::string pending_;
};

}  // namespace

std::optional<json> interesting_kmsg_record(std::string_view line) {
  // "prio,seq,usec,flags[,more];text". Continuation lines (" KEY=value") start with a space.
  size_t semicolon = line.find(';');
  if (line.empty() || line[0] == ' ' || semicolon == std::string_view::npos) return std::nullopt;
  std::string_view text = line.substr(semicolon + 1);
  if (!is_interesting(text)) return std::nullopt;

  std::string_view prefix = line.substr(0, semicolon);
  std::string_view fields[3];
  for (auto &field : fields) {
    size_t comma = prefix.find(',');
    field = prefix.substr(0, comma);
    prefix.remove_prefix(comma == std::string_view::npos ? prefix.size() : comma + 1);
  }
  unsigned prio = 0;
  uint64_t usec = 0;
  if (std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(), prio).ec != std::errc() ||
      std::from_chars(fields[2].data(), fields[2].data() + fields[2].size(), usec).ec != std::errc())
    return std::nullopt;
  return json{{"time", static_cast<double>(usec) / 1e6},
              {"level", prio & 7},  // syslog level: 0 emerg .. 7 debug; the facility bits are dropped
              {"text", valid_utf8(text)}};
}

std::optional<json> read_kmsg(const std::string &kmsg_path, std::string *reason) {
  UniqueFd fd(::open(kmsg_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    *reason = fmt::format("{}: {}{}", kmsg_path, std::strerror(errno),
                          errno == EPERM || errno == EACCES ? " (kernel.dmesg_restrict needs root)" : "");
    return std::nullopt;
  }
  std::deque<json> kept;
  auto keep_if_interesting = [&](std::string_view line) {
    if (auto record = interesting_kmsg_record(line)) {
      kept.push_back(std::move(*record));
      if (kept.size() > kMaxKmsgLines) kept.pop_front();
    }
  };
  LineSplitter lines;
  std::vector<char> buffer(kReadBuffer);
  for (size_t total = 0; total < kMaxBytesRead;) {
    ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n > 0) {
      total += static_cast<size_t>(n);
      lines.feed(std::string_view(buffer.data(), static_cast<size_t>(n)), keep_if_interesting);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) continue;  // records were overwritten while we read; go on from the next
    break;                                  // 0: end of a plain file; EAGAIN: no more records
  }
  lines.finish(keep_if_interesting);
  return json(std::vector<json>(kept.begin(), kept.end()));
}

}  // namespace triage::snapshot_detail

namespace triage {

bool is_hardware_error_message(std::string_view text) {
  constexpr std::string_view kAlways[] = {
      "[Hardware Error]",                // mce and APEI/GHES reports
      "Machine check events logged",     // mcelog's summary
      "Machine Check Exception",         // a fatal one, logged on the way down
      "temperature above threshold",     // thermal throttling: the CPU clocked down
  };
  for (auto phrase : kAlways)
    if (text.find(phrase) != std::string_view::npos) return true;
  // EDAC drivers report corrected (CE) and uncorrected (UE) errors; their banners say neither.
  if (text.find("EDAC") == std::string_view::npos) return false;
  for (std::string_view word : {" CE ", " UE ", " CE: ", "error"})
    if (text.find(word) != std::string_view::npos) return true;
  return false;
}

}  // namespace triage
