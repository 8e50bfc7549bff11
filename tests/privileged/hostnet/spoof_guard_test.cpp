// The anti-spoofing table against the real kernel (libnftables, no traffic:
// the daemon tests send the attacks). Each test uses a table of its own and
// deletes it at the end, also when it fails.
#include "sandnet/hostnet/spoof_guard.hpp"

#include <gtest/gtest.h>

#include <string>

#include "sandnet/common/error.hpp"
#include "sandnet/hostnet/link.hpp"
#include "support/process.hpp"
#include "support/sandbox.hpp"

namespace sandnet::hostnet {
namespace {

using test::sh;

class SpoofGuardTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::is_root()) GTEST_SKIP() << "needs root";
    name_ = test::unique_name("sndt");
  }
  void TearDown() override {
    if (!name_.empty()) sh("nft delete table bridge " + name_ + " 2>/dev/null");
  }
  std::string listing() const { return sh("nft list table bridge " + name_).out; }

  SandboxGuard guard(const std::string& key, const std::string& port, const std::string& ip) const {
    return SandboxGuard{GuardKey::parse(key), {make_port_allowance(port, MacAddress::parse("02:00:00:00:00:01"),
                                                                   {Ipv4Address::parse(ip)}, {})}};
  }
  std::string name_;
};

TEST_F(SpoofGuardTableTest, ApplyIsOneIdempotentBatchAndRemoveTakesExactlyOneSandbox) {
  SpoofGuardTable table(NftName::parse(name_));
  EXPECT_TRUE(table.keys().empty());  // no table yet: no error
  EXPECT_EQ(table.remove(GuardKey::parse("aaa")), 0U);

  table.apply(guard("aaa", "sndtvetha", "10.99.0.2"));
  table.apply(guard("aaa", "sndtvetha", "10.99.0.2"));  // again: nothing doubles
  table.apply(guard("bbb", "sndtvethb", "10.99.0.3"));
  std::string l = listing();
  EXPECT_NE(l.find("\"sndtvetha\" : jump sb-aaa-0-sndtvetha"), std::string::npos) << l;
  EXPECT_NE(l.find("\"sndtvethb\" : jump sb-bbb-0-sndtvethb"), std::string::npos) << l;
  EXPECT_NE(l.find("ip saddr != 10.99.0.2 drop"), std::string::npos) << l;
  // The base chain's one rule is not repeated by re-applying.
  EXPECT_EQ(l.find("iifname vmap @ports"), l.rfind("iifname vmap @ports")) << l;
  EXPECT_EQ(table.keys(), (std::vector<GuardKey>{GuardKey::parse("aaa"), GuardKey::parse("bbb")}));
  auto ports = table.ports_of(GuardKey::parse("aaa"));
  ASSERT_EQ(ports.size(), 1U);
  EXPECT_EQ(ports[0].host_port, "sndtvetha");

  EXPECT_EQ(table.remove(GuardKey::parse("aaa")), 1U);
  l = listing();
  EXPECT_EQ(l.find("sb-aaa-0"), std::string::npos) << l;
  EXPECT_EQ(l.find("sndtvetha"), std::string::npos) << l;
  EXPECT_NE(l.find("\"sndtvethb\" : jump sb-bbb-0-sndtvethb"), std::string::npos) << l;
  EXPECT_EQ(table.keys(), (std::vector<GuardKey>{GuardKey::parse("bbb")}));
  EXPECT_EQ(table.remove(GuardKey::parse("aaa")), 0U);  // twice: nothing left to do
}

TEST_F(SpoofGuardTableTest, APortGuardedByAnotherSandboxFailsTheWholeBatch) {
  SpoofGuardTable table(NftName::parse(name_));
  table.apply(guard("aaa", "sndtvetha", "10.99.0.2"));
  try {
    table.apply(guard("ccc", "sndtvetha", "10.99.0.4"));
    FAIL() << "a second sandbox took over a guarded port";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nftables"), std::string::npos) << e.what();
  }
  std::string l = listing();
  EXPECT_EQ(l.find("sb-ccc-0"), std::string::npos) << "half-applied: " << l;
  EXPECT_NE(l.find("\"sndtvetha\" : jump sb-aaa-0-sndtvetha"), std::string::npos) << l;
}

TEST_F(SpoofGuardTableTest, OtherTablesAreNotTouched) {
  const std::string other = test::unique_name("sndo");
  test::Defer drop_other([&] { sh("nft delete table bridge " + other + " 2>/dev/null"); });
  ASSERT_TRUE(sh("nft add table bridge " + other + " && nft add chain bridge " + other + " sb-aaa-0-sndtvetha").ok());
  SpoofGuardTable table(NftName::parse(name_));
  table.apply(guard("aaa", "sndtvetha", "10.99.0.2"));
  EXPECT_EQ(table.remove(GuardKey::parse("aaa")), 1U);
  EXPECT_TRUE(sh("nft list chain bridge " + other + " sb-aaa-0-sndtvetha >/dev/null").ok());
  EXPECT_EQ(table.keys(), std::vector<GuardKey>{});
}

TEST(HostLink, TellsABridgePortVethFromOthers) {
  if (!test::is_root()) GTEST_SKIP() << "needs root";
  const std::string br = test::unique_name("sndb"), veth = test::unique_name("sndv"), peer = test::unique_name("sndp");
  test::Defer cleanup([&] { sh("ip link del " + veth + " 2>/dev/null; ip link del " + br + " 2>/dev/null"); });
  ASSERT_TRUE(sh("ip link add " + br + " type bridge && ip link add " + veth + " type veth peer name " + peer +
                 " && ip link set " + veth + " master " + br).ok());
  auto port = find_host_link(veth);
  ASSERT_TRUE(port);
  EXPECT_EQ(port->kind, "veth");
  EXPECT_EQ(port->master, br);
  EXPECT_TRUE(port->is_bridge_port());
  auto bridge = find_host_link(br);
  ASSERT_TRUE(bridge);
  EXPECT_EQ(bridge->kind, "bridge");
  EXPECT_FALSE(bridge->is_bridge_port());
  auto loose = find_host_link(peer);
  ASSERT_TRUE(loose);
  EXPECT_FALSE(loose->is_bridge_port());
  EXPECT_FALSE(find_host_link("sndnosuchlink0"));
}

}  // namespace
}  // namespace sandnet::hostnet
