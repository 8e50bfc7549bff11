#include "antispoof.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "sandnet/common/error.hpp"
#include "sandnet/daemon/config.hpp"

namespace sandnet::daemon {
namespace {
namespace json = boost::json;

// The host as a test sees it: veth1 is a port of bridge br0, vethloose is
// on no bridge, br0 is the bridge itself.
std::optional<hostnet::HostLink> fake_host(std::string_view name) {
  if (name == "veth1") return hostnet::HostLink{"veth1", "veth", "br0", "bridge"};
  if (name == "veth2") return hostnet::HostLink{"veth2", "veth", "br1", "bridge"};
  if (name == "vethloose") return hostnet::HostLink{"vethloose", "veth", "", ""};
  if (name == "br0") return hostnet::HostLink{"br0", "bridge", "", ""};
  return std::nullopt;
}

// What the bridge plugin returns: bridge, host veth, sandbox eth0.
json::value bridge_result(const std::string& host_veth = "veth1") {
  return json::parse(R"({"cniVersion":"1.0.0",
    "interfaces":[{"name":"br0","mac":"aa:aa:aa:aa:aa:01"},
                  {"name":")" + host_veth + R"(","mac":"aa:aa:aa:aa:aa:02"},
                  {"name":"eth0","mac":"02:11:22:33:44:55","sandbox":"/run/netns/sandnet-pod1"}],
    "ips":[{"address":"10.203.1.2/24","gateway":"10.203.1.1","interface":2},
           {"address":"fd00::2/64","gateway":"fd00::1","interface":2},
           {"address":"10.203.1.1/24","interface":0}]})");
}

AttachmentRecord attachment(json::value result, std::string network = "net") {
  return AttachmentRecord{std::move(network), "eth0", AttachmentPhase::added, std::move(result), {}};
}

TEST(AntiSpoof, ABridgeResultBecomesTheAllowanceOfItsHostVeth) {
  auto g = describe_attachment({}, attachment(bridge_result()), fake_host);
  ASSERT_TRUE(g.allowance) << g.why_not;
  EXPECT_EQ(g.allowance->host_port, "veth1");
  EXPECT_EQ(g.allowance->mac.str(), "02:11:22:33:44:55");
  ASSERT_EQ(g.allowance->ipv4.size(), 1U);  // not the gateway's address on the bridge
  EXPECT_EQ(g.allowance->ipv4[0].str(), "10.203.1.2");
  ASSERT_EQ(g.allowance->ipv6.size(), 1U);
  EXPECT_EQ(g.allowance->ipv6[0].str(), "fd00::2");
}

TEST(AntiSpoof, OlderResultVersionsAreReadToo) {
  auto result = json::parse(R"({"cniVersion":"0.4.0",
    "interfaces":[{"name":"br0"},{"name":"veth1"},{"name":"eth0","mac":"02:11:22:33:44:55","sandbox":"/x"}],
    "ips":[{"version":"4","address":"10.0.0.5/24","interface":2}]})");
  auto g = describe_attachment({}, attachment(result), fake_host);
  ASSERT_TRUE(g.allowance) << g.why_not;
  EXPECT_EQ(g.allowance->ipv4.at(0).str(), "10.0.0.5");
}

TEST(AntiSpoof, ADisabledNetworkIsOffAndSaysSo) {
  AntiSpoofingSettings s;
  s.disabled_networks = {"net"};
  auto g = describe_attachment(s, attachment(bridge_result()), fake_host);
  EXPECT_FALSE(g.allowance);
  EXPECT_EQ(g.why_not, "off for network net");
  EXPECT_TRUE(describe_attachment(s, attachment(bridge_result(), "other"), fake_host).allowance);
}

TEST(AntiSpoof, NoHostVethOnABridgeIsNotEnforced) {
  // macvlan-like: only the sandbox interface.
  auto macvlan = json::parse(R"({"cniVersion":"1.0.0",
    "interfaces":[{"name":"eth0","mac":"02:11:22:33:44:55","sandbox":"/x"}],
    "ips":[{"address":"10.0.0.5/24","interface":0}]})");
  auto g = describe_attachment({}, attachment(macvlan), fake_host);
  EXPECT_FALSE(g.allowance);
  EXPECT_NE(g.why_not.find("no host-side veth on a bridge"), std::string::npos) << g.why_not;
  // ptp-like: a host veth on no bridge.
  EXPECT_FALSE(describe_attachment({}, attachment(bridge_result("vethloose")), fake_host).allowance);
  // A host veth that is gone.
  EXPECT_FALSE(describe_attachment({}, attachment(bridge_result("vethgone")), fake_host).allowance);
  // No result at all (ADD never ran).
  EXPECT_FALSE(describe_attachment({}, attachment(nullptr), fake_host).allowance);
}

TEST(AntiSpoof, ABridgeVethThatCannotBeDescribedIsAnError) {
  auto two = json::parse(R"({"cniVersion":"1.0.0",
    "interfaces":[{"name":"veth1"},{"name":"veth2"},{"name":"eth0","mac":"02:11:22:33:44:55","sandbox":"/x"}],
    "ips":[{"address":"10.0.0.5/24","interface":2}]})");
  EXPECT_THROW(describe_attachment({}, attachment(two), fake_host), Error);
  auto no_mac = json::parse(R"({"cniVersion":"1.0.0",
    "interfaces":[{"name":"veth1"},{"name":"eth0","sandbox":"/x"}],"ips":[]})");
  EXPECT_THROW(describe_attachment({}, attachment(no_mac), fake_host), Error);
  auto other_ifname = json::parse(R"({"cniVersion":"1.0.0",
    "interfaces":[{"name":"veth1"},{"name":"net1","mac":"02:11:22:33:44:55","sandbox":"/x"}],"ips":[]})");
  EXPECT_THROW(describe_attachment({}, attachment(other_ifname), fake_host), Error);
  auto bad_ip = json::parse(R"({"cniVersion":"1.0.0",
    "interfaces":[{"name":"veth1"},{"name":"eth0","mac":"02:11:22:33:44:55","sandbox":"/x"}],
    "ips":[{"address":"10.0.0.500/24","interface":1}]})");
  EXPECT_THROW(describe_attachment({}, attachment(bad_ip), fake_host), Error);
  auto multicast_mac = json::parse(R"({"cniVersion":"1.0.0",
    "interfaces":[{"name":"veth1"},{"name":"eth0","mac":"01:00:5e:00:00:01","sandbox":"/x"}],"ips":[]})");
  EXPECT_THROW(describe_attachment({}, attachment(multicast_mac), fake_host), Error);
}

TEST(AntiSpoof, GuardKeysAreAShortStableHashOfTheId) {
  auto k = guard_key_for("pod1");
  EXPECT_EQ(k.str().size(), 24U);
  EXPECT_EQ(k, guard_key_for("pod1"));
  EXPECT_NE(k, guard_key_for("pod2"));
  EXPECT_EQ(guard_key_for(std::string(300, 'a')).str().size(), 24U);
}

TEST(AntiSpoofConfig, OnByDefaultWithAPerNetworkSwitchAndAValidatedTable) {
  Config d = parse_config("{}", "t.json");
  EXPECT_TRUE(d.anti_spoofing.enabled_for("anything"));
  EXPECT_EQ(d.anti_spoofing.table, "sandnet");
  Config c = parse_config(R"({"antiSpoofing":{"disabledNetworks":["routed"],"table":"sandnet_b"}})", "t.json");
  EXPECT_FALSE(c.anti_spoofing.enabled_for("routed"));
  EXPECT_TRUE(c.anti_spoofing.enabled_for("sandnet"));
  EXPECT_EQ(c.anti_spoofing.table, "sandnet_b");
  EXPECT_EQ(parse_config(json::serialize(to_json(c)), "t.json").anti_spoofing.disabled_networks,
            c.anti_spoofing.disabled_networks);
  for (const char* bad : {R"({"antiSpoofing":{"table":"a b"}})", R"({"antiSpoofing":{"table":""}})",
                          R"({"antiSpoofing":{"disabledNetworks":["bad name"]}})",
                          R"({"antiSpoofing":{"enabled":false}})", R"({"antiSpoofing":[]})"}) {
    EXPECT_THROW(parse_config(bad, "t.json"), Error) << bad;
  }
}

}  // namespace
}  // namespace sandnet::daemon
