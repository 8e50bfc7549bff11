#include "sandnet/common/finite_json.hpp"

#include <cmath>

namespace sandnet {
namespace json = boost::json;

bool has_non_finite(const json::value& v) noexcept {
  switch (v.kind()) {
    case json::kind::double_:
      return !std::isfinite(v.get_double());
    case json::kind::array:
      for (const auto& e : v.get_array())
        if (has_non_finite(e)) return true;
      return false;
    case json::kind::object:
      for (const auto& [k, e] : v.get_object())
        if (has_non_finite(e)) return true;
      return false;
    default:
      return false;
  }
}

json::value parse_finite_json(std::string_view text, json::error_code& ec) {
  json::value v = json::parse(text, ec);
  if (!ec && has_non_finite(v)) {
    ec = json::error::exponent_overflow;
    return nullptr;
  }
  return v;
}

}  // namespace sandnet
