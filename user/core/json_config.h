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

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

// Integers read from JSON. The library converts a float to the integer type asked for with a
// plain cast, undefined behaviour when the float is out of that type's range (3e9 as an int, -2.5
// as a uint64_t) - exactly what a damaged recording holds where a counter belongs. This
// specialisation saturates instead (NaN reads as 0), so every recorded number is read through
// one defined conversion without touching the hundreds of places that read one. Integers are
// converted as before; what is neither a number nor a bool is the library's type_error 302.
// Writing an integer into JSON is unchanged (stored as the library's signed or unsigned integer).
// Here, in the header every file includes first, so that no file sees the library's default.
namespace nlohmann {
template <typename Integer>
struct adl_serializer<Integer, std::enable_if_t<std::is_integral_v<Integer> && !std::is_same_v<Integer, bool>>> {
  template <typename Json>
  static void from_json(const Json &j, Integer &out) {
    if (const auto *u = j.template get_ptr<const typename Json::number_unsigned_t *>()) {
      out = static_cast<Integer>(*u);
    } else if (const auto *i = j.template get_ptr<const typename Json::number_integer_t *>()) {
      out = static_cast<Integer>(*i);
    } else if (const auto *f = j.template get_ptr<const typename Json::number_float_t *>()) {
      out = saturate(*f);
    } else if (const auto *b = j.template get_ptr<const typename Json::boolean_t *>()) {
      out = static_cast<Integer>(*b);
    } else {
      throw detail::type_error::create(302, std::string("type must be number, but is ") + j.type_name(), &j);
    }
  }

  template <typename Json>
  static void to_json(Json &j, Integer value) {
    if constexpr (std::is_signed_v<Integer>) {
      j = Json(detail::value_t::number_integer);
      *j.template get_ptr<typename Json::number_integer_t *>() = value;
    } else {
      j = Json(detail::value_t::number_unsigned);
      *j.template get_ptr<typename Json::number_unsigned_t *>() = value;
    }
  }

 private:
  static Integer saturate(double v) {
    using limits = std::numeric_limits<Integer>;
    if (std::isnan(v)) return 0;
    // Both bounds are powers of two (or zero), exact as doubles: compare before converting.
    if (v <= static_cast<double>(limits::min())) return limits::min();
    if (v >= std::ldexp(1.0, limits::digits)) return limits::max();
    return static_cast<Integer>(v);
  }
};
}  // namespace nlohmann
