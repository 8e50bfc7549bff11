// JSON parsing that refuses numbers beyond a double's range. Boost.JSON reads
// 1e400 as infinity and serialises infinity as "Infinity", which is not JSON:
// such a value from a caller, a plugin or a file would make every record,
// cache entry, plugin stdin and reply it is copied into unreadable.
#pragma once

#include <boost/json.hpp>
#include <string_view>

namespace sandnet {

// Whether v holds a number that is not finite (depth bounded by the parser's
// max_depth, as v comes from a parse).
bool has_non_finite(const boost::json::value& v) noexcept;

// boost::json::parse, with ec set to error::exponent_overflow when a number
// does not fit a double.
boost::json::value parse_finite_json(std::string_view text, boost::json::error_code& ec);

}  // namespace sandnet
