#include "sandnet/daemon/fd_budget.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sandnet/common/error.hpp"
#include "sandnet/common/unique_fd.hpp"

namespace sandnet::daemon {
namespace {

TEST(FdBudget, AGenerousLimitKeepsTheConfiguredNumbers) {
  Config c;  // 8 concurrent setups, 512 connections, 32 / 4 per uid, 8 for root
  FdBudget b = size_fd_budget(c, 524288, 12);
  EXPECT_EQ(b.max_connections, 512U);
  EXPECT_EQ(b.root_reserve, 8U);
  EXPECT_EQ(b.per_uid, 32U);
  EXPECT_EQ(b.per_uid_without_rule, 4U);
  EXPECT_EQ(b.plugin_runs, 2 * kFdsPerSetup * 8);
}

TEST(FdBudget, AFewFdsLowerTheConnectionLimitsAndKeepRoomForEverythingElse) {
  Config c;
  c.max_concurrent_setups = 4;
  c.max_connections_per_uid = 1000;
  FdBudget b = size_fd_budget(c, 160, 12);
  // 160 - 12 in use - 32 margin - 64 for plugin runs = 52: 13 for watches, 39 for clients.
  EXPECT_EQ(b.plugin_runs, 64U);
  EXPECT_EQ(b.watches, 13U);
  EXPECT_EQ(b.connections, 39U);
  EXPECT_EQ(b.root_reserve, 8U);
  EXPECT_EQ(b.max_connections, 31U);
  EXPECT_EQ(b.per_uid, 31U);  // never more than the global cap
  EXPECT_EQ(b.in_use + b.margin + b.plugin_runs + b.watches + b.max_connections + b.root_reserve, 160U);
  EXPECT_NE(b.describe().find("maxConnections 31 + 8 for root"), std::string::npos) << b.describe();
}

TEST(FdBudget, RootsReserveTakesAtMostHalf) {
  Config c;
  c.max_concurrent_setups = 1;
  c.root_reserved_connections = 100;
  FdBudget b = size_fd_budget(c, 12 + 32 + 16 + 40, 12);  // 40 left: 10 watches, 30 connections
  EXPECT_EQ(b.connections, 30U);
  EXPECT_EQ(b.root_reserve, 15U);
  EXPECT_EQ(b.max_connections, 15U);
}

TEST(FdBudget, TooFewFdsAreRefusedNamingTheLimit) {
  Config c;
  try {
    size_fd_budget(c, 100, 12);
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("RLIMIT_NOFILE 100"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("maxConcurrentSetups"), std::string::npos) << e.what();
  }
}

TEST(FdBudget, TheSoftLimitIsRaisedToTheHardOne) {
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  NofileLimit n = raise_nofile_limit();
  rlimit after{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(n.before, before.rlim_cur);
  EXPECT_EQ(n.now, after.rlim_cur);
  EXPECT_EQ(after.rlim_cur, after.rlim_max);
}

TEST(FdBudget, OpenFdsAreCounted) {
  std::size_t before = open_fd_count();
  unique_fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  EXPECT_EQ(open_fd_count(), before + 1);
}

}  // namespace
}  // namespace sandnet::daemon
