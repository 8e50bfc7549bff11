// The same pod flow driven by an unprivileged runtime: a user who created the
// sandbox's user namespace may have the daemon set up its network (the policy
// grants it), another user may not, and nobody but root may claim a pod whose
// user namespace root created (a runc pod started by root).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "e2e_env.hpp"
#include "support/oci.hpp"
#include "support/sandbox.hpp"

namespace sandnet::test::e2e {
namespace {

json::object policy_config(const TestNetwork& net) {
  json::array networks{net.name};
  return json::object{
      {"policy",
       json::array{json::object{{"uid", kUserA},
                                {"networks", networks},
                                {"maxSandboxes", 4},
                                {"hostPorts", json::array{"30000-32767"}},
                                {"capabilities", json::array{"portMappings"}}},
                   json::object{{"uid", kUserB}, {"networks", networks}, {"maxSandboxes", 4}}}},
      // The host ID ranges sandboxes of unprivileged callers may map to.
      {"idMappings", json::object{{"uids", json::array{json::object{{"hostID", 500000}, {"size", 65536 * 4}}}},
                                  {"gids", json::array{json::object{{"hostID", 500000}, {"size", 65536 * 4}}}}}},
  };
}

class UnprivilegedCallerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root";
    if (!stdfs::exists(sandnetd_path()) || !stdfs::exists(sandnetctl_path()))
      GTEST_SKIP() << "sandnetd or sandnetctl not built in " << build_dir();
  }
};

TEST_F(UnprivilegedCallerTest, OwnerIsServedOthersAreRefused) {
  const TestNetwork net = make_test_network();
  Daemon daemon(net, policy_config(net));

  // User A's sandbox: A created its user namespace (NS_GET_OWNER_UID = A),
  // mapped into the configured range.
  SandboxOptions options;
  options.owner_uid = kUserA;
  options.owner_gid = kUserA;
  options.host_id = 500000;
  Sandbox sandbox(options);
  const std::string id = unique_name("sne2e");
  Defer teardown([&] { daemon.ctl({"teardown", id}); });

  // User B may not set up A's sandbox.
  CommandResult as_b = daemon.ctl({"setup", id, "--pid", std::to_string(sandbox.pid())}, kUserB);
  EXPECT_EQ(as_b.exit_code, 1) << as_b.out << as_b.err;
  EXPECT_FALSE(as_b.err.empty());

  // A may, and gets the CNI result.
  CommandResult as_a = daemon.ctl({"--json", "setup", id, "--pid", std::to_string(sandbox.pid())}, kUserA);
  ASSERT_EQ(as_a.exit_code, 0) << as_a.out << as_a.err << daemon.log();
  json::value reply = json::parse(as_a.out);
  const std::string pin(reply.at("netns").as_string());
  const json::object& result = reply.at("attachments").at(0).at("result").as_object();
  const std::string cidr(result.at("ips").at(0).at("address").as_string());
  const std::string ip = cidr.substr(0, cidr.find('/'));

  CommandResult addr = sandbox.exec({"ip", "-o", "-4", "addr", "show", "dev", "eth0"});
  ASSERT_TRUE(addr.ok()) << addr.err;
  EXPECT_NE(addr.out.find("inet " + cidr), std::string::npos) << addr.out;

  // B can neither read nor tear down A's sandbox; it stays attached.
  EXPECT_EQ(daemon.ctl({"get", id}, kUserB).exit_code, 1);
  EXPECT_EQ(daemon.ctl({"teardown", id}, kUserB).exit_code, 1);
  EXPECT_TRUE(daemon.ctl({"get", id}).ok()) << "B's teardown touched A's sandbox";
  EXPECT_TRUE(stdfs::exists(pin));

  // A tears it down; nothing of it is left.
  CommandResult down = daemon.ctl({"teardown", id}, kUserA);
  EXPECT_EQ(down.exit_code, 0) << down.out << down.err;
  Leftovers left = leftovers_of(daemon, pin, id, ip, "");
  EXPECT_TRUE(left.empty()) << left.describe();
}

TEST_F(UnprivilegedCallerTest, RootCreatedPodIsRefusedToAUser) {
  const OciRuntime runtime = OciRuntime::runc;
  if (!oci_runtime_available(runtime)) GTEST_SKIP() << "runc not installed";
  const TestNetwork net = make_test_network();
  Daemon daemon(net, policy_config(net));

  // Root ran runc, so root owns the pod's user namespace, even though the
  // pod maps into the range user A may use.
  PodOptions options;
  options.runtime = runtime;
  options.bundle.host_id = 500000;
  OciPod pod(options);
  Defer teardown([&] { daemon.ctl({"teardown", pod.id()}); });

  CommandResult as_a = daemon.ctl({"setup", pod.id(), "--pid", std::to_string(pod.pid())}, kUserA);
  EXPECT_EQ(as_a.exit_code, 1) << as_a.out << as_a.err;
  EXPECT_FALSE(as_a.err.empty());
  CommandResult links = pod.exec({"ls", "/sys/class/net"});
  EXPECT_EQ(links.out, "lo\n") << "a refused setup must not touch the pod";
  EXPECT_EQ(daemon.ctl({"get", pod.id()}).exit_code, 1) << "a refused setup must leave no record";
}

}  // namespace
}  // namespace sandnet::test::e2e
