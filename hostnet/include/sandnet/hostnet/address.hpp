// Link-layer and IP addresses as validated values: parsed once from text
// (a CNI result, a config file), printed in the one canonical form nft and
// iproute2 read back. A value of these types is always well formed.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace sandnet::hostnet {

// An Ethernet MAC address. parse() accepts "02:ab:..." in either case; a
// multicast or all-zero address is refused (no interface sends from one).
class MacAddress {
 public:
  static MacAddress parse(std::string_view text);  // throws Error(invalid_argument)
  const std::array<std::uint8_t, 6>& bytes() const noexcept { return bytes_; }
  std::string str() const;  // "02:ab:cd:ef:01:23"
  friend bool operator==(const MacAddress&, const MacAddress&) = default;

 private:
  std::array<std::uint8_t, 6> bytes_{};
};

class Ipv4Address {
 public:
  // "10.0.0.2", or "10.0.0.2/24" (the prefix length is dropped: what a
  // sandbox may send from is its host address, not its subnet).
  static Ipv4Address parse(std::string_view text);
  const std::array<std::uint8_t, 4>& bytes() const noexcept { return bytes_; }
  std::string str() const;
  friend bool operator==(const Ipv4Address&, const Ipv4Address&) = default;

 private:
  std::array<std::uint8_t, 4> bytes_{};
};

class Ipv6Address {
 public:
  static Ipv6Address parse(std::string_view text);  // as for Ipv4Address
  const std::array<std::uint8_t, 16>& bytes() const noexcept { return bytes_; }
  std::string str() const;  // RFC 5952 ("fd00::2")
  // The address as one 128-bit hexadecimal number, for nft raw payload
  // matches: "0xfd000000000000000000000000000002".
  std::string hex() const;
  friend bool operator==(const Ipv6Address&, const Ipv6Address&) = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};
};

// True when text (with or without a "/len" suffix) is an IPv6 address.
bool looks_like_ipv6(std::string_view text) noexcept;

}  // namespace sandnet::hostnet
