#include "cli/parse.hpp"

#include <arpa/inet.h>

#include <cstdint>
#include <vector>

namespace sandnet::cli {
namespace {

bool is_ip_address(const std::string& text, int family) {
  unsigned char buf[16];
  return ::inet_pton(family, text.c_str(), buf) == 1;
}

[[noreturn]] void bad(const std::string& what, const std::string& problem) {
  throw_error(errc::invalid_argument, what + ": " + problem);
}

}  // namespace

capabilities::PortMapping parse_port_spec(std::string_view spec, std::string_view label) {
  const std::string what = std::string(label) + " \"" + std::string(spec) + "\"";
  capabilities::PortMapping m;
  std::string_view rest = spec;
  if (auto slash = rest.rfind('/'); slash != std::string_view::npos) {
    m.protocol = std::string(rest.substr(slash + 1));
    if (m.protocol != "tcp" && m.protocol != "udp") bad(what, "protocol must be tcp or udp");
    rest = rest.substr(0, slash);
  }
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
      bad(what, "an IPv6 host address is written [ADDR]:HOSTPORT:CONTAINERPORT");
    m.host_ip = std::string(rest.substr(1, close - 1));
    if (!is_ip_address(m.host_ip, AF_INET6)) bad(what, "\"" + m.host_ip + "\" is not an IPv6 address");
    rest = rest.substr(close + 2);
  }
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    auto colon = rest.find(':', start);
    parts.push_back(rest.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() == 3 && m.host_ip.empty()) {
    m.host_ip = std::string(parts[0]);
    if (!is_ip_address(m.host_ip, AF_INET))
      bad(what, "\"" + m.host_ip + "\" is not an IPv4 address (write IPv6 as [ADDR])");
    parts.erase(parts.begin());
  }
  if (parts.size() != 2) bad(what, "expected [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]");
  m.host_port = parse_number<std::uint16_t>(parts[0], 1, 65535, what + ": host port");
  m.container_port = parse_number<std::uint16_t>(parts[1], 1, 65535, what + ": container port");
  return m;
}

std::pair<std::string, std::string> parse_key_value(std::string_view spec, std::string_view label) {
  auto eq = spec.find('=');
  if (eq == std::string_view::npos || eq == 0)
    throw_error(errc::invalid_argument, std::string(label) + " \"" + std::string(spec) + "\" must be KEY=VALUE");
  return {std::string(spec.substr(0, eq)), std::string(spec.substr(eq + 1))};
}

protocol::IdMapping parse_id_mapping(std::string_view spec, std::string_view label) {
  const std::string where = std::string(label) + " \"" + std::string(spec) + "\"";
  std::uint32_t parts[3] = {};
  std::string_view rest = spec;
  for (int k = 0; k < 3; ++k) {
    auto colon = rest.find(':');
    if ((k < 2) != (colon != std::string_view::npos))
      throw_error(errc::invalid_argument, where + " must be CONTAINERID:HOSTID:SIZE");
    std::string_view field = rest.substr(0, colon);
    parts[k] = parse_number<std::uint32_t>(field, k == 2 ? 1U : 0U, UINT32_MAX, where);
    if (colon != std::string_view::npos) rest.remove_prefix(colon + 1);
  }
  if (static_cast<std::uint64_t>(parts[0]) + parts[2] > (1ULL << 32) ||
      static_cast<std::uint64_t>(parts[1]) + parts[2] > (1ULL << 32))
    throw_error(errc::invalid_argument, where + " overflows the ID space");
  return protocol::IdMapping{parts[0], parts[1], parts[2]};
}

}  // namespace sandnet::cli
