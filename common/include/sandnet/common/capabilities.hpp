// CNI capability arguments (runtimeConfig, CONVENTIONS.md) as typed values.
//
// Every capability a caller asks for is parsed here into these types and
// re-serialised from them: no caller JSON reaches a plugin unparsed. Go
// plugins decode JSON keys case-insensitively, so {"hostPort": 30080,
// "HostPort": 22} would let a policy check one port while portmap maps the
// other; here unknown keys, keys that differ from a known one only in case,
// and out-of-range values are refused, naming the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/fwd.hpp>
#include <boost/json/object.hpp>

namespace sandnet::capabilities {

// portMappings entry. protocol is lower case: tcp, udp or sctp.
struct PortMapping {
  std::uint16_t host_port = 0;
  std::uint16_t container_port = 0;
  std::string protocol = "tcp";
  std::string host_ip;  // empty: every host address
  bool operator==(const PortMapping&) const = default;
};

// One entry of an ipRanges range set.
struct IpRange {
  std::string subnet;  // CIDR
  std::string range_start, range_end, gateway;
  bool operator==(const IpRange&) const = default;
};

// bandwidth: rates in bits per second, bursts in bits (the bandwidth plugin's units).
struct Bandwidth {
  std::optional<std::uint64_t> ingress_rate, ingress_burst, egress_rate, egress_burst;
  bool operator==(const Bandwidth&) const = default;
};

struct Dns {
  std::vector<std::string> servers, searches, options;
  bool operator==(const Dns&) const = default;
};

// What a caller may pass as runtimeConfig. A member that is set was asked for.
struct CapabilityArgs {
  std::optional<std::vector<PortMapping>> port_mappings;  // "portMappings"
  std::optional<std::vector<std::vector<IpRange>>> ip_ranges;  // "ipRanges"
  std::optional<Bandwidth> bandwidth;                     // "bandwidth"
  std::optional<Dns> dns;                                 // "dns"
  std::optional<std::vector<std::string>> ips;            // "ips": IPs or CIDRs
  std::optional<std::string> mac;                         // "mac"
  std::optional<std::vector<std::string>> aliases;        // "aliases"
  std::optional<std::string> cgroup_path;                 // "cgroupPath"
  std::optional<std::string> infiniband_guid;             // "infinibandGUID"
  std::optional<std::string> device_id;                   // "deviceID"

  bool empty() const noexcept;
  // The capability names asked for, as CNI spells them.
  std::vector<std::string> names() const;
  bool operator==(const CapabilityArgs&) const = default;
};

// The capability names sandnet knows, as CNI spells them.
const std::vector<std::string>& known_names();

// Parses a "capabilities" object. Throws Error(invalid_argument) naming the
// field ("capabilities.portMappings[0].hostPort ..."). null is no capabilities.
CapabilityArgs parse(const boost::json::value& v);

// The canonical runtimeConfig object, built only from the typed values.
boost::json::object to_json(const CapabilityArgs& args);

}  // namespace sandnet::capabilities
