#include "sandnet/hostnet/spoof_guard.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "sandnet/common/error.hpp"
#include "sandnet/hostnet/address.hpp"
#include "sandnet/hostnet/nft.hpp"

namespace sandnet::hostnet {
namespace {
namespace json = boost::json;

bool has_line(const std::string& batch, const std::string& line) {
  return ("\n" + batch).find("\n" + line + "\n") != std::string::npos;
}

SandboxGuard one_port_guard() {
  return SandboxGuard{GuardKey::parse("0123456789abcdef01234567"),
                      {make_port_allowance("veth1a2b3c4d", MacAddress::parse("02:AB:cd:00:00:01"),
                                           {Ipv4Address::parse("10.203.1.2/24")},
                                           {Ipv6Address::parse("fd00::2/64")})}};
}

TEST(Address, MacParsesAndPrintsLowercase) {
  EXPECT_EQ(MacAddress::parse("02:AB:cd:00:00:01").str(), "02:ab:cd:00:00:01");
  for (const char* bad : {"", "02:ab:cd:00:00", "02:ab:cd:00:00:01:02", "02-ab-cd-00-00-01", "0g:ab:cd:00:00:01",
                          "01:00:5e:00:00:01" /* multicast */, "00:00:00:00:00:00"}) {
    EXPECT_THROW(MacAddress::parse(bad), Error) << bad;
  }
}

TEST(Address, IpsDropThePrefixAndRefuseGarbage) {
  EXPECT_EQ(Ipv4Address::parse("10.0.0.2/24").str(), "10.0.0.2");
  EXPECT_EQ(Ipv6Address::parse("FD00:0::2/64").str(), "fd00::2");
  EXPECT_EQ(Ipv6Address::parse("fd00::2").hex(), "0xfd000000000000000000000000000002");
  for (const char* bad : {"10.0.0", "10.0.0.2/33", "10.0.0.2/", "10.0.0.2/x", "fd00::2", "10.0.0.2; drop"})
    EXPECT_THROW(Ipv4Address::parse(bad), Error) << bad;
  for (const char* bad : {"fd00::2/129", "10.0.0.2", "fd00:::2"}) EXPECT_THROW(Ipv6Address::parse(bad), Error) << bad;
  EXPECT_TRUE(looks_like_ipv6("fd00::2/64"));
  EXPECT_FALSE(looks_like_ipv6("10.0.0.2/24"));
}

TEST(Names, NftNamesAndKeysAreCheckedBeforeTheyReachNftText) {
  EXPECT_EQ(NftName::parse("sandnet").str(), "sandnet");
  EXPECT_EQ(NftName::parse("sandnet_test-1").str(), "sandnet_test-1");
  for (const char* bad : {"", "1abc", "a b", "a;b", "a\"b", "a{b", "a/b"}) EXPECT_THROW(NftName::parse(bad), Error) << bad;
  EXPECT_THROW(NftName::parse("a" + std::string(255, 'b')), Error);
  EXPECT_NO_THROW(NftName::parse("a" + std::string(254, 'b')));
  EXPECT_THROW(GuardKey::parse(""), Error);
  EXPECT_THROW(GuardKey::parse("ABC"), Error);
  EXPECT_THROW(GuardKey::parse("0123456789abcdef012345678"), Error);  // 25
  EXPECT_THROW(make_port_allowance("veth\"x", MacAddress::parse("02:00:00:00:00:01"), {}, {}), Error);
  EXPECT_THROW(make_port_allowance("veth} drop", MacAddress::parse("02:00:00:00:00:01"), {}, {}), Error);
  EXPECT_THROW(make_port_allowance("", MacAddress::parse("02:00:00:00:00:01"), {}, {}), Error);
}

TEST(Names, ChainNamesRoundTripAndStayWithinTheKernelLimit) {
  auto key = GuardKey::parse("0123456789abcdef01234567");
  auto name = port_chain_name(key, 63, "veth-a.b_1");
  EXPECT_EQ(name.str(), "sb-0123456789abcdef01234567-63-veth-a.b_1");
  auto back = parse_port_chain(name.str());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->key, key);
  EXPECT_EQ(back->host_port, "veth-a.b_1");
  EXPECT_EQ(back->chain, name.str());
  for (const char* not_ours : {"prerouting", "sb-abc", "sb-abc-0", "sb-abc-0-", "sb-ABC-0-veth0", "sb-abc-x-veth0",
                               "sb-abc--veth0", "sb-abc-0-veth0123456789abc"})
    EXPECT_FALSE(parse_port_chain(not_ours)) << not_ours;
}

TEST(ApplyBatch, CreatesTheTableAndWritesEveryRuleOfThePort) {
  std::string b = apply_batch(NftName::parse("sandnet"), one_port_guard());
  const std::string c = "add rule bridge sandnet sb-0123456789abcdef01234567-0-veth1a2b3c4d ";
  EXPECT_TRUE(has_line(b, "add table bridge sandnet")) << b;
  EXPECT_TRUE(has_line(b, "add chain bridge sandnet prerouting { type filter hook prerouting priority -350; policy accept; }")) << b;
  EXPECT_TRUE(has_line(b, "add map bridge sandnet ports { type ifname : verdict; }")) << b;
  EXPECT_TRUE(has_line(b, "flush chain bridge sandnet prerouting")) << b;
  EXPECT_TRUE(has_line(b, "add rule bridge sandnet prerouting iifname vmap @ports")) << b;
  EXPECT_TRUE(has_line(b, "add chain bridge sandnet sb-0123456789abcdef01234567-0-veth1a2b3c4d")) << b;
  EXPECT_TRUE(has_line(b, c + "ether saddr != 02:ab:cd:00:00:01 drop")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 "
                              "arp saddr ether 02:ab:cd:00:00:01 arp saddr ip 10.203.1.2 accept")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol arp drop")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol ip ip saddr != 10.203.1.2 drop")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol ip meta l4proto icmp icmp type redirect drop")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol ip meta l4proto udp udp sport 67 drop")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol ip6 ip6 saddr :: meta l4proto ipv6-icmp icmpv6 type nd-neighbor-solicit "
                              "@th,64,16 & 0xffc0 != 0xfe80 @th,64,128 != 0xfd000000000000000000000000000002 drop")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol ip6 ip6 saddr :: meta l4proto ipv6-icmp icmpv6 type nd-neighbor-solicit accept")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol ip6 ip6 saddr :: meta l4proto ipv6-icmp icmpv6 type mld2-listener-report accept")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol ip6 ip6 saddr != fe80::/10 ip6 saddr != fd00::2 drop")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol ip6 meta l4proto ipv6-icmp icmpv6 type nd-router-advert drop")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol ip6 meta l4proto ipv6-icmp icmpv6 type nd-redirect drop")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol ip6 meta l4proto ipv6-icmp icmpv6 type nd-neighbor-advert "
                              "@th,64,16 & 0xffc0 != 0xfe80 @th,64,128 != 0xfd000000000000000000000000000002 drop")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol ip6 meta l4proto udp udp sport 547 drop")) << b;
  EXPECT_TRUE(has_line(b, c + "drop")) << b;
  EXPECT_TRUE(has_line(b, "add element bridge sandnet ports { \"veth1a2b3c4d\" : jump sb-0123456789abcdef01234567-0-veth1a2b3c4d }")) << b;
  // The per-port rules come in order: the catch-all drop is last, after the accepts.
  EXPECT_LT(b.find(c + "meta protocol ip6 accept"), b.find(c + "drop\n"));
  // No anonymous sets (libnftables would fetch all of them before every batch).
  EXPECT_EQ(b.find(" { ", b.find("add rule bridge sandnet sb-")), b.find(" { \"veth1a2b3c4d\"")) << b;
  // Without the base part, only the sandbox's chain and element.
  std::string fast = apply_batch(NftName::parse("sandnet"), one_port_guard(), BaseChain::assume);
  EXPECT_EQ(fast.find("prerouting"), std::string::npos) << fast;
  EXPECT_EQ(fast.find("add table"), std::string::npos) << fast;
  EXPECT_NE(fast.find("add element"), std::string::npos) << fast;
  // Only our table is named.
  for (std::size_t at = b.find("bridge "); at != std::string::npos; at = b.find("bridge ", at + 1))
    EXPECT_TRUE(b.compare(at, 15, "bridge sandnet ") == 0 || b.compare(at, 15, "bridge sandnet\n") == 0)
        << b.substr(at, 40);
}

TEST(ApplyBatch, WithoutAddressesOfAFamilyThatFamilyIsDroppedButLinkLocalIpv6Works) {
  SandboxGuard g{GuardKey::parse("k1"), {make_port_allowance("veth0", MacAddress::parse("02:00:00:00:00:01"), {}, {})}};
  std::string b = apply_batch(NftName::parse("t"), g);
  const std::string c = "add rule bridge t sb-k1-0-veth0 ";
  EXPECT_TRUE(has_line(b, c + "meta protocol ip drop")) << b;
  EXPECT_EQ(b.find("arp saddr ip"), std::string::npos) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol ip6 ip6 saddr != fe80::/10 drop")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol ip6 ip6 saddr :: meta l4proto ipv6-icmp icmpv6 type nd-neighbor-solicit "
                              "@th,64,16 & 0xffc0 != 0xfe80 drop")) << b;
  EXPECT_TRUE(has_line(b, c + "meta protocol ip6 meta l4proto ipv6-icmp icmpv6 type nd-neighbor-advert "
                              "@th,64,16 & 0xffc0 != 0xfe80 drop")) << b;
}

TEST(ApplyBatch, SeveralAddressesAndPortsGetSetsAndOneChainEach) {
  SandboxGuard g{GuardKey::parse("k1"),
                 {make_port_allowance("veth0", MacAddress::parse("02:00:00:00:00:01"),
                                      {Ipv4Address::parse("10.0.0.2"), Ipv4Address::parse("10.0.1.2")},
                                      {Ipv6Address::parse("fd00::2"), Ipv6Address::parse("fd01::2")}),
                  make_port_allowance("veth1", MacAddress::parse("02:00:00:00:00:02"), {Ipv4Address::parse("10.9.0.2")}, {})}};
  std::string b = apply_batch(NftName::parse("t"), g);
  EXPECT_TRUE(has_line(b, "add rule bridge t sb-k1-0-veth0 meta protocol ip ip saddr != 10.0.0.2 ip saddr != 10.0.1.2 drop")) << b;
  EXPECT_TRUE(has_line(b, "add rule bridge t sb-k1-0-veth0 meta protocol arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 "
                          "arp saddr ether 02:00:00:00:00:01 arp saddr ip 10.0.1.2 accept")) << b;
  EXPECT_NE(b.find("@th,64,128 != 0xfd000000000000000000000000000002 @th,64,128 != 0xfd010000000000000000000000000002 drop"),
            std::string::npos) << b;
  EXPECT_TRUE(has_line(b, "add rule bridge t sb-k1-1-veth1 ether saddr != 02:00:00:00:00:02 drop")) << b;
  EXPECT_TRUE(has_line(b, "add element bridge t ports { \"veth0\" : jump sb-k1-0-veth0, \"veth1\" : jump sb-k1-1-veth1 }")) << b;
}

TEST(ApplyBatch, RefusesNoPortsAndTooMany) {
  SandboxGuard g{GuardKey::parse("k1"), {}};
  EXPECT_THROW(apply_batch(NftName::parse("t"), g), Error);
  for (std::size_t i = 0; i <= kMaxPortsPerSandbox; ++i)
    g.ports.push_back(make_port_allowance("veth" + std::to_string(i), MacAddress::parse("02:00:00:00:00:01"), {}, {}));
  EXPECT_THROW(apply_batch(NftName::parse("t"), g), Error);
}

TEST(RemoveBatch, DeletesElementsBeforeTheirChains) {
  auto k = GuardKey::parse("k1");
  std::string b = remove_batch(NftName::parse("sandnet"), {{k, "veth0", "sb-k1-0-veth0"}, {k, "veth1", "sb-k1-1-veth1"}});
  EXPECT_EQ(b,
            "delete element bridge sandnet ports { \"veth0\" }\n"
            "delete element bridge sandnet ports { \"veth1\" }\n"
            "delete chain bridge sandnet sb-k1-0-veth0\n"
            "delete chain bridge sandnet sb-k1-1-veth1\n");
}

TEST(Listings, ChainsAndTheirPortsAreReadFromNftJson) {
  auto chains = json::parse(R"({"nftables":[{"metainfo":{}},
      {"chain":{"family":"bridge","table":"sandnet","name":"prerouting","hook":"prerouting"}},
      {"chain":{"family":"bridge","table":"sandnet","name":"sb-k1-0-veth0"}},
      {"chain":{"family":"bridge","table":"other","name":"sb-k3-0-veth3"}}]})");
  EXPECT_EQ(parse_table_chains(chains, NftName::parse("sandnet")), (std::vector<std::string>{"prerouting", "sb-k1-0-veth0"}));
  EXPECT_THROW(parse_table_chains(json::parse("{}"), NftName::parse("sandnet")), Error);
}

}  // namespace
}  // namespace sandnet::hostnet
