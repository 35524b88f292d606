// `triage report --from T --to T --last DURATION`: which part of a recording to report. T is
// seconds from the window's start ("90", "1m30s"), a UTC clock time ("03:12:10") or an ISO time
// ("2026-12-06T03:12:10Z"); --last is the window's final DURATION. See ../shared/INTERFACE.md.
#pragma once

#include <optional>
#include <string>

#include "core/result.h"
#include "record/recording.h"

namespace triage {

struct SliceArgs {
  std::optional<std::string> from, to, last;
  bool any() const { return from || to || last; }
};

// The window as recorded: CLOCK_MONOTONIC bounds and the wall-clock time of its start.
struct WindowBounds {
  uint64_t start_mono_ns = 0, end_mono_ns = 0, start_realtime_ns = 0;
  static WindowBounds of(const RecordingReader &recording);
};

// A duration: "90", "1.5", "1m30s", "2h", "500ms" (a bare number is seconds); nullopt if malformed.
std::optional<double> parse_duration_s(const std::string &text);

// The slice the arguments name, as the reader takes it, or an error (kExitUsage) that quotes the
// recording's own range. A slice reaching past either end is cut there; one entirely outside, or
// empty, is an error. No argument: the whole window.
Result<Slice> resolve_slice(const SliceArgs &args, const WindowBounds &window);

}  // namespace triage
