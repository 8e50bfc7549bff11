// Validation with the CNI rules (SPEC "Parameters", libcni's ValidateContainerID,
// ValidateNetworkName, ValidateInterfaceName). Each throws Error(invalid_argument)
// naming what was wrong; the bool forms only test.
#pragma once

#include <cstddef>
#include <string_view>

namespace sandnet::validate {

// ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ (container IDs and sandbox IDs).
bool is_container_id(std::string_view id) noexcept;
void container_id(std::string_view id);

// A sandbox ID: a container ID of at most kMaxSandboxIdLength bytes, so that
// every name made from it fits NAME_MAX (255): the pin "sandnet-<id>", the
// record "<id>.json" and its temp and ".corrupt" names, the CNI cache entry
// "<network>-<id>-<ifname>". Checked before anything is reserved.
inline constexpr std::size_t kMaxSandboxIdLength = 128;
void sandbox_id(std::string_view id);

// Same pattern as container IDs.
bool is_network_name(std::string_view name) noexcept;
void network_name(std::string_view name);

// 1..15 bytes, not "." or "..", no '/', ':' or whitespace.
bool is_interface_name(std::string_view name) noexcept;
void interface_name(std::string_view name);

// An IPv4 or IPv6 address as inet_pton reads it (no zone, no prefix), and
// "address/prefix" with the prefix in range for the address's family.
bool is_ip_address(std::string_view text);
bool is_cidr(std::string_view text);

// A CNI_ARGS key or value: printable, no ';' or '=' (keys) / no ';' (values),
// no control characters. Keys must be non-empty.
void cni_arg_key(std::string_view key);
void cni_arg_value(std::string_view value);

}  // namespace sandnet::validate
