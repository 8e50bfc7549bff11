// The containerd 2.x / CRI-O flow with real parts: the runtime asks sandnetd
// to make the pod's user namespace (with the pod's mappings) and a network
// namespace inside it *before* any pod process exists, gets both pins and the
// CNI result back, and starts the pod with runc or crun joining them by path
// (OCI linux.namespaces "path"). The pod owns its netns: it can mount sysfs
// and sees its own interfaces there. Teardown removes both pins.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <optional>

#include "e2e_env.hpp"
#include "pod_checks.hpp"
#include "support/oci.hpp"
#include "support/sandbox.hpp"

namespace sandnet::test::e2e {
namespace {

class PrecreatedNamespacesTest : public ::testing::TestWithParam<OciRuntime> {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root";
    if (!oci_runtime_available(GetParam())) GTEST_SKIP() << to_string(GetParam()) << " not installed";
    if (!stdfs::exists(sandnetd_path())) GTEST_SKIP() << "sandnetd not built at " << sandnetd_path();
  }
};

TEST_P(PrecreatedNamespacesTest, PodJoinsTheNamespacesTheDaemonMade) {
  const TestNetwork net = make_test_network();
  Daemon daemon(net);
  client::Client client(daemon.client_options());

  constexpr std::uint32_t kHostId = 500000;
  const std::string id = unique_name("snpre");
  const std::uint16_t host_port = pick_host_port(1);
  protocol::SetupParams create;
  create.id = id;
  create.ref = protocol::SandboxRef::create;
  create.create.uid_mappings = {{0, kHostId, 65536}};
  create.create.gid_mappings = {{0, kHostId, 65536}};
  create.capabilities.port_mappings = std::vector<capabilities::PortMapping>{{host_port, 80, "tcp", ""}};

  std::optional<protocol::SandboxInfo> info;
  Defer teardown([&] {
    try {
      client.teardown(id);
    } catch (const Error& e) {
      ADD_FAILURE() << "teardown " << id << ": " << e.what();
    }
  });
  ASSERT_NO_THROW(info = client.setup(create)) << daemon.log();
  ASSERT_FALSE(info->userns.empty());
  EXPECT_FALSE(info->pid.has_value());
  EXPECT_TRUE(stdfs::exists(info->netns));
  EXPECT_TRUE(stdfs::exists(info->userns));
  const PodAddress addr = address_of(*info);
  ASSERT_FALSE(addr.ip.empty());
  EXPECT_EQ(addr.gateway, net.gateway);

  // The pod: a web server joining both namespaces; the rest are its own.
  PodOptions options;
  options.runtime = GetParam();
  options.id = id;
  options.bundle.host_id = kHostId;
  options.bundle.args = {"httpd", "-f", "-p", "80", "-h", "/www"};
  options.bundle.files = {{"www/index.html", "hello from a pre-created netns\n"}};
  options.bundle.namespace_paths = {{"user", info->userns}, {"network", info->netns}};
  std::optional<OciPod> pod;
  ASSERT_NO_THROW(pod.emplace(options));

  // The pod runs with exactly the maps the daemon wrote.
  CommandResult maps = pod->exec({"cat", "/proc/self/uid_map"});
  ASSERT_TRUE(maps.ok()) << maps.err;
  EXPECT_NE(maps.out.find(std::to_string(kHostId)), std::string::npos) << maps.out;

  CommandResult eth0 = pod->exec({"ip", "-o", "-4", "addr", "show", "dev", "eth0"});
  ASSERT_TRUE(eth0.ok()) << eth0.err;
  EXPECT_NE(eth0.out.find("inet " + addr.cidr), std::string::npos) << eth0.out;
  CommandResult lo = pod->exec({"ip", "-o", "link", "show", "dev", "lo"});
  EXPECT_NE(lo.out.find("UP"), std::string::npos) << lo.out;
  CommandResult ping = pod->exec({"ping", "-c", "1", "-W", "5", addr.gateway});
  EXPECT_TRUE(ping.ok()) << ping.out << ping.err;
  CommandResult via_port = run({"sh", "-c", http_get_script(net.gateway, host_port)});
  EXPECT_TRUE(via_port.ok()) << via_port.out << via_port.err;
  EXPECT_TRUE(ends_with(via_port.out, "hello from a pre-created netns\n")) << via_port.out;

  // The netns is owned by the pod's user namespace: sysfs mounts inside.
  CommandResult sysfs = pod->exec(
      {"sh", "-c", "mkdir -p /tmp/sys && mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /tmp/sys && ls /tmp/sys/class/net"});
  EXPECT_TRUE(sysfs.ok()) << sysfs.out << sysfs.err;
  EXPECT_EQ(sysfs.out, "eth0\nlo\n");

  // The pod stops first, as a CRI stops the sandbox before removing its network.
  EXPECT_TRUE(pod->destroy().empty());
  protocol::TeardownResult down = client.teardown(id);
  EXPECT_TRUE(down.existed);
  EXPECT_TRUE(down.errors.empty()) << down.errors.front();
  EXPECT_FALSE(stdfs::exists(info->userns)) << info->userns;
  EXPECT_FALSE(run({"findmnt", "-rn", info->userns}).ok());
  Leftovers left = leftovers_of(daemon, info->netns, id, addr.ip, addr.host_veth);
  EXPECT_TRUE(left.empty()) << left.describe();
  CommandResult hostport_rules =
      run({"sh", "-c", "iptables-save -t nat | grep -- '--dport " + std::to_string(host_port) + "'"});
  EXPECT_FALSE(hostport_rules.ok()) << "host port rule left: " << hostport_rules.out;
}

INSTANTIATE_TEST_SUITE_P(Runtimes, PrecreatedNamespacesTest, ::testing::Values(OciRuntime::runc, OciRuntime::crun),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace sandnet::test::e2e
