// What the fuzz targets assert. A failed check prints what broke and
// aborts, so libFuzzer saves the input as a crash reproducer.
#pragma once

#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

namespace sandnet::fuzz {

[[noreturn]] inline void fail(std::string_view what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz check failed: %.*s\n%.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

inline void check(bool ok, std::string_view what, std::string_view detail = {}) {
  if (!ok) fail(what, detail);
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Structural equality of two JSON values. Boost.JSON 1.81's parser may read
// a double back one or two ulps off what its serialiser wrote, so doubles
// compare within a few ulps; integers by value; everything else exactly.
inline bool same_json(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double(), y = b.get_double();
    if (x == y || (std::isnan(x) && std::isnan(y))) return true;
    return std::fabs(x - y) <= 4 * std::numeric_limits<double>::epsilon() * std::fmax(std::fabs(x), std::fabs(y));
  }
  // 5 read back is an int64 where the encoder wrote a uint64: the same number.
  if (a.is_number() && b.is_number() && !a.is_double() && !b.is_double()) return a == b;
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& [k, v] : x) {
      const auto* w = y.if_contains(k);
      if (!w || !same_json(v, *w)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!same_json(x[i], y[i])) return false;
    return true;
  }
  return a == b;
}

inline void check_same(const boost::json::value& first, const boost::json::value& second, std::string_view what) {
  if (!same_json(first, second))
    fail(what, "first:  " + boost::json::serialize(first) + "\nsecond: " + boost::json::serialize(second));
}

}  // namespace sandnet::fuzz
