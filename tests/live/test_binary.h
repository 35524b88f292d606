// The triage binary a test drives.
#pragma once

#include <cstdlib>

// This build's own (TRIAGE_BINARY, set by CMake), or $TRIAGE_TEST_BINARY when set: tools/test runs
// the live suite a second time against the sanitized build's binary without building the tests
// twice (the tests are the harness; the binary is what the sanitizers must watch).
inline const char *triage_test_binary() {
  const char *env = std::getenv("TRIAGE_TEST_BINARY");
  return env && *env ? env : TRIAGE_BINARY;
}

// Whether that binary is the sanitized build (tools/test says so with $TRIAGE_TEST_BINARY_SANITIZED):
// its memory figures include AddressSanitizer's shadow memory, redzones and quarantine.
inline bool triage_test_binary_sanitized() {
  const char *env = std::getenv("TRIAGE_TEST_BINARY_SANITIZED");
  return env && *env && *env != '0';
}
