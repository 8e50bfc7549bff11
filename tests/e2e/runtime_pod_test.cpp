// What a CRI runtime does for a user-namespaced pod, with real parts only:
// runc/crun start the pod with new user + network namespaces, the runtime
// hands the pod's PID (or a pidfd) to sandnetd through libsandnet, gets the
// CNI result back, and the pod then has a working network: its address on
// eth0, the gateway, a second pod, a host port, and a sysfs of its own.
// Teardown through the daemon leaves nothing behind.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <optional>

#include "e2e_env.hpp"
#include "pod_checks.hpp"
#include "support/oci.hpp"
#include "support/sandbox.hpp"

namespace sandnet::test::e2e {
namespace {

class RuntimePodTest : public ::testing::TestWithParam<OciRuntime> {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root";
    if (!oci_runtime_available(GetParam())) GTEST_SKIP() << to_string(GetParam()) << " not installed";
    if (!stdfs::exists(sandnetd_path())) GTEST_SKIP() << "sandnetd not built at " << sandnetd_path();
  }
};

TEST_P(RuntimePodTest, TwoPodsGetAddressesAndTalk) {
  const TestNetwork net = make_test_network();
  Daemon daemon(net);
  client::Client client(daemon.client_options());

  // Two pods with their own mappings, as a CRI gives each pod its own range.
  PodOptions web_options;
  web_options.runtime = GetParam();
  web_options.bundle.host_id = 400000;
  web_options.bundle.args = {"httpd", "-f", "-p", "80", "-h", "/www"};
  web_options.bundle.files = {{"www/index.html", "hello from the web pod\n"}};
  PodOptions client_options;
  client_options.runtime = GetParam();
  client_options.bundle.host_id = 400000 + 65536;

  OciPod web(web_options);
  OciPod pod(client_options);
  ASSERT_NE(web.pid(), pod.pid());

  // Teardown runs even when an assertion below fails.
  std::optional<protocol::SandboxInfo> pod_info, web_info;
  Defer teardown([&] {
    for (const auto* id : {&pod.id(), &web.id()}) {
      try {
        client.teardown(*id);
      } catch (const Error& e) {
        ADD_FAILURE() << "teardown " << *id << ": " << e.what();
      }
    }
  });

  // Pod 1 by PID, the way `sandnetctl setup --pid` does it.
  protocol::SetupParams by_pid;
  by_pid.id = pod.id();
  by_pid.ref = protocol::SandboxRef::pid;
  by_pid.pid = pod.pid();
  ASSERT_NO_THROW(pod_info = client.setup(by_pid)) << daemon.log();

  // Pod 2 by pidfd (SCM_RIGHTS), with a host port for its web server.
  const std::uint16_t host_port = pick_host_port();
  protocol::SetupParams by_pidfd;
  by_pidfd.id = web.id();
  by_pidfd.ref = protocol::SandboxRef::pidfd;
  by_pidfd.capabilities.port_mappings = std::vector<capabilities::PortMapping>{{host_port, 80, "tcp", ""}};
  {
    unique_fd pidfd = web.open_pidfd();
    ASSERT_NO_THROW(web_info = client.setup(by_pidfd, pidfd.get())) << daemon.log();
  }

  const PodAddress pod_addr = address_of(*pod_info);
  const PodAddress web_addr = address_of(*web_info);
  ASSERT_FALSE(pod_addr.ip.empty());
  ASSERT_FALSE(web_addr.ip.empty());
  EXPECT_NE(pod_addr.ip, web_addr.ip);
  EXPECT_EQ(pod_addr.gateway, net.gateway);
  EXPECT_TRUE(stdfs::exists(pod_info->netns)) << "pin " << pod_info->netns;

  // The result's address is on the pod's eth0, as the pod itself sees it.
  CommandResult addr = pod.exec({"ip", "-o", "-4", "addr", "show", "dev", "eth0"});
  ASSERT_TRUE(addr.ok()) << addr.err;
  EXPECT_NE(addr.out.find("inet " + pod_addr.cidr), std::string::npos) << addr.out;

  // The gateway, then the other pod's web server across the bridge.
  CommandResult ping = pod.exec({"ping", "-c", "1", "-W", "5", pod_addr.gateway});
  EXPECT_TRUE(ping.ok()) << ping.out << ping.err;
  // busybox-static's wget crashes in a rootfs without glibc's NSS files, so
  // speak HTTP with nc.
  CommandResult page = pod.exec({"sh", "-c", http_get_script(web_addr.ip, 80)});
  EXPECT_TRUE(page.ok()) << page.out << page.err;
  EXPECT_TRUE(ends_with(page.out, "hello from the web pod\n")) << page.out;

  // The host reaches the web pod through its host port. portmap 1.1.1 DNATs
  // locally generated traffic to a local address (OUTPUT, dst-type LOCAL);
  // the bridge's gateway address is one.
  CommandResult via_port = run({"sh", "-c", http_get_script(net.gateway, host_port)});
  EXPECT_TRUE(via_port.ok()) << via_port.out << via_port.err;
  EXPECT_TRUE(ends_with(via_port.out, "hello from the web pod\n")) << via_port.out;

  // The netns is owned by the pod's user namespace: the pod may mount sysfs,
  // and sees exactly its own interfaces there.
  CommandResult sysfs = pod.exec(
      {"sh", "-c", "mkdir -p /tmp/sys && mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /tmp/sys && ls /tmp/sys/class/net"});
  EXPECT_TRUE(sysfs.ok()) << sysfs.out << sysfs.err;
  EXPECT_EQ(sysfs.out, "eth0\nlo\n");

  // get returns what setup returned.
  protocol::SandboxInfo got = client.get(pod.id());
  EXPECT_EQ(address_of(got).cidr, pod_addr.cidr);

  // Teardown through the daemon, then the runtime deletes the pod.
  for (const auto* id : {&pod.id(), &web.id()}) {
    protocol::TeardownResult down = client.teardown(*id);
    EXPECT_TRUE(down.existed) << *id;
    EXPECT_TRUE(down.errors.empty()) << down.errors.front();
  }
  EXPECT_TRUE(pod.destroy().empty());
  EXPECT_TRUE(web.destroy().empty());

  for (const auto& [info, addr_of_pod] : {std::pair{&*pod_info, pod_addr}, std::pair{&*web_info, web_addr}}) {
    Leftovers left = leftovers_of(daemon, info->netns, info->id, addr_of_pod.ip, addr_of_pod.host_veth);
    EXPECT_TRUE(left.empty()) << "left behind by " << info->id << ":\n" << left.describe();
  }
  CommandResult hostport_rules = run({"sh", "-c", "iptables-save -t nat | grep -- '--dport " + std::to_string(host_port) + "'"});
  EXPECT_FALSE(hostport_rules.ok()) << "host port rule left: " << hostport_rules.out;
  EXPECT_THROW(client.get(pod.id()), Error);
}

INSTANTIATE_TEST_SUITE_P(Runtimes, RuntimePodTest, ::testing::Values(OciRuntime::runc, OciRuntime::crun),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace sandnet::test::e2e
