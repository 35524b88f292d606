// Text helpers and parsers of the system-wide /proc files (loadavg, uptime, stat, meminfo, vmstat,
// net/netstat, net/snmp). Parsers take file contents so tests can feed fixtures directly.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/unique_fd.h"
#include "core/text_fields.h"
#include "snapshot/snapshot_parts.h"

namespace triage::snapshot_detail {

using nlohmann::json;

std::optional<std::string> read_text_file(const std::string &path, std::string *reason) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (reason) *reason = fmt::format("{}: {}", path, std::strerror(errno));
    return std::nullopt;
  }
  std::string content;
  char buffer[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (reason) *reason = fmt::format("{}: {}", path, std::strerror(errno));
      return std::nullopt;
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  return content;
}

std::optional<Utf8Char> decode_utf8(std::string_view text, size_t pos) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(pos);
  if (lead < 0x80) return Utf8Char{1, lead};
  size_t length;
  char32_t codepoint;
  char32_t smallest;  // anything below is an overlong encoding
  if ((lead & 0xE0) == 0xC0) {
    length = 2, codepoint = lead & 0x1F, smallest = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, codepoint = lead & 0x0F, smallest = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, codepoint = lead & 0x07, smallest = 0x10000;
  } else {
    return std::nullopt;
  }
  if (pos + length > text.size()) return std::nullopt;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) return std::nullopt;
    codepoint = (codepoint << 6) | (byte(pos + i) & 0x3F);
  }
  if (codepoint < smallest || codepoint > 0x10FFFF) return std::nullopt;
  if (codepoint >= 0xD800 && codepoint <= 0xDFFF) return std::nullopt;
  return Utf8Char{length, codepoint};
}

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    if (auto c = decode_utf8(text, pos)) {
      out.append(text.substr(pos, c->length));
      pos += c->length;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[pos]));
      ++pos;
    }
  }
  return out;
}

double round_tenth(double value) { return std::round(value * 10.0) / 10.0; }

void SkipLog::add(std::string part, std::string_view reason) {
  entries_.emplace_back(std::move(part), valid_utf8(reason));
}

json SkipLog::to_json() const {
  json out = json::array();
  for (const auto &[part, reason] : entries_) out.push_back({{"part", part}, {"reason", reason}});
  return out;
}

namespace {

}  // namespace

std::optional<LoadAvg> parse_loadavg(std::string_view text) {
  auto words = split_words(text.substr(0, text.find('\n')));
  if (words.size() < 3) return std::nullopt;
  auto one = to_number<double>(words[0]), five = to_number<double>(words[1]), fifteen = to_number<double>(words[2]);
  if (!one || !five || !fifteen) return std::nullopt;
  return LoadAvg{*one, *five, *fifteen};
}

std::optional<double> parse_uptime(std::string_view text) {
  auto words = split_words(text.substr(0, text.find('\n')));
  if (words.empty()) return std::nullopt;
  return to_number<double>(words[0]);
}

ProcStat parse_proc_stat(std::string_view text) {
  ProcStat stat;
  for (auto line : split_lines(text)) {
    auto words = split_words(line);
    if (words.size() < 2) continue;
    if (words[0].size() > 3 && words[0].substr(0, 3) == "cpu") {
      auto cpu = to_number<int>(words[0].substr(3));
      if (!cpu) continue;
      CpuTimes times;
      times.cpu = *cpu;
      uint64_t *columns[] = {&times.user, &times.nice, &times.system, &times.idle,
                             &times.iowait, &times.irq, &times.softirq, &times.steal};
      // Columns after steal (guest, guest_nice) are already included in user and nice.
      for (size_t i = 0; i < std::size(columns) && i + 1 < words.size(); ++i)
        *columns[i] = to_number<uint64_t>(words[i + 1]).value_or(0);
      stat.cpus.push_back(times);
    } else if (words[0] == "procs_running") {
      stat.procs_running = to_number<int64_t>(words[1]);
    } else if (words[0] == "procs_blocked") {
      stat.procs_blocked = to_number<int64_t>(words[1]);
    }
  }
  return stat;
}

namespace {

// Counters can step back slightly (iowait is not monotonic on NO_HZ kernels): clamp to zero.
uint64_t delta(uint64_t before, uint64_t after) { return after > before ? after - before : 0; }

double percent(uint64_t part, uint64_t total) {
  if (total == 0) return 0.0;
  return static_cast<double>(part) * 100.0 / static_cast<double>(total);
}

}  // namespace

json cpu_percentages(const std::vector<CpuTimes> &before, const std::vector<CpuTimes> &after) {
  json cpus = json::array();
  for (const auto &now : after) {
    CpuTimes then;  // zero: "since boot" when there is no earlier sample of this CPU
    for (const auto &earlier : before)
      if (earlier.cpu == now.cpu) then = earlier;
    uint64_t user = delta(then.user + then.nice, now.user + now.nice);
    uint64_t system = delta(then.system + then.irq + then.softirq, now.system + now.irq + now.softirq);
    uint64_t iowait = delta(then.iowait, now.iowait);
    uint64_t idle = delta(then.idle, now.idle);
    uint64_t steal = delta(then.steal, now.steal);
    uint64_t total = user + system + iowait + idle + steal;
    cpus.push_back({{"cpu", now.cpu},
                    {"user", round_tenth(percent(user, total))},
                    {"system", round_tenth(percent(system, total))},
                    {"iowait", round_tenth(percent(iowait, total))},
                    {"idle", round_tenth(percent(idle, total))},
                    {"steal", round_tenth(percent(steal, total))}});
  }
  return cpus;
}

std::map<std::string, int64_t> parse_key_values(std::string_view text) {
  std::map<std::string, int64_t> values;
  for (auto line : split_lines(text)) {
    auto words = split_words(line);
    if (words.size() < 2) continue;
    std::string_view key = words[0];
    if (key.ends_with(':')) key.remove_suffix(1);
    if (auto value = to_number<int64_t>(words[1])) values[std::string(key)] = *value;
  }
  return values;
}

json mem_from_meminfo(const std::map<std::string, int64_t> &meminfo) {
  auto field = [&](const char *name) -> json {
    auto it = meminfo.find(name);
    return it == meminfo.end() ? json(nullptr) : json(it->second);
  };
  return {{"total_kb", field("MemTotal")},         {"free_kb", field("MemFree")},
          {"available_kb", field("MemAvailable")}, {"buffers_kb", field("Buffers")},
          {"cached_kb", field("Cached")},          {"swap_total_kb", field("SwapTotal")},
          {"swap_free_kb", field("SwapFree")},     {"swap_in_per_s", nullptr},
          {"swap_out_per_s", nullptr}};
}

std::map<std::string, std::map<std::string, int64_t>> parse_header_value_pairs(std::string_view text) {
  std::map<std::string, std::map<std::string, int64_t>> sections;
  auto lines = split_lines(text);
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    auto names = split_words(lines[i]);
    auto values = split_words(lines[i + 1]);
    if (names.empty() || values.empty() || !names[0].ends_with(':') || names[0] != values[0]) continue;
    // A values line never holds a name: skip pairs whose second line is itself a header.
    if (values.size() > 1 && !to_number<int64_t>(values[1])) continue;
    auto &section = sections[std::string(names[0].substr(0, names[0].size() - 1))];
    for (size_t k = 1; k < names.size() && k < values.size(); ++k)
      if (auto value = to_number<int64_t>(values[k])) section[std::string(names[k])] = *value;
    ++i;  // the values line is consumed
  }
  return sections;
}

json netstat_counters(std::string_view netstat_text, std::string_view snmp_text) {
  json counters = json::object();
  auto netstat = parse_header_value_pairs(netstat_text);
  auto snmp = parse_header_value_pairs(snmp_text);
  // Counter names become JSON keys: valid UTF-8 like every other string from the machine (a
  // strict dump would throw on a byte the fuzzer put in a header line).
  for (const auto &[name, value] : netstat["TcpExt"]) counters[valid_utf8(name)] = value;
  for (const auto &[name, value] : snmp["Tcp"]) counters["Tcp" + valid_utf8(name)] = value;
  return counters;
}

}  // namespace triage::snapshot_detail
