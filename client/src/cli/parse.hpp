// Parsers for the values the command-line programs take from their users
// (sandnetctl's options, sandnet-oci-hook's annotations and LXC arguments),
// so that one spelling means one thing in both. Each throws
// Error(invalid_argument) whose text starts with the label it was given.
#pragma once

#include <charconv>
#include <string>
#include <string_view>
#include <utility>

#include "sandnet/common/capabilities.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/protocol.hpp"

namespace sandnet::cli {

// A decimal integer in [min, max], the whole text; label names it in the error.
template <class Int>
Int parse_number(std::string_view text, Int min, Int max, std::string_view label) {
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
    throw_error(errc::invalid_argument, std::string(label) + " \"" + std::string(text) + "\" must be a number from " +
                                            std::to_string(min) + " to " + std::to_string(max));
  return value;
}

// [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]; HOSTIP may be an IPv6 address
// in brackets ("[::1]:8080:80/udp"). label: "--port", "io.sandnet.ports".
capabilities::PortMapping parse_port_spec(std::string_view spec, std::string_view label);

// "CONTAINERID:HOSTID:SIZE", an OCI linux.uidMappings entry as runc's and
// podman's --uidmap write it; SIZE must be positive and neither range may
// overflow. label: "--uidmap", "--gidmap".
protocol::IdMapping parse_id_mapping(std::string_view spec, std::string_view label);

// "K=V": K must be non-empty (V may be). label names the option.
std::pair<std::string, std::string> parse_key_value(std::string_view spec, std::string_view label);

}  // namespace sandnet::cli
