#include "core/json_fields.h"

namespace triage {

using nlohmann::json;

const json &at(const json &object, const char *key) {
  static const json absent;
  if (!object.is_object()) return absent;
  auto it = object.find(key);
  return it == object.end() ? absent : *it;
}

double num(const json &object, const char *key, double fallback) {
  const json &v = at(object, key);
  return v.is_number() ? v.get<double>() : fallback;
}

uint64_t to_u64(double v) {
  if (!(v > 0)) return 0;
  if (v >= 18446744073709551615.0) return UINT64_MAX;
  return static_cast<uint64_t>(v);
}

std::string str(const json &object, const char *key) {
  const json &v = at(object, key);
  return v.is_string() ? v.get<std::string>() : "";
}

const json &arr(const json &object, const char *key) {
  static const json empty = json::array();
  const json &v = at(object, key);
  return v.is_array() ? v : empty;
}

}  // namespace triage
