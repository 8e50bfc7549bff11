// Network configuration: parsing .conflist/.conf/.json files, loading a conf
// dir, and building each plugin's stdin (SPEC "Section 1" and "Section 3").
#pragma once

#include <boost/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sandnet/common/error.hpp"

namespace sandnet::cni {

struct NetworkConfigList {
  std::string name;
  // The selected version (highest of cniVersion/cniVersions that we support);
  // every plugin is called with this version.
  std::string cni_version;
  std::vector<std::string> cni_versions;  // as written in the file
  bool disable_check = false;
  bool disable_gc = false;
  std::vector<boost::json::object> plugins;  // each has a string "type"
  // The list's bytes (for a single .conf: the list libcni wraps it into);
  // stored base64-encoded in the result cache.
  std::string bytes;
  std::string source;  // file path or "<inline>", for error messages
};

// Parses a network list. Throws Error(invalid_argument) with context
// "<source>: ..." for bad JSON, a missing/invalid name, missing "plugins", a
// plugin without "type", or no supported version.
NetworkConfigList parse_network_list(std::string_view bytes, std::string source);

// Parses a single plugin config (.conf/.json) and wraps it into a one-plugin
// list, as libcni's ConfListFromConf does.
NetworkConfigList parse_network_config(std::string_view bytes, std::string source);

// Reads and parses one file by extension (.conflist vs .conf/.json).
NetworkConfigList load_network_file(const std::filesystem::path& file);

struct LoadedNetworks {
  std::vector<NetworkConfigList> networks;  // .conflist files first, then
                                            // .conf/.json; lexical within each
  std::vector<Error> errors;                // one per bad file, naming it
};

// Loads every network in conf_dir. A bad file does not hide the good ones: it
// is reported in errors (a missing conf_dir is an empty result).
LoadedNetworks load_networks(const std::filesystem::path& conf_dir);

// The network called name: .conflist files win over .conf/.json, lexical order
// within each. Bad files are skipped; if the name is not found, the
// Error(not_found) also names the files that could not be parsed.
NetworkConfigList find_network(const std::filesystem::path& conf_dir, std::string_view name);

// What a plugin's stdin is built for: an attachment (ADD, DEL, CHECK) or the
// whole network (GC, STATUS).
enum class StdinFor { attachment, network };

// The stdin for one plugin (SPEC "Deriving request configuration"): the
// plugin object plus "name", "cniVersion", "prevResult" (only the one given:
// a "prevResult" in the file never reaches a plugin) and "runtimeConfig"
// holding only the capabilities the plugin declares ("capabilities":
// {"portMappings": true}) that the caller supplied in capability_args. For an
// attachment "capabilities" itself is removed ("must not be set").
boost::json::object build_plugin_stdin(const boost::json::object& plugin, std::string_view name,
                                       std::string_view cni_version,
                                       const boost::json::value* prev_result,
                                       const boost::json::object& capability_args,
                                       StdinFor purpose = StdinFor::attachment);

// CNI_ARGS from key/value pairs, each validated (validate::cni_arg_key/value),
// joined "K=V;K=V". Throws Error(invalid_argument) naming the bad pair.
std::string build_cni_args(const std::vector<std::pair<std::string, std::string>>& args);

// Parses "K=V;K=V" as cnitool does (each pair exactly one '=', both sides
// non-empty). Throws Error(invalid_argument) naming the bad pair.
std::vector<std::pair<std::string, std::string>> parse_cni_args(std::string_view text);

}  // namespace sandnet::cni
