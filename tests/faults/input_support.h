// Shared by the bad-input half of the fault suite (*_faults.cpp, hostile names): scratch files, running build/triage, and the one check every bad
// input must pass (exit 2, one line on stderr, nothing on stdout).
#pragma once

#include <string>
#include <vector>

namespace faults {

std::string read_file(const std::string &path);
void write_file(const std::string &path, const std::string &bytes);

struct Run {
  int exit_code = -1;  // -1 when killed by a signal (a crash)
  int signal = 0;
  std::string out, err;
};
// Runs build/triage with `args` in directory `cwd` (empty: the current one), stdin from /dev/null.
Run run_triage(const std::vector<std::string> &args, const std::string &cwd = "");

// Lines in s (a last line without '\n' counts).
int line_count(const std::string &s);

// Bytes that would act on a terminal: C0 controls other than \n and \t, DEL, and the C1 controls
// (U+0080..U+009F) as UTF-8. Returns the offset of the first, or npos.
size_t first_terminal_control(const std::string &text);

}  // namespace faults
