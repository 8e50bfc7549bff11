#include "sandnet/common/capabilities.hpp"


#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <functional>
#include <limits>

#include "sandnet/common/error.hpp"
#include "sandnet/common/validate.hpp"

namespace sandnet::capabilities {
namespace json = boost::json;

namespace {

// Bounds on what one request may ask for: far above any real pod, far below
// what would make a plugin's stdin or a record unwieldy.
constexpr std::size_t kMaxListEntries = 256;
constexpr std::size_t kMaxStringBytes = 1024;

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

[[noreturn]] void fail(const std::string& where, std::string_view why) {
  throw_error(errc::invalid_argument, where + " " + std::string(why));
}

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 64)) out += (c < 0x20 || c >= 0x7f) ? '?' : static_cast<char>(c);
  return s.size() > 64 ? out + "..." : out;
}

// Refuses keys it does not know, and names the known key a case variant
// shadows (Go's encoding/json would read "HostPort" as "hostPort").
void only_known(const json::object& o, const std::string& where, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : o) {
    if (std::find(known.begin(), known.end(), std::string_view(key)) != known.end()) continue;
    for (auto k : known)
      if (equal_ignoring_case(key, k))
        fail(where + "." + printable(key), "differs from \"" + std::string(k) +
                                               "\" only in case (plugins would read it as that field)");
    fail(where + "." + printable(key), "is not a known field");
  }
}

const json::object& as_object(const json::value& v, const std::string& where) {
  if (!v.is_object()) fail(where, "must be an object");
  return v.get_object();
}

const json::array& as_array(const json::value& v, const std::string& where) {
  if (!v.is_array()) fail(where, "must be an array");
  const auto& a = v.get_array();
  if (a.size() > kMaxListEntries) fail(where, "has more than " + std::to_string(kMaxListEntries) + " entries");
  return a;
}

std::string as_string(const json::value& v, const std::string& where) {
  if (!v.is_string()) fail(where, "must be a string");
  const auto& s = v.get_string();
  if (s.size() > kMaxStringBytes) fail(where, "is longer than " + std::to_string(kMaxStringBytes) + " bytes");
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) fail(where, "must not contain control characters");
  return std::string(s);
}

std::uint64_t as_unsigned(const json::value& v, const std::string& where, std::uint64_t max) {
  std::uint64_t n = 0;
  if (v.is_uint64()) {
    n = v.get_uint64();
  } else if (v.is_int64() && v.get_int64() >= 0) {
    n = static_cast<std::uint64_t>(v.get_int64());
  } else if (v.is_int64()) {
    fail(where, "must not be negative");
  } else {
    fail(where, "must be an integer");
  }
  if (n > max) fail(where, "must be at most " + std::to_string(max));
  return n;
}

std::uint16_t as_port(const json::value& v, const std::string& where) {
  const auto n = as_unsigned(v, where, 65535);
  if (n == 0) fail(where, "must be a port number (1-65535)");
  return static_cast<std::uint16_t>(n);
}

bool is_ip(const std::string& s) { return validate::is_ip_address(s); }
bool is_cidr(const std::string& s) { return validate::is_cidr(s); }

std::string as_ip(const json::value& v, const std::string& where) {
  auto s = as_string(v, where);
  if (!is_ip(s)) fail(where, "must be an IPv4 or IPv6 address");
  return s;
}

// A DNS name or search domain: letters, digits, '-', '_', '.' (1..253 bytes).
std::string as_domain(const json::value& v, const std::string& where) {
  auto s = as_string(v, where);
  if (s.empty() || s.size() > 253) fail(where, "must be a domain name of 1 to 253 bytes");
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') fail(where, "must be a domain name");
  return s;
}

// xx:xx:xx:xx:xx:xx, or a longer colon-separated hex form (infiniband GUIDs).
bool is_hex_octets(const std::string& s, std::size_t octets) {
  if (s.size() != octets * 3 - 1) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i % 3 == 2) {
      if (s[i] != ':') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> strings_of(const json::value& v, const std::string& where,
                                    const std::function<std::string(const json::value&, const std::string&)>& one) {
  std::vector<std::string> out;
  const auto& a = as_array(v, where);
  for (std::size_t i = 0; i < a.size(); ++i) out.push_back(one(a[i], where + "[" + std::to_string(i) + "]"));
  return out;
}

std::string index(const std::string& where, std::size_t i) { return where + "[" + std::to_string(i) + "]"; }

std::vector<PortMapping> parse_port_mappings(const json::value& v, const std::string& where) {
  std::vector<PortMapping> out;
  const auto& list = as_array(v, where);
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string at = index(where, i);
    const auto& o = as_object(list[i], at);
    only_known(o, at, {"hostPort", "containerPort", "protocol", "hostIP"});
    PortMapping m;
    const auto* host = o.if_contains("hostPort");
    if (!host) fail(at + ".hostPort", "is required");
    m.host_port = as_port(*host, at + ".hostPort");
    const auto* container = o.if_contains("containerPort");
    if (!container) fail(at + ".containerPort", "is required");
    m.container_port = as_port(*container, at + ".containerPort");
    if (const auto* p = o.if_contains("protocol"); p && !p->is_null()) {
      auto proto = as_string(*p, at + ".protocol");
      std::transform(proto.begin(), proto.end(), proto.begin(), [](unsigned char c) { return std::tolower(c); });
      if (proto.empty()) proto = "tcp";
      if (proto != "tcp" && proto != "udp" && proto != "sctp") fail(at + ".protocol", "must be tcp, udp or sctp");
      m.protocol = proto;
    }
    if (const auto* ip = o.if_contains("hostIP"); ip && !ip->is_null()) {
      auto s = as_string(*ip, at + ".hostIP");
      if (!s.empty() && !is_ip(s)) fail(at + ".hostIP", "must be an IPv4 or IPv6 address");
      m.host_ip = s;
    }
    for (std::size_t j = 0; j < out.size(); ++j)
      if (out[j].host_port == m.host_port && out[j].protocol == m.protocol && out[j].host_ip == m.host_ip)
        fail(at, "maps host port " + std::to_string(m.host_port) + "/" + m.protocol + " again (see " +
                     index(where, j) + ")");
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<std::vector<IpRange>> parse_ip_ranges(const json::value& v, const std::string& where) {
  std::vector<std::vector<IpRange>> out;
  const auto& sets = as_array(v, where);
  for (std::size_t i = 0; i < sets.size(); ++i) {
    const std::string set_at = index(where, i);
    std::vector<IpRange> set;
    const auto& ranges = as_array(sets[i], set_at);
    for (std::size_t j = 0; j < ranges.size(); ++j) {
      const std::string at = index(set_at, j);
      const auto& o = as_object(ranges[j], at);
      only_known(o, at, {"subnet", "rangeStart", "rangeEnd", "gateway"});
      IpRange r;
      const auto* subnet = o.if_contains("subnet");
      if (!subnet) fail(at + ".subnet", "is required");
      r.subnet = as_string(*subnet, at + ".subnet");
      if (!is_cidr(r.subnet)) fail(at + ".subnet", "must be a CIDR such as 10.1.0.0/16");
      if (const auto* s = o.if_contains("rangeStart")) r.range_start = as_ip(*s, at + ".rangeStart");
      if (const auto* s = o.if_contains("rangeEnd")) r.range_end = as_ip(*s, at + ".rangeEnd");
      if (const auto* s = o.if_contains("gateway")) r.gateway = as_ip(*s, at + ".gateway");
      set.push_back(std::move(r));
    }
    out.push_back(std::move(set));
  }
  return out;
}

Bandwidth parse_bandwidth(const json::value& v, const std::string& where) {
  const auto& o = as_object(v, where);
  only_known(o, where, {"ingressRate", "ingressBurst", "egressRate", "egressBurst"});
  Bandwidth b;
  // Within int64 so that every JSON decoder (Go's included) reads them exactly.
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (const auto* x = o.if_contains("ingressRate")) b.ingress_rate = as_unsigned(*x, where + ".ingressRate", kMax);
  if (const auto* x = o.if_contains("ingressBurst")) b.ingress_burst = as_unsigned(*x, where + ".ingressBurst", kMax);
  if (const auto* x = o.if_contains("egressRate")) b.egress_rate = as_unsigned(*x, where + ".egressRate", kMax);
  if (const auto* x = o.if_contains("egressBurst")) b.egress_burst = as_unsigned(*x, where + ".egressBurst", kMax);
  return b;
}

Dns parse_dns(const json::value& v, const std::string& where) {
  const auto& o = as_object(v, where);
  only_known(o, where, {"servers", "searches", "options"});
  Dns d;
  if (const auto* x = o.if_contains("servers")) d.servers = strings_of(*x, where + ".servers", as_ip);
  if (const auto* x = o.if_contains("searches")) d.searches = strings_of(*x, where + ".searches", as_domain);
  if (const auto* x = o.if_contains("options"))
    d.options = strings_of(*x, where + ".options", [](const json::value& s, const std::string& at) {
      auto opt = as_string(s, at);
      if (opt.empty() || opt.find_first_of(" \t") != std::string::npos) fail(at, "must be one resolv.conf option");
      return opt;
    });
  return d;
}

// The names as CNI spells them, in the order to_json emits them.
constexpr std::string_view kPortMappings = "portMappings", kIpRanges = "ipRanges", kBandwidth = "bandwidth",
                           kDns = "dns", kIps = "ips", kMac = "mac", kAliases = "aliases",
                           kCgroupPath = "cgroupPath", kInfinibandGuid = "infinibandGUID", kDeviceId = "deviceID";

}  // namespace

const std::vector<std::string>& known_names() {
  static const std::vector<std::string> names{std::string(kPortMappings), std::string(kIpRanges),
                                              std::string(kBandwidth),    std::string(kDns),
                                              std::string(kIps),          std::string(kMac),
                                              std::string(kAliases),      std::string(kCgroupPath),
                                              std::string(kInfinibandGuid), std::string(kDeviceId)};
  return names;
}

bool CapabilityArgs::empty() const noexcept { return names().empty(); }

std::vector<std::string> CapabilityArgs::names() const {
  std::vector<std::string> out;
  if (port_mappings) out.emplace_back(kPortMappings);
  if (ip_ranges) out.emplace_back(kIpRanges);
  if (bandwidth) out.emplace_back(kBandwidth);
  if (dns) out.emplace_back(kDns);
  if (ips) out.emplace_back(kIps);
  if (mac) out.emplace_back(kMac);
  if (aliases) out.emplace_back(kAliases);
  if (cgroup_path) out.emplace_back(kCgroupPath);
  if (infiniband_guid) out.emplace_back(kInfinibandGuid);
  if (device_id) out.emplace_back(kDeviceId);
  return out;
}

CapabilityArgs parse(const json::value& v) {
  CapabilityArgs args;
  if (v.is_null()) return args;
  const std::string where = "capabilities";
  const auto& o = as_object(v, where);
  for (const auto& [key, value] : o) {
    const std::string at = where + "." + printable(key);
    // null is "not asked for", as for every other optional field.
    if (value.is_null()) continue;
    if (key == kPortMappings) {
      args.port_mappings = parse_port_mappings(value, at);
    } else if (key == kIpRanges) {
      args.ip_ranges = parse_ip_ranges(value, at);
    } else if (key == kBandwidth) {
      args.bandwidth = parse_bandwidth(value, at);
    } else if (key == kDns) {
      args.dns = parse_dns(value, at);
    } else if (key == kIps) {
      args.ips = strings_of(value, at, [](const json::value& s, const std::string& a) {
        auto ip = as_string(s, a);
        if (!is_ip(ip) && !is_cidr(ip)) fail(a, "must be an IP address or CIDR");
        return ip;
      });
    } else if (key == kMac) {
      auto mac = as_string(value, at);
      if (!is_hex_octets(mac, 6)) fail(at, "must be a MAC address such as 02:42:ac:11:00:02");
      args.mac = mac;
    } else if (key == kAliases) {
      args.aliases = strings_of(value, at, as_domain);
    } else if (key == kCgroupPath) {
      auto path = as_string(value, at);
      if (path.empty() || path.front() != '/' || path.find("/../") != std::string::npos ||
          (path.size() >= 3 && path.compare(path.size() - 3, 3, "/..") == 0))
        fail(at, "must be an absolute path without ..");
      args.cgroup_path = path;
    } else if (key == kInfinibandGuid) {
      auto guid = as_string(value, at);
      if (!is_hex_octets(guid, 8)) fail(at, "must be a GUID such as 00:11:22:33:44:55:66:77");
      args.infiniband_guid = guid;
    } else if (key == kDeviceId) {
      auto id = as_string(value, at);
      if (id.empty() || id.size() > 64) fail(at, "must be 1 to 64 bytes");
      for (unsigned char c : id)
        if (!std::isalnum(c) && c != ':' && c != '.' && c != '-' && c != '_') fail(at, "must be a device ID such as 0000:03:00.1");
      args.device_id = id;
    } else {
      for (const auto& known : known_names())
        if (equal_ignoring_case(key, known))
          fail(at, "differs from \"" + known + "\" only in case (plugins would read it as that capability)");
      fail(at, "is not a capability sandnet knows (known: portMappings, ipRanges, bandwidth, dns, ips, mac, "
               "aliases, cgroupPath, infinibandGUID, deviceID)");
    }
  }
  return args;
}

json::object to_json(const CapabilityArgs& args) {
  json::object o;
  if (args.port_mappings) {
    json::array list;
    for (const auto& m : *args.port_mappings) {
      json::object e{{"hostPort", m.host_port}, {"containerPort", m.container_port}, {"protocol", m.protocol}};
      if (!m.host_ip.empty()) e["hostIP"] = m.host_ip;
      list.push_back(std::move(e));
    }
    o[kPortMappings] = std::move(list);
  }
  if (args.ip_ranges) {
    json::array sets;
    for (const auto& set : *args.ip_ranges) {
      json::array ranges;
      for (const auto& r : set) {
        json::object e{{"subnet", r.subnet}};
        if (!r.range_start.empty()) e["rangeStart"] = r.range_start;
        if (!r.range_end.empty()) e["rangeEnd"] = r.range_end;
        if (!r.gateway.empty()) e["gateway"] = r.gateway;
        ranges.push_back(std::move(e));
      }
      sets.push_back(std::move(ranges));
    }
    o[kIpRanges] = std::move(sets);
  }
  if (args.bandwidth) {
    json::object b;
    if (args.bandwidth->ingress_rate) b["ingressRate"] = *args.bandwidth->ingress_rate;
    if (args.bandwidth->ingress_burst) b["ingressBurst"] = *args.bandwidth->ingress_burst;
    if (args.bandwidth->egress_rate) b["egressRate"] = *args.bandwidth->egress_rate;
    if (args.bandwidth->egress_burst) b["egressBurst"] = *args.bandwidth->egress_burst;
    o[kBandwidth] = std::move(b);
  }
  if (args.dns) {
    json::object d;
    if (!args.dns->servers.empty()) d["servers"] = json::value_from(args.dns->servers);
    if (!args.dns->searches.empty()) d["searches"] = json::value_from(args.dns->searches);
    if (!args.dns->options.empty()) d["options"] = json::value_from(args.dns->options);
    o[kDns] = std::move(d);
  }
  if (args.ips) o[kIps] = json::value_from(*args.ips);
  if (args.mac) o[kMac] = *args.mac;
  if (args.aliases) o[kAliases] = json::value_from(*args.aliases);
  if (args.cgroup_path) o[kCgroupPath] = *args.cgroup_path;
  if (args.infiniband_guid) o[kInfinibandGuid] = *args.infiniband_guid;
  if (args.device_id) o[kDeviceId] = *args.device_id;
  return o;
}

}  // namespace sandnet::capabilities
