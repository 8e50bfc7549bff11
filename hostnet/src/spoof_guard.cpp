#include "sandnet/hostnet/spoof_guard.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <mutex>
#include <set>

#include "sandnet/common/error.hpp"

namespace sandnet::hostnet {
namespace json = boost::json;

namespace {

constexpr std::string_view kChainPrefix = "sb-";
constexpr std::string_view kBaseChain = "prerouting";
constexpr std::string_view kPortsMap = "ports";
constexpr std::size_t kMaxKeyBytes = 24;
constexpr std::size_t kMaxPortBytes = 15;
// Ahead of ebtables-nft's tables (nat PREROUTING is -300, filter -200): a
// forged frame is gone before anything else looks at or rewrites it.
constexpr int kBasePriority = -350;
// Link-local fe80::/10 as the first 16 bits of an ICMPv6 target address.
constexpr std::string_view kTargetNotLinkLocal = "@th,64,16 & 0xffc0 != 0xfe80";

// "none of these": one != per address, ANDed within the rule. No anonymous
// sets: libnftables fetches every set of the table (and its elements) before
// each batch, so sets per sandbox would make each setup cost grow with the
// number of sandboxes.
template <class T>
std::string none_of(std::string_view field, const std::vector<T>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : " ") + std::string(field) + " != " + i.str();
  return out;
}

// Matches an ICMPv6 NS/NA whose target address (bytes 8-23 of the ICMPv6
// header; nft 1.0.6 has no "icmpv6 taddr") is neither link-local nor one of
// the port's addresses.
std::string target_not_own(const PortAllowance& port) {
  std::string m(kTargetNotLinkLocal);
  for (const auto& a : port.ipv6) m += " @th,64,128 != " + a.hex();
  return m;
}

std::vector<std::string> port_rules(const PortAllowance& port) {
  const std::string mac = port.mac.str();
  std::vector<std::string> r;
  r.push_back("ether saddr != " + mac + " drop");
  // ARP: Ethernet/IPv4 only, sender hardware and protocol address its own.
  for (const auto& a : port.ipv4)
    r.push_back("meta protocol arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether " + mac +
                " arp saddr ip " + a.str() + " accept");
  r.push_back("meta protocol arp drop");
  // IPv4.
  if (port.ipv4.empty()) r.push_back("meta protocol ip drop");
  else r.push_back("meta protocol ip " + none_of("ip saddr", port.ipv4) + " drop");
  r.push_back("meta protocol ip meta l4proto icmp icmp type redirect drop");
  r.push_back("meta protocol ip meta l4proto udp udp sport 67 drop");  // DHCPv4 server
  r.push_back("meta protocol ip accept");
  // IPv6: "::" only for duplicate address detection (a solicitation for its
  // own or a link-local address, the MLD report and router solicitation that
  // go with it).
  r.push_back("meta protocol ip6 ip6 saddr :: meta l4proto ipv6-icmp icmpv6 type nd-neighbor-solicit " +
              target_not_own(port) + " drop");
  for (const char* type : {"nd-neighbor-solicit", "nd-router-solicit", "mld2-listener-report"})
    r.push_back(std::string("meta protocol ip6 ip6 saddr :: meta l4proto ipv6-icmp icmpv6 type ") + type + " accept");
  r.push_back("meta protocol ip6 ip6 saddr != fe80::/10" + std::string(port.ipv6.empty() ? "" : " ") +
              none_of("ip6 saddr", port.ipv6) + " drop");
  for (const char* type : {"nd-router-advert", "nd-redirect"})
    r.push_back(std::string("meta protocol ip6 meta l4proto ipv6-icmp icmpv6 type ") + type + " drop");
  r.push_back("meta protocol ip6 meta l4proto ipv6-icmp icmpv6 type nd-neighbor-advert " + target_not_own(port) +
              " drop");
  r.push_back("meta protocol ip6 meta l4proto udp udp sport 547 drop");  // DHCPv6 server
  r.push_back("meta protocol ip6 accept");
  // Anything else (VLAN-tagged frames, other ether types).
  r.push_back("drop");
  return r;
}

bool port_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

const json::array& listing_items(const json::value& listing) {
  const auto* obj = listing.if_object();
  const auto* items = obj ? obj->if_contains("nftables") : nullptr;
  if (!items || !items->is_array()) throw_error(errc::internal, "nftables listing has no \"nftables\" array");
  return items->get_array();
}

}  // namespace

PortAllowance make_port_allowance(std::string host_port, MacAddress mac, std::vector<Ipv4Address> ipv4,
                                  std::vector<Ipv6Address> ipv6) {
  if (host_port.empty() || host_port.size() > kMaxPortBytes ||
      !std::all_of(host_port.begin(), host_port.end(), port_name_char))
    throw_error(errc::invalid_argument, "host interface name \"" + host_port +
                                            "\" cannot be guarded: want 1-15 letters, digits, '_', '.' or '-'");
  return PortAllowance{std::move(host_port), mac, std::move(ipv4), std::move(ipv6)};
}

GuardKey GuardKey::parse(std::string_view text) {
  if (text.empty() || text.size() > kMaxKeyBytes ||
      !std::all_of(text.begin(), text.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }))
    throw_error(errc::invalid_argument,
                "invalid guard key \"" + std::string(text) + "\": want 1-24 lowercase letters and digits");
  GuardKey k;
  k.key_ = std::string(text);
  return k;
}

NftName port_chain_name(const GuardKey& key, std::size_t index, std::string_view host_port) {
  return NftName::parse(std::string(kChainPrefix) + key.str() + "-" + std::to_string(index) + "-" +
                        std::string(host_port));
}

std::optional<GuardedPort> parse_port_chain(std::string_view chain) {
  if (!chain.starts_with(kChainPrefix)) return std::nullopt;
  std::string_view rest = chain.substr(kChainPrefix.size());
  // <key>-<index>-<port>: the key has no '-', the index is digits, the port is the rest.
  auto dash1 = rest.find('-');
  if (dash1 == std::string_view::npos) return std::nullopt;
  auto dash2 = rest.find('-', dash1 + 1);
  if (dash2 == std::string_view::npos) return std::nullopt;
  std::string_view index = rest.substr(dash1 + 1, dash2 - dash1 - 1);
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(index.data(), index.data() + index.size(), n);
  if (index.empty() || ec != std::errc() || end != index.data() + index.size()) return std::nullopt;
  std::string port(rest.substr(dash2 + 1));
  if (port.empty() || port.size() > kMaxPortBytes || !std::all_of(port.begin(), port.end(), port_name_char))
    return std::nullopt;
  try {
    return GuardedPort{GuardKey::parse(rest.substr(0, dash1)), std::move(port), std::string(chain)};
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::string apply_batch(const NftName& table, const SandboxGuard& guard, BaseChain base) {
  if (guard.ports.empty()) throw_error(errc::invalid_argument, "anti-spoofing: no port to guard");
  if (guard.ports.size() > kMaxPortsPerSandbox)
    throw_error(errc::invalid_argument, "anti-spoofing: more than 64 ports in one sandbox");
  const std::string t = "bridge " + table.str();
  std::string b;
  auto line = [&b](const std::string& s) { b += s + "\n"; };
  if (base == BaseChain::ensure) {
    line("add table " + t);
    line("add chain " + t + " " + std::string(kBaseChain) + " { type filter hook prerouting priority " +
         std::to_string(kBasePriority) + "; policy accept; }");
    line("add map " + t + " " + std::string(kPortsMap) + " { type ifname : verdict; }");
    // The base chain holds this one rule: flushing and re-adding it in the
    // same transaction keeps it single without a look at the table first.
    line("flush chain " + t + " " + std::string(kBaseChain));
    line("add rule " + t + " " + std::string(kBaseChain) + " iifname vmap @" + std::string(kPortsMap));
  }
  std::string elements;
  for (std::size_t i = 0; i < guard.ports.size(); ++i) {
    const auto& port = guard.ports[i];
    const std::string chain = port_chain_name(guard.key, i, port.host_port).str();
    line("add chain " + t + " " + chain);
    for (const auto& rule : port_rules(port)) line("add rule " + t + " " + chain + " " + rule);
    elements += (elements.empty() ? "" : ", ") + ("\"" + port.host_port + "\" : jump " + chain);
  }
  // An element for the same port with another verdict (a stale entry) makes
  // the whole batch fail with "File exists": nothing half-applied.
  line("add element " + t + " " + std::string(kPortsMap) + " { " + elements + " }");
  return b;
}

std::string remove_batch(const NftName& table, const std::vector<GuardedPort>& ports) {
  const std::string t = "bridge " + table.str();
  std::string b;
  // Elements first: a chain a verdict map still jumps to cannot be deleted
  // (deleting a chain deletes its rules).
  for (const auto& p : ports) b += "delete element " + t + " " + std::string(kPortsMap) + " { \"" + p.host_port + "\" }\n";
  for (const auto& p : ports) b += "delete chain " + t + " " + p.chain + "\n";
  return b;
}

std::vector<std::string> parse_table_chains(const json::value& listing, const NftName& table) {
  std::vector<std::string> out;
  for (const auto& item : listing_items(listing)) {
    const auto* chain = item.is_object() ? item.get_object().if_contains("chain") : nullptr;
    if (!chain || !chain->is_object()) continue;
    const auto& c = chain->get_object();
    const auto* tname = c.if_contains("table");
    const auto* name = c.if_contains("name");
    if (!tname || !name || !tname->is_string() || !name->is_string() || tname->get_string() != table.str()) continue;
    out.emplace_back(name->get_string());
  }
  return out;
}

// ---------------------------------------------------------------- SpoofGuardTable

namespace {

// Tables whose base chain this process has created or checked: later
// batches leave it alone (re-declaring a base chain costs a kernel RCU grace
// period, ~10 ms here, per batch).
std::mutex& ensured_mutex() {
  static std::mutex m;
  return m;
}
std::set<std::string>& ensured_tables() {
  static std::set<std::string> tables;
  return tables;
}

}  // namespace

void SpoofGuardTable::apply(const SandboxGuard& guard) const {
  const std::string what = "anti-spoofing: apply " + guard.key.str();
  bool ensured = false;
  {
    std::lock_guard lock(ensured_mutex());
    ensured = ensured_tables().count(table_.str()) > 0;
  }
  if (ensured) {
    try {
      run_nft_batch(apply_batch(table_, guard, BaseChain::assume), what);
      return;
    } catch (const Error&) {
      // The table may have been deleted behind our back: once more with it.
    }
  }
  run_nft_batch(apply_batch(table_, guard, BaseChain::ensure), what);
  std::lock_guard lock(ensured_mutex());
  ensured_tables().insert(table_.str());
}

std::vector<GuardedPort> SpoofGuardTable::ports_of(const GuardKey& key) const {
  std::vector<GuardedPort> out;
  auto listing = list_nft_json("list chains bridge", "anti-spoofing: list chains");
  for (const auto& chain : parse_table_chains(listing, table_))
    if (auto p = parse_port_chain(chain); p && p->key == key) out.push_back(std::move(*p));
  return out;
}

std::size_t SpoofGuardTable::remove(const GuardKey& key) const {
  // "list chains" answers without an error when the table is absent.
  auto ports = ports_of(key);
  if (ports.empty()) return 0;
  run_nft_batch(remove_batch(table_, ports), "anti-spoofing: remove " + key.str());
  return ports.size();
}

std::vector<GuardKey> SpoofGuardTable::keys() const {
  std::set<GuardKey> keys;
  auto listing = list_nft_json("list chains bridge", "anti-spoofing: list chains");
  for (const auto& chain : parse_table_chains(listing, table_))
    if (auto p = parse_port_chain(chain)) keys.insert(p->key);
  return {keys.begin(), keys.end()};
}

}  // namespace sandnet::hostnet
