#include "sandnet/hostnet/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>

#include "sandnet/common/error.hpp"

namespace sandnet::hostnet {
namespace {

// Splits "addr/len" and checks len against max_prefix; returns the address part.
std::string address_part(std::string_view text, int max_prefix, std::string_view what) {
  auto slash = text.find('/');
  std::string_view addr = text.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view len = text.substr(slash + 1);
    int n = -1;
    auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), n);
    if (len.empty() || ec != std::errc() || end != len.data() + len.size() || n < 0 || n > max_prefix)
      throw_error(errc::invalid_argument, "invalid " + std::string(what) + " \"" + std::string(text) + "\": bad prefix length");
  }
  return std::string(addr);
}

}  // namespace

MacAddress MacAddress::parse(std::string_view text) {
  MacAddress mac;
  auto bad = [&](std::string_view why) {
    throw_error(errc::invalid_argument, "invalid MAC address \"" + std::string(text) + "\": " + std::string(why));
  };
  if (text.size() != 17) bad("want six hex pairs separated by ':'");
  for (std::size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':') bad("want six hex pairs separated by ':'");
    const char* first = text.data() + i * 3;
    auto [end, ec] = std::from_chars(first, first + 2, mac.bytes_[i], 16);
    if (ec != std::errc() || end != first + 2) bad("want six hex pairs separated by ':'");
  }
  if (mac.bytes_[0] & 0x01) bad("a multicast address is not an interface's address");
  if (mac.bytes_ == std::array<std::uint8_t, 6>{}) bad("the all-zero address is not an interface's address");
  return mac;
}

std::string MacAddress::str() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes_[0], bytes_[1], bytes_[2], bytes_[3],
                bytes_[4], bytes_[5]);
  return buf;
}

Ipv4Address Ipv4Address::parse(std::string_view text) {
  Ipv4Address a;
  std::string addr = address_part(text, 32, "IPv4 address");
  if (::inet_pton(AF_INET, addr.c_str(), a.bytes_.data()) != 1)
    throw_error(errc::invalid_argument, "invalid IPv4 address \"" + std::string(text) + "\"");
  return a;
}

std::string Ipv4Address::str() const {
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, bytes_.data(), buf, sizeof buf);
  return buf;
}

Ipv6Address Ipv6Address::parse(std::string_view text) {
  Ipv6Address a;
  std::string addr = address_part(text, 128, "IPv6 address");
  if (::inet_pton(AF_INET6, addr.c_str(), a.bytes_.data()) != 1)
    throw_error(errc::invalid_argument, "invalid IPv6 address \"" + std::string(text) + "\"");
  return a;
}

std::string Ipv6Address::str() const {
  char buf[INET6_ADDRSTRLEN];
  ::inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
  return buf;
}

std::string Ipv6Address::hex() const {
  std::string out = "0x";
  char buf[3];
  for (auto b : bytes_) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    out += buf;
  }
  return out;
}

bool looks_like_ipv6(std::string_view text) noexcept { return text.substr(0, text.find('/')).find(':') != std::string_view::npos; }

}  // namespace sandnet::hostnet
