// Pressure stall information (/proc/pressure/{cpu,io,memory}, Linux 4.20+ with CONFIG_PSI and not
// booted with psi=0): the share of time some (or all) runnable tasks stalled on a resource. Read
// by the checklist (its averages) and by the sched family each interval (the growth of `total`),
// so that both say the same thing. Kept apart from /proc so that tests feed it made-up files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace triage {

struct PressureLine {
  double avg10 = 0, avg60 = 0, avg300 = 0;  // percent, as the kernel averages them
  uint64_t total_us = 0;                    // stall time since boot
};

struct ResourcePressure {
  std::optional<PressureLine> some, full;  // full: absent for cpu before 5.13
};

struct PressureReading {
  std::optional<ResourcePressure> cpu, io, memory;  // nullopt: the file is missing or unreadable
  bool any() const { return cpu || io || memory; }
};

// One file's text: "some avg10=1.06 avg60=2.97 avg300=5.93 total=4359527864\nfull ...".
std::optional<ResourcePressure> parse_pressure(std::string_view text);
PressureReading read_pressure(const std::string &dir = "/proc/pressure");

// The checklist's shape: {cpu: {some: {avg10, avg60, avg300, total_us}, full: ...}, io, memory},
// a resource the kernel does not report null.
nlohmann::json pressure_json(const PressureReading &reading);

// Percent of (earlier, later] that tasks stalled, from two readings `elapsed_us` apart; nullopt
// when either reading lacks the line.
std::optional<double> stall_pct(const std::optional<PressureLine> &earlier, const std::optional<PressureLine> &later,
                                double elapsed_us);

}  // namespace triage
