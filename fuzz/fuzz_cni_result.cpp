// A plugin's stdout (cni/src/result.cpp): parse_result in the network's
// version, convert_result to every version the runtime speaks, and the CNI
// error object. Input: one byte choosing the config version, then stdout.
// What parses or converts must parse again, in its own version, unchanged.
#include <optional>

#include "check.hpp"
#include "sandnet/cni/result.hpp"
#include "sandnet/cni/version.hpp"
#include "sandnet/common/error.hpp"

namespace json = boost::json;
namespace cni = sandnet::cni;
using sandnet::fuzz::check;
using sandnet::fuzz::check_same;
using sandnet::fuzz::fail;

namespace {

json::object parse_own(const json::object& result, const char* what) {
  const std::string text = json::serialize(result);
  try {
    // The version argument only matters when "cniVersion" is missing.
    return cni::parse_result(text, "0.0.0-unused");
  } catch (const sandnet::Error& e) {
    fail(std::string(what) + " does not parse again: " + e.what(), text);
  }
}

void check_version(const json::object& result, std::string_view version, const char* what) {
  check(cni::result_version(result) == version, what, json::serialize(result));
  check(!result.empty() && result.begin()->key() == "cniVersion", "cniVersion comes first", json::serialize(result));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view config_version = cni::kSupportedVersions[data[0] % cni::kSupportedVersions.size()];
  const std::string_view stdout_bytes = sandnet::fuzz::as_text(data + 1, size - 1);

  (void)cni::parse_error_object(stdout_bytes);

  std::optional<json::object> result;
  try {
    result = cni::parse_result(stdout_bytes, config_version);
  } catch (const sandnet::Error&) {
    return 0;
  }
  const std::string version = cni::result_version(*result);
  check(cni::is_supported_version(version), "a parsed result has a supported version", version);
  check_version(*result, version, "parse_result keeps or fills in cniVersion");
  check_same(*result, parse_own(*result, "a parsed result"), "parse_result round trip");

  for (std::string_view to : cni::kSupportedVersions) {
    std::optional<json::object> converted;
    try {
      converted = cni::convert_result(*result, to);
    } catch (const sandnet::Error&) {
      // Only a 0.1.0/0.2.0 result without an IP cannot be written.
      check(cni::compare_versions(to, "0.3.0") < 0, "only a conversion to 0.2.0 may be refused", to);
      continue;
    }
    check_version(*converted, to, "convert_result sets cniVersion");
    const json::object reparsed = parse_own(*converted, "a converted result");
    check_same(*converted, reparsed, "converted result round trip");
    try {
      check_same(*converted, cni::convert_result(reparsed, to), "converting again to the same version changes nothing");
    } catch (const sandnet::Error& e) {
      fail(std::string("a converted result does not convert to its own version: ") + e.what(),
           json::serialize(*converted));
    }
  }
  return 0;
}
