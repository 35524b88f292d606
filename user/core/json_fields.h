// Tolerant readers of a report's JSON. A report from an older build or a damaged recording may
// miss a key or hold another type there: every reader of a built report (the HTML page, the
// findings that read other sections, the checklist's render) takes a default rather than throw.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace triage {

// The value at `key`, or null when `object` is no object or lacks it.
const nlohmann::json &at(const nlohmann::json &object, const char *key);
double num(const nlohmann::json &object, const char *key, double fallback = 0);
// A recorded number as an unsigned integer: a damaged row's -1, 1e300 or NaN must clamp, since
// converting an out-of-range double to an integer is undefined behaviour.
uint64_t to_u64(double v);
inline uint64_t u64(const nlohmann::json &object, const char *key) { return to_u64(num(object, key)); }
std::string str(const nlohmann::json &object, const char *key);
// The array at `key`, or an empty one.
const nlohmann::json &arr(const nlohmann::json &object, const char *key);

}  // namespace triage
