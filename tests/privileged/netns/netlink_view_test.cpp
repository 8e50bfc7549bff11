// The netlink view of a namespace full of routes: the first max_entries of a
// kind are kept, all are counted, names resolve from the streamed link dump.
#include <gtest/gtest.h>

#include <string>

#include "sandnet/netns/handle.hpp"
#include "sandnet/netns/loopback.hpp"
#include "sandnet/netns/netlink_view.hpp"
#include "support/process.hpp"
#include "support/sandbox.hpp"

namespace sandnet::netns {
namespace {

TEST(NetlinkView, KeepsTheFirstEntriesOfEachKindAndCountsAll) {
  if (!test::is_root()) GTEST_SKIP() << "needs root";
  test::Sandbox sandbox;
  NetnsHandle handle = NetnsHandle::from_pid(sandbox.pid());
  bring_up_loopback(handle.fd());
  constexpr int kRoutes = 300;
  std::string batch;
  for (int i = 0; i < kRoutes; ++i) batch += "route add 172.21.1." + std::to_string(i % 250) + "/32 dev lo table " +
                                             (i < 250 ? "main" : "100") + "\n";
  batch += "route add 172.21.2.0/24 dev lo\n";
  auto added = test::run({"nsenter", "--target", std::to_string(sandbox.pid()), "--net", "--user", "ip", "-batch", "-"},
                         batch);
  ASSERT_TRUE(added.ok()) << added.err;

  Snapshot all = inspect(handle.fd());
  EXPECT_FALSE(all.truncated());
  EXPECT_EQ(all.total_routes, all.routes.size());
  EXPECT_EQ(all.total_routes, 251u);  // main-table unicast routes only
  EXPECT_EQ(all.total_links, all.links.size());
  EXPECT_EQ(all.total_addresses, all.addresses.size());
  ASSERT_NE(all.find_link("lo"), nullptr);
  for (const auto& r : all.routes) EXPECT_EQ(r.dev, "lo") << r.dst;

  Snapshot few = inspect(handle.fd(), 10);
  EXPECT_TRUE(few.truncated());
  EXPECT_EQ(few.routes.size(), 10u);
  EXPECT_EQ(few.total_routes, 251u);
  EXPECT_EQ(few.routes.front().dst, all.routes.front().dst);
  EXPECT_EQ(few.links.size(), all.links.size());  // fewer than 10 links: all kept
  EXPECT_EQ(few.addresses.size(), all.addresses.size());
  for (const auto& a : few.addresses) EXPECT_EQ(a.ifname, "lo");
}

}  // namespace
}  // namespace sandnet::netns
