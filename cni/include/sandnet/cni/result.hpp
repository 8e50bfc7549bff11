// CNI results as JSON in a given spec version, with libcni's conversions:
// 0.1.0/0.2.0 ("ip4"/"ip6") <-> 0.3.x/0.4.0 ("interfaces", "ips" with
// "version") <-> 1.x ("ips" without "version"; 1.1.0 adds route/interface
// fields).
#pragma once

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "sandnet/common/error.hpp"

namespace sandnet::cni {

// The result's "cniVersion" (empty when absent).
std::string result_version(const boost::json::object& result);

// Parses a plugin's stdout as a result. A result without "cniVersion" is taken
// to be in config_version (libcni does the same, CNI issue 895). Throws
// Error(invalid_argument) for non-JSON, non-object or a malformed result of a
// known version (e.g. "ips" not an array, an IP without "address").
boost::json::object parse_result(std::string_view stdout_bytes, std::string_view config_version);

// Converts result (any supported version) to to_version. Fields a version does
// not know are dropped. Throws Error(invalid_argument) when the conversion is
// impossible (e.g. to 0.2.0 from a result without any IP address).
boost::json::object convert_result(const boost::json::object& result, std::string_view to_version);

// A CNI error object ({"code":N,"msg":...,"details":...}) in a plugin's stdout,
// if there is one.
std::optional<CniErrorInfo> parse_error_object(std::string_view stdout_bytes);

}  // namespace sandnet::cni
