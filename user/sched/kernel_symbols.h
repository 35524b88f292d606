// Kernel text addresses to function names, from /proc/kallsyms: the frames of the D-state stacks.
// Parsed once, lazily (the first stack to name), into one sorted vector searched by address.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace triage::sched {

class KernelSymbols {
 public:
  // From kallsyms text ("ffffffff81000000 T _stext", module symbols with "\t[module]" after).
  // Only text symbols (t, T, w, W) are kept: a return address points into a function.
  static KernelSymbols parse(std::string_view text);
  // /proc/kallsyms (root sees the addresses; others read zeros under kptr_restrict).
  static KernelSymbols load(const char *path = "/proc/kallsyms");

  // The function that holds `address` ("io_schedule"), or "0x<hex>" when no symbol does
  // (addresses hidden, an address below the first symbol or past the last text).
  std::string name_of(uint64_t address) const;
  // Whether names mean anything: false when the file was unreadable or its addresses read as 0.
  bool usable() const { return !symbols_.empty(); }
  size_t size() const { return symbols_.size(); }

 private:
  struct Symbol {
    uint64_t address;
    uint32_t name_offset, name_length;  // in names_
  };
  std::vector<Symbol> symbols_;  // by address
  std::string names_;
  uint64_t text_end_ = 0;  // past this no address is named (the last symbol has no known size)
};

// Frames of one stack, innermost first, as the report shows them: the scheduler's own frames at
// the top (__schedule, schedule, ...: every wait has them) are dropped and at most `max_frames`
// kept; `hidden` gets how many were left out past them.
std::vector<std::string> interesting_frames(const std::vector<std::string> &frames, size_t max_frames, size_t *hidden);

}  // namespace triage::sched
