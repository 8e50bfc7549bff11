// Network configuration files (cni/src/config.cpp): a .conflist through
// parse_network_list and a single .conf through parse_network_config, then
// each plugin's stdin as the runtime builds it. What parses must be a list
// the runtime can use, and must parse again to the same list.
#include <optional>

#include "check.hpp"
#include "sandnet/cni/config.hpp"
#include "sandnet/cni/version.hpp"
#include "sandnet/common/error.hpp"

namespace json = boost::json;
namespace cni = sandnet::cni;
using sandnet::fuzz::check;
using sandnet::fuzz::check_same;
using sandnet::fuzz::fail;

namespace {

json::value summary(const cni::NetworkConfigList& list) {
  json::array plugins;
  for (const auto& p : list.plugins) plugins.push_back(p);
  return json::object{{"name", list.name},
                      {"cniVersion", list.cni_version},
                      {"cniVersions", json::value_from(list.cni_versions)},
                      {"disableCheck", list.disable_check},
                      {"disableGC", list.disable_gc},
                      {"plugins", std::move(plugins)}};
}

cni::NetworkConfigList reparse(const std::string& bytes, const char* what) {
  try {
    return cni::parse_network_list(bytes, "reparsed");
  } catch (const sandnet::Error& e) {
    fail(std::string(what) + " does not parse again: " + e.what(), bytes);
  }
}

void check_list(const cni::NetworkConfigList& list) {
  check(!list.name.empty(), "a parsed list has a name");
  check(cni::is_supported_version(list.cni_version), "a parsed list has a supported version", list.cni_version);
  check(!list.plugins.empty(), "a parsed list has plugins");
  for (const auto& p : list.plugins) {
    const json::value* type = p.if_contains("type");
    check(type && type->is_string() && !type->get_string().empty(), "every plugin has a type");
  }

  // The fields written out as a list parse to the same list.
  const json::value fields = summary(list);
  check_same(fields, summary(reparse(json::serialize(fields), "the parsed fields")), "list fields round trip");
  // The bytes kept for the cache parse to the same list (for a .conf, the
  // list it was wrapped into).
  check_same(fields, summary(reparse(list.bytes, "the list's bytes")), "list bytes round trip");

  // Each plugin's stdin: the plugin plus name and version, and only the
  // capabilities the plugin declares.
  const json::object capability_args{{"portMappings", json::array{}}, {"bandwidth", json::object{}},
                                     {"dns", json::object{}}};
  for (const auto& p : list.plugins) {
    json::object in = cni::build_plugin_stdin(p, list.name, list.cni_version, nullptr, capability_args);
    check(in.at("name") == json::value(list.name) && in.at("cniVersion") == json::value(list.cni_version),
          "plugin stdin carries name and cniVersion");
    if (const json::value* rc = in.if_contains("runtimeConfig")) {
      const json::value* caps = p.if_contains("capabilities");
      check(caps && caps->is_object(), "runtimeConfig only for declared capabilities");
      for (const auto& [k, v] : rc->get_object()) {
        const json::value* declared = caps->get_object().if_contains(k);
        check(declared && declared->is_bool() && declared->get_bool(), "runtimeConfig key declared true");
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes = sandnet::fuzz::as_text(data, size);
  std::optional<cni::NetworkConfigList> list;
  try {
    list = cni::parse_network_list(bytes, "fuzz.conflist");
  } catch (const sandnet::Error&) {
  }
  if (list) check_list(*list);
  std::optional<cni::NetworkConfigList> single;
  try {
    single = cni::parse_network_config(bytes, "fuzz.conf");
  } catch (const sandnet::Error&) {
  }
  if (single) {
    check(single->plugins.size() == 1, "a .conf is a one-plugin list");
    check_list(*single);
  }
  return 0;
}
