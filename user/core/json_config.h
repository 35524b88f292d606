// Included before everything else in every translation unit that links triage_core (-include):
// nlohmann::json's const operator[] on a missing key is an assert, undefined behaviour once NDEBUG
// drops it. The report renderers read recorded rows that way and a damaged recording can lack any
// key, so the assert becomes a catchable exception, which `triage report` turns into exit 2.
// (The library's other asserts guard its own invariants, some inside noexcept functions: those
// still end the process, as an assert would.)
#pragma once

#include <stdexcept>

[[noreturn]] inline void triage_json_assert_failed() {
  throw std::logic_error("json: a key or element the report needs is missing");
}

#define JSON_ASSERT(cond) ((cond) ? static_cast<void>(0) : triage_json_assert_failed())
