// A private scratch file per fuzzing process (in /dev/shm when there is one: a report reads its
// recording from a path, and tmpfs keeps the disk out of each execution).
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace fuzz {

inline const std::string &scratch_file(const char *name) {
  static const std::string dir = [] {
    // tools/fuzz gives each run its own directory and removes it afterwards.
    if (const char *given = ::getenv("TRIAGE_FUZZ_SCRATCH"); given && *given) return std::string(given);
    std::string pattern = (::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + std::string("/triage-fuzz-XXXXXX");
    return std::string(::mkdtemp(pattern.data()));
  }();
  static std::string path;
  path = dir + "/" + name;
  return path;
}

inline void write_bytes(const std::string &path, const void *data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char *>(data), static_cast<std::streamsize>(size));
}

}  // namespace fuzz
