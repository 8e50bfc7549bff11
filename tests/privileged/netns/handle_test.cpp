// Opening a sandbox's network namespace race-free, and the facts about it.
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <optional>

#include "netns_test_util.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/netns/handle.hpp"
#include "support/sandbox.hpp"

namespace sandnet::netns {
namespace {

using testutil::dup_fd;

#define REQUIRE_ROOT() \
  if (!test::is_root()) GTEST_SKIP() << "needs root"

void expect_sandbox_facts(const NamespaceFacts& f) {
  EXPECT_FALSE(f.is_host);
  EXPECT_FALSE(f.is_self);
  EXPECT_FALSE(f.owner_is_initial_userns);
  EXPECT_EQ(f.owner_uid, 0u);
  ASSERT_EQ(f.uid_map.size(), 1u);
  EXPECT_EQ(f.uid_map[0].inside, 0u);
  EXPECT_EQ(f.uid_map[0].outside, 100000u);
  EXPECT_EQ(f.uid_map[0].count, 65536u);
  ASSERT_EQ(f.gid_map.size(), 1u);
  EXPECT_EQ(f.gid_map[0].outside, 100000u);
}

TEST(NetnsHandle, FromPidOfUserNamespacedSandbox) {
  REQUIRE_ROOT();
  test::Sandbox sb;
  NetnsHandle h = NetnsHandle::from_pid(sb.pid());
  EXPECT_GE(h.fd(), 0);
  EXPECT_GE(h.pidfd(), 0);
  EXPECT_TRUE(h.process_alive());
  EXPECT_TRUE(::fcntl(h.fd(), F_GETFD) & FD_CLOEXEC);
  NamespaceFacts f = h.facts();
  expect_sandbox_facts(f);
  struct stat st {};
  ASSERT_EQ(::stat(("/proc/" + std::to_string(sb.pid()) + "/ns/net").c_str(), &st), 0);
  EXPECT_EQ(f.inode, st.st_ino);
  EXPECT_EQ(f.device, st.st_dev);
}

TEST(NetnsHandle, FromPidfdAndFromNetnsFdGiveTheSameNamespace) {
  REQUIRE_ROOT();
  test::Sandbox sb;
  NetnsHandle by_pidfd = NetnsHandle::from_pidfd(dup_fd(sb.pidfd()));
  expect_sandbox_facts(by_pidfd.facts());

  unique_fd raw(::open(("/proc/" + std::to_string(sb.pid()) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(raw);
  NetnsHandle by_fd = NetnsHandle::from_netns_fd(std::move(raw));
  EXPECT_EQ(by_fd.pidfd(), -1);
  EXPECT_FALSE(by_fd.process_alive());
  NamespaceFacts f = by_fd.facts();  // maps found through a process of the userns
  expect_sandbox_facts(f);
  EXPECT_EQ(f.inode, by_pidfd.facts().inode);
}

TEST(NetnsHandle, RejectsFdsThatAreNotNetworkNamespaces) {
  REQUIRE_ROOT();
  test::Sandbox sb;
  unique_fd user_ns(::open(("/proc/" + std::to_string(sb.pid()) + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(user_ns);
  try {
    NetnsHandle::from_netns_fd(std::move(user_ns));
    FAIL() << "accepted a user namespace fd";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a network namespace"), std::string::npos) << e.what();
  }
  unique_fd file(::open("/etc/hostname", O_RDONLY | O_CLOEXEC));
  EXPECT_THROW(NetnsHandle::from_netns_fd(std::move(file)), Error);
  // A netns fd is not a pidfd.
  unique_fd netns(::open(("/proc/" + std::to_string(sb.pid()) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
  try {
    NetnsHandle::from_pidfd(std::move(netns));
    FAIL() << "accepted a netns fd as pidfd";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
  }
  EXPECT_THROW(NetnsHandle::from_pid(0), Error);
}

TEST(NetnsHandle, HostNamespaceIsReportedAsHost) {
  REQUIRE_ROOT();
  // PID 1's namespace is the host's. Some hardened machines refuse even root
  // a look at PID 1 (EACCES); then take ours, which is the host's when the
  // kernel says so through its fixed initial-netns inode.
  std::optional<NetnsHandle> host;
  try {
    host.emplace(NetnsHandle::from_pid(1));
  } catch (const Error& e) {
    ASSERT_EQ(e.code(), std::errc::permission_denied) << e.what();
    struct stat st {};
    ASSERT_EQ(::stat("/proc/self/ns/net", &st), 0);
    if (st.st_ino != 0xEFFFFFF9U) GTEST_SKIP() << "PID 1 unreadable and not in the initial netns";
    host.emplace(NetnsHandle::from_pid(::getpid()));
  }
  NamespaceFacts f = host->facts();
  EXPECT_TRUE(f.is_host);
  EXPECT_TRUE(f.owner_is_initial_userns);
  EXPECT_EQ(f.owner_uid, 0u);
  ASSERT_FALSE(f.uid_map.empty());  // found through some host process
  EXPECT_EQ(f.uid_map[0].inside, 0u);
  EXPECT_EQ(f.uid_map[0].outside, 0u);

  NamespaceFacts self = NetnsHandle::from_pid(::getpid()).facts();
  EXPECT_TRUE(self.is_self);
  EXPECT_FALSE(NetnsHandle::from_pid(::getpid()).facts().uid_map.empty());
}

TEST(NetnsHandle, NetnsOwnedByInitialUserNamespace) {
  REQUIRE_ROOT();
  test::SandboxOptions opts;
  opts.new_user_ns = false;  // the pre-userns way: netns created by host root
  test::Sandbox sb(opts);
  NamespaceFacts f = NetnsHandle::from_pid(sb.pid()).facts();
  EXPECT_FALSE(f.is_host);
  EXPECT_FALSE(f.is_self);
  EXPECT_TRUE(f.owner_is_initial_userns);
  EXPECT_EQ(f.owner_uid, 0u);
}

TEST(NetnsHandle, OwnerUidOfSandboxCreatedByUnprivilegedUser) {
  REQUIRE_ROOT();
  test::SandboxOptions opts;
  opts.owner_uid = 1501;
  opts.owner_gid = 1501;
  opts.host_id = 200000;
  test::Sandbox sb(opts);
  NamespaceFacts f = NetnsHandle::from_pid(sb.pid()).facts();
  EXPECT_FALSE(f.owner_is_initial_userns);
  EXPECT_EQ(f.owner_uid, 1501u);
  ASSERT_EQ(f.uid_map.size(), 1u);
  EXPECT_EQ(f.uid_map[0].outside, 200000u);
}

TEST(NetnsHandle, DeadSandboxIsProcessGone) {
  REQUIRE_ROOT();
  test::Sandbox sb;
  pid_t pid = sb.pid();
  unique_fd pidfd = dup_fd(sb.pidfd());
  NetnsHandle opened_before = NetnsHandle::from_pid(pid);
  sb.kill();  // killed and reaped: the PID is free for reuse now

  EXPECT_FALSE(opened_before.process_alive());
  try {
    opened_before.facts();
    FAIL() << "facts of a dead sandbox";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::process_gone)) << e.what();
  }
  try {
    NetnsHandle::from_pidfd(std::move(pidfd));
    FAIL() << "opened a dead process's pidfd";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::process_gone)) << e.what();
    EXPECT_NE(std::string(e.what()).find("exited"), std::string::npos) << e.what();
  }
  // The PID is free: from_pid must not find it (unless the kernel reused it
  // already, which would then be another process: skip the check then).
  if (::kill(pid, 0) != 0) {
    try {
      NetnsHandle::from_pid(pid);
      FAIL() << "opened a dead PID";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::process_gone)) << e.what();
      EXPECT_NE(std::string(e.what()).find(std::to_string(pid)), std::string::npos) << e.what();
    }
  }
}

TEST(NetnsHandle, ReusedPidIsNotFollowedThroughThePidfd) {
  REQUIRE_ROOT();
  // The runtime's sandbox: we keep only its pidfd, as a client sends it.
  test::Sandbox first;
  unique_fd pidfd = dup_fd(first.pidfd());
  first.kill();
  // "Another process" now runs, possibly under that very PID; whatever it
  // is, the pidfd must not lead to its namespace.
  test::Sandbox second;
  try {
    NetnsHandle h = NetnsHandle::from_pidfd(std::move(pidfd));
    FAIL() << "a dead sandbox's pidfd gave a handle";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::process_gone)) << e.what();
  }
}

}  // namespace
}  // namespace sandnet::netns
