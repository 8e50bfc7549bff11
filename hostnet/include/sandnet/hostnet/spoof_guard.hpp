// Anti-spoofing on a bridge: what each sandbox-facing port may send, enforced
// in an nftables table of the bridge family that sandnet owns.
//
// Layout of the table (NAME is configurable, "sandnet" by default):
//   chain prerouting   base chain, hook bridge prerouting, policy accept,
//                      one rule: iifname vmap @ports
//   map ports          ifname : verdict, one element per guarded port,
//                      "vethXXXX" : jump sb-<key>-<n>-vethXXXX
//   chain sb-<key>-<n>-<port>
//                      the rules of port n of the sandbox whose key is
//                      <key>; the name carries the port's, so one listing
//                      of chains tells what to delete
// The bridge family sees every frame a port sends, whether the bridge
// forwards it to another port or delivers it to the host (gateway address,
// host ports), before either; one base chain serves every port, and ports
// are looked up by name, so nothing has to be hooked per device. Frames of
// ports that are not in the map are not this table's business (accept).
//
// Nothing here knows of CNI or of the daemon; every operation is one
// libnftables transaction and touches only this table.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandnet/hostnet/address.hpp"
#include "sandnet/hostnet/nft.hpp"

namespace sandnet::hostnet {

// What one port (the host end of a sandbox's veth) may send: frames from
// mac only; IPv4 and ARP from ipv4 only; IPv6 from ipv6 or link-local (and
// from :: for duplicate address detection); no router advertisements,
// redirects or DHCP/DHCPv6 server replies; no other ether types (VLAN tags
// included).
struct PortAllowance {
  std::string host_port;  // the host-side interface name (validated by make_port_allowance)
  MacAddress mac;
  std::vector<Ipv4Address> ipv4;
  std::vector<Ipv6Address> ipv6;
};

// Checks host_port is a name sandnet writes into nft text as it is: 1-15
// bytes of letters, digits, '_', '.' and '-' (every name the bridge plugin
// makes). Throws Error(invalid_argument).
PortAllowance make_port_allowance(std::string host_port, MacAddress mac, std::vector<Ipv4Address> ipv4,
                                  std::vector<Ipv6Address> ipv6);

// Names one sandbox's rules in the table: 1-24 lowercase letters and digits
// (the caller derives it, e.g. from a hash of the sandbox's ID).
class GuardKey {
 public:
  static GuardKey parse(std::string_view text);  // throws Error(invalid_argument)
  const std::string& str() const noexcept { return key_; }
  friend bool operator==(const GuardKey&, const GuardKey&) = default;
  friend auto operator<=>(const GuardKey&, const GuardKey&) = default;

 private:
  std::string key_;
};

// Every port of one sandbox (at most kMaxPortsPerSandbox).
struct SandboxGuard {
  GuardKey key;
  std::vector<PortAllowance> ports;
};
inline constexpr std::size_t kMaxPortsPerSandbox = 64;

// A guarded port as the table holds it: whose it is, its name (the map
// element's key) and its chain.
struct GuardedPort {
  GuardKey key;
  std::string host_port;
  std::string chain;
};

// "sb-<key>-<index>-<port>", and back (nullopt for a chain that is not one
// of ours).
NftName port_chain_name(const GuardKey& key, std::size_t index, std::string_view host_port);
std::optional<GuardedPort> parse_port_chain(std::string_view chain);

// ensure: the batch also creates the table, base chain and map when missing
// and re-adds the base chain's one rule (idempotent); assume: they exist.
enum class BaseChain { ensure, assume };
// The batch that adds the sandbox's chains (one per port) and their map
// elements.
std::string apply_batch(const NftName& table, const SandboxGuard& guard, BaseChain base = BaseChain::ensure);
// The batch that deletes exactly these ports' map elements and chains.
std::string remove_batch(const NftName& table, const std::vector<GuardedPort>& ports);
// The names of table's chains in a `list chains` JSON listing.
std::vector<std::string> parse_table_chains(const boost::json::value& listing, const NftName& table);

class SpoofGuardTable {
 public:
  explicit SpoofGuardTable(NftName table) : table_(std::move(table)) {}
  const NftName& name() const noexcept { return table_; }

  // One transaction: after it, every port of guard is enforced. The first
  // apply of a process also ensures the table and its base chain; later
  // ones assume them (and ensure them again if the batch fails).
  void apply(const SandboxGuard& guard) const;
  // One transaction deleting the key's chains and map elements, if any.
  // Returns how many ports were removed.
  std::size_t remove(const GuardKey& key) const;
  // The keys that have chains in the table (none when there is no table).
  std::vector<GuardKey> keys() const;
  // The ports currently guarded by key's chains.
  std::vector<GuardedPort> ports_of(const GuardKey& key) const;

 private:
  NftName table_;
};

}  // namespace sandnet::hostnet
