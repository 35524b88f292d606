// user/core/json_config.h: how every integer is read from recorded JSON.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>

#include <nlohmann/json.hpp>

using nlohmann::json;

TEST_CASE("json numbers: a float where an integer belongs saturates instead of being undefined") {
  CHECK(json(3e9).get<int>() == std::numeric_limits<int>::max());
  CHECK(json(-3e9).get<int>() == std::numeric_limits<int>::min());
  CHECK(json(1e19).get<int64_t>() == std::numeric_limits<int64_t>::max());
  CHECK(json(1e300).get<uint64_t>() == std::numeric_limits<uint64_t>::max());
  CHECK(json(-2.5).get<uint64_t>() == 0);
  CHECK(json(-2.5).get<unsigned>() == 0);
  CHECK(json(std::nan("")).get<int>() == 0);
  CHECK(json(42.9).get<int>() == 42);
  CHECK(json(-42.9).get<int64_t>() == -42);
  // value() with a default reads through the same conversion.
  CHECK(json::parse(R"({"n": 1e20})").value("n", uint64_t{7}) == 18446744073709551615ull);
  CHECK(json::parse(R"({"n": 1e19})").value("n", uint64_t{7}) == 10000000000000000000ull);
}

TEST_CASE("json numbers: integers and bools convert as before; other types are type_error 302") {
  CHECK(json(std::numeric_limits<uint64_t>::max()).get<uint64_t>() == std::numeric_limits<uint64_t>::max());
  CHECK(json(std::numeric_limits<int64_t>::min()).get<int64_t>() == std::numeric_limits<int64_t>::min());
  CHECK(json(true).get<int>() == 1);
  CHECK(json::parse("-5").get<int>() == -5);
  CHECK_THROWS_AS(json("text").get<int>(), json::type_error);
  CHECK_THROWS_AS(json(nullptr).get<uint64_t>(), json::type_error);
  CHECK_THROWS_AS(json::object().get<int>(), json::type_error);
}

TEST_CASE("json numbers: writing integers keeps signed and unsigned apart, as the library did") {
  CHECK(json(-1).is_number_integer());
  CHECK(json(7u).is_number_unsigned());
  CHECK(json(uint64_t{1} << 63).dump() == "9223372036854775808");
  CHECK(json(int16_t{-300}).dump() == "-300");
  CHECK(json::parse(json(std::numeric_limits<int64_t>::min()).dump()).get<int64_t>() ==
        std::numeric_limits<int64_t>::min());
  CHECK(json(5) == 5);
}
