#include "sched/kernel_symbols.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace triage::sched {
namespace {

// A return address may point just past a function's last byte (a call at its end to a function
// that does not return); a module's text or the kernel's last function is rarely bigger than this.
constexpr uint64_t kMaxDistancePastLast = 1 << 20;

}  // namespace

KernelSymbols KernelSymbols::parse(std::string_view text) {
  KernelSymbols out;
  bool any_nonzero = false;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    // "<hex address> <type> <name>[\t[module]]"
    size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 + 3 > line.size() || line[sp1 + 2] != ' ') continue;
    uint64_t address = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + sp1, address, 16);
    if (ec != std::errc{} || end != line.data() + sp1) continue;
    char type = line[sp1 + 1];
    std::string_view name = line.substr(sp1 + 3);
    name = name.substr(0, name.find_first_of("\t "));
    if (name.empty()) continue;
    if (address) any_nonzero = true;
    if (name == "_etext") out.text_end_ = std::max(out.text_end_, address);
    if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;
    out.symbols_.push_back({address, static_cast<uint32_t>(out.names_.size()), static_cast<uint32_t>(name.size())});
    out.names_.append(name);
  }
  // Addresses hidden (kptr_restrict, no CAP_SYSLOG) read as 0: naming with them would lie.
  if (!any_nonzero) {
    out.symbols_.clear();
    out.names_.clear();
    return out;
  }
  std::stable_sort(out.symbols_.begin(), out.symbols_.end(),
                   [](const Symbol &a, const Symbol &b) { return a.address < b.address; });
  return out;
}

KernelSymbols KernelSymbols::load(const char *path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str());
}

std::string KernelSymbols::name_of(uint64_t address) const {
  auto after = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                                [](uint64_t a, const Symbol &s) { return a < s.address; });
  if (after == symbols_.begin()) return fmt::format("0x{:x}", address);
  const Symbol &symbol = *(after - 1);
  // Past the last symbol nothing says where it ends: only a plausible distance is named.
  if (after == symbols_.end() && address - symbol.address > kMaxDistancePastLast) return fmt::format("0x{:x}", address);
  // In the kernel image's text range but past _etext: not a function.
  if (text_end_ && symbol.address < text_end_ && address >= text_end_ && after != symbols_.end() &&
      after->address > text_end_)
    return fmt::format("0x{:x}", address);
  return names_.substr(symbol.name_offset, symbol.name_length);
}

std::vector<std::string> interesting_frames(const std::vector<std::string> &frames, size_t max_frames, size_t *hidden) {
  static constexpr std::string_view kSchedulerFrames[] = {"__schedule", "schedule", "__traceiter_sched_switch",
                                                          "schedule_preempt_disabled"};
  size_t first = 0;
  while (first < frames.size() &&
         std::find(std::begin(kSchedulerFrames), std::end(kSchedulerFrames), frames[first]) != std::end(kSchedulerFrames))
    first++;
  if (first == frames.size()) first = 0;  // only scheduler frames: show them rather than nothing
  std::vector<std::string> out;
  for (size_t i = first; i < frames.size() && out.size() < max_frames; i++) out.push_back(frames[i]);
  if (hidden) *hidden = frames.size() - first - out.size();
  return out;
}

}  // namespace triage::sched
