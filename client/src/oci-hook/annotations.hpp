// What a container asks of sandnet: the io.sandnet.* annotations of its OCI
// state (or the LXC hook's options, parsed by the same list parsers), as
// typed, validated values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sandnet/common/capabilities.hpp"

namespace sandnet::oci_hook {

namespace annotation {
inline constexpr const char* kPrefix = "io.sandnet.";
inline constexpr const char* kId = "io.sandnet.id";
inline constexpr const char* kNetworks = "io.sandnet.networks";
inline constexpr const char* kPorts = "io.sandnet.ports";
inline constexpr const char* kIfname = "io.sandnet.ifname";
inline constexpr const char* kArgs = "io.sandnet.args";
inline constexpr const char* kResult = "io.sandnet.result";
}  // namespace annotation

struct NetworkOptions {
  std::optional<std::string> id;       // the sandbox ID instead of the container's
  std::vector<std::string> networks;   // empty: the daemon's defaults
  std::string ifname;                  // the first network's interface; empty: the daemon's (eth0)
  std::vector<capabilities::PortMapping> ports;
  std::vector<std::pair<std::string, std::string>> args;  // CNI_ARGS
  std::string result_path;             // absolute; empty: write no result file
};

// Each throws Error(invalid_argument) starting with label.
// "net1,net2": names with the CNI rules; no empty item, no name twice. "" is no network.
std::vector<std::string> parse_network_list(std::string_view text, std::string_view label);
// "8080:80,127.0.0.1:5353:53/udp": port specs (cli::parse_port_spec), no host port twice.
std::vector<capabilities::PortMapping> parse_port_list(std::string_view text, std::string_view label);
// "K=V;K=V": CNI_ARGS pairs, no key twice.
std::vector<std::pair<std::string, std::string>> parse_cni_args(std::string_view text, std::string_view label);
// An absolute path that names a file (not ending in '/').
std::string parse_result_path(std::string_view text, std::string_view label);

// All io.sandnet.* annotations; other annotations are the runtime's and
// ignored. An io.sandnet.* key this program does not know is refused, so a
// typo (io.sandnet.network) fails instead of silently using the defaults.
NetworkOptions parse_annotations(const std::map<std::string, std::string>& annotations);

// Only io.sandnet.id (what a teardown needs): the other annotations were
// checked at setup, and a teardown must not fail over them.
std::optional<std::string> parse_id_annotation(const std::map<std::string, std::string>& annotations);

}  // namespace sandnet::oci_hook
