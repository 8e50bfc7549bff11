// Pinning, the netlink view, real CNI plugins against a pin, native loopback,
// and the design's premise (sysfs needs a userns-owned netns).
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <set>

#include "netns_test_util.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/netns/handle.hpp"
#include "sandnet/netns/loopback.hpp"
#include "sandnet/netns/netlink_view.hpp"
#include "sandnet/netns/pin.hpp"
#include "support/sandbox.hpp"

namespace sandnet::netns {
namespace {

using testutil::dup_fd;
using testutil::PinDir;
using testutil::run_plugin;

#define REQUIRE_ROOT() \
  if (!test::is_root()) GTEST_SKIP() << "needs root"

std::set<std::string> addresses_of(const Snapshot& snap, const std::string& ifname) {
  std::set<std::string> out;
  for (const Address& a : snap.addresses)
    if (a.ifname == ifname) out.insert(a.address);
  return out;
}

TEST(Pin, PinFromPidPidfdAndFdThenUnpinTwice) {
  REQUIRE_ROOT();
  test::Sandbox sb;
  PinDir dir;
  std::vector<NetnsHandle> handles;
  handles.push_back(NetnsHandle::from_pid(sb.pid()));
  handles.push_back(NetnsHandle::from_pidfd(dup_fd(sb.pidfd())));
  handles.push_back(NetnsHandle::from_netns_fd(
      unique_fd(::open(("/proc/" + std::to_string(sb.pid()) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC))));
  const ino_t inode = handles[0].facts().inode;
  for (std::size_t i = 0; i < handles.size(); ++i) {
    const std::string name = "snns-pod" + std::to_string(i);
    auto path = pin(handles[i], dir.path(), name);
    EXPECT_EQ(path, dir.path() / name);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_ino, inode) << name;
    NetnsHandle reopened = NetnsHandle::from_netns_fd(open_pin(path));
    EXPECT_EQ(reopened.facts().inode, inode);
  }
  auto pins = list_pins(dir.path());
  ASSERT_EQ(pins.size(), 3u);
  for (const auto& p : pins) EXPECT_TRUE(p.live) << p.name;
  for (std::size_t i = 0; i < handles.size(); ++i) {
    const std::string name = "snns-pod" + std::to_string(i);
    unpin(dir.path(), name);
    EXPECT_NO_THROW(unpin(dir.path(), name));  // idempotent
    EXPECT_FALSE(std::filesystem::exists(dir.path() / name));
    EXPECT_FALSE(testutil::is_mounted(dir.path() / name));
  }
  EXPECT_TRUE(list_pins(dir.path()).empty());
}

TEST(Pin, RefusesBadNamesAndExistingFilesLeavingNothing) {
  REQUIRE_ROOT();
  test::Sandbox sb;
  PinDir dir;
  NetnsHandle h = NetnsHandle::from_pid(sb.pid());
  for (const char* bad : {"../escape", "", "a/b", "-lead", "x y"}) {
    try {
      pin(h, dir.path(), bad);
      FAIL() << "pinned under bad name '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    }
  }
  EXPECT_THROW(unpin(dir.path(), "../escape"), Error);
  pin(h, dir.path(), "snns-dup");
  try {
    pin(h, dir.path(), "snns-dup");
    FAIL() << "pinned twice";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::already_exists)) << e.what();
    EXPECT_NE(std::string(e.what()).find("pin snns-dup"), std::string::npos) << e.what();
  }
  // A symlink planted at the name is not followed.
  std::filesystem::create_symlink("/etc/hostname", dir.path() / "snns-link");
  EXPECT_THROW(pin(h, dir.path(), "snns-link"), Error);
  std::filesystem::remove(dir.path() / "snns-link");
  // A user namespace fd is not pinned as a netns.
  unique_fd user_ns(::open(("/proc/" + std::to_string(sb.pid()) + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_THROW(pin(user_ns.get(), dir.path(), "snns-user"), Error);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "snns-user"));
  unpin(dir.path(), "snns-dup");
}

TEST(Pin, SandboxGoneBeforePinningIsRefusedAndLeavesNoPin) {
  REQUIRE_ROOT();
  PinDir dir;
  test::Sandbox sb;
  pid_t pid = sb.pid();
  NetnsHandle opened = NetnsHandle::from_pid(pid);
  unique_fd pidfd = dup_fd(sb.pidfd());
  sb.kill();
  try {
    pin(opened, dir.path(), "snns-gone");
    FAIL() << "pinned a dead sandbox";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::process_gone)) << e.what();
  }
  EXPECT_THROW(pin(NetnsHandle::from_pidfd(std::move(pidfd)), dir.path(), "snns-gone"), Error);
  if (::kill(pid, 0) != 0) {
    EXPECT_THROW(pin(NetnsHandle::from_pid(pid), dir.path(), "snns-gone"), Error);
  }
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "snns-gone"));
}

TEST(Pin, OutlivesTheSandboxAndStaleFilesAreTold) {
  REQUIRE_ROOT();
  PinDir dir;
  std::filesystem::path path;
  {
    test::Sandbox sb;
    NetnsHandle h = NetnsHandle::from_pid(sb.pid());
    path = pin(h, dir.path(), "snns-keep");
    sb.kill();
  }
  // The namespace lives on through the pin: usable for CNI DEL and views.
  unique_fd fd = open_pin(path);
  bring_up_loopback(fd.get());
  Snapshot snap = inspect(fd.get());
  ASSERT_NE(snap.find_link("lo"), nullptr);
  EXPECT_TRUE(snap.find_link("lo")->admin_up);
  auto r = test::run({"nsenter", "--net=" + path.string(), "ip", "-o", "addr", "show", "lo"});
  EXPECT_TRUE(r.ok()) << r.err;
  EXPECT_NE(r.out.find("127.0.0.1/8"), std::string::npos) << r.out;

  // A stale file (what a crash between create and mount, or an unmount by
  // someone else, leaves) is listed but not live.
  { unique_fd stale(::open((dir.path() / "snns-stale").c_str(), O_CREAT | O_EXCL | O_CLOEXEC | O_RDONLY, 0)); }
  auto pins = list_pins(dir.path());
  ASSERT_EQ(pins.size(), 2u);
  EXPECT_EQ(pins[0].name, "snns-keep");
  EXPECT_TRUE(pins[0].live);
  EXPECT_EQ(pins[1].name, "snns-stale");
  EXPECT_FALSE(pins[1].live);
  try {
    open_pin(dir.path() / "snns-stale");
    FAIL() << "opened a stale pin";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    EXPECT_NE(std::string(e.what()).find("stale"), std::string::npos) << e.what();
  }
  unpin(dir.path(), "snns-stale");
  unpin(dir.path(), "snns-keep");
  unpin(dir.path(), "snns-keep");
  EXPECT_TRUE(list_pins(dir.path()).empty());
  EXPECT_TRUE(list_pins(dir.path() / "missing").empty());
}

TEST(Loopback, NativeGivesWhatThePluginGives) {
  REQUIRE_ROOT();
  PinDir dir;
  test::Sandbox native_sb, plugin_sb;
  NetnsHandle native = NetnsHandle::from_pid(native_sb.pid());
  NetnsHandle plugin = NetnsHandle::from_pid(plugin_sb.pid());
  ASSERT_FALSE(inspect(native.fd()).find_link("lo")->admin_up);

  bring_up_loopback(native.fd());
  auto pinned = pin(plugin, dir.path(), "snns-lo");
  auto add = run_plugin("loopback", "ADD", "snns-lo", pinned.string(), "lo",
                        R"({"cniVersion":"1.0.0","name":"snns-lo","type":"loopback"})");
  ASSERT_TRUE(add.ok()) << add.out << add.err;

  Snapshot a = inspect(native.fd()), b = inspect(plugin.fd());
  EXPECT_TRUE(a.find_link("lo")->admin_up);
  EXPECT_TRUE(b.find_link("lo")->admin_up);
  EXPECT_EQ(a.find_link("lo")->state, b.find_link("lo")->state);
  std::set<std::string> expected{"127.0.0.1/8", "::1/128"};
  EXPECT_EQ(addresses_of(a, "lo"), expected);
  EXPECT_EQ(addresses_of(b, "lo"), expected);
  // The plugin's result lists exactly the addresses the view shows.
  auto result = boost::json::parse(add.out).as_object();
  std::set<std::string> reported;
  for (const auto& ip : result.at("ips").as_array()) reported.insert(std::string(ip.at("address").as_string()));
  EXPECT_EQ(reported, expected);
  EXPECT_EQ(result.at("interfaces").as_array()[0].at("name").as_string(), "lo");

  bring_down_loopback(native.fd());
  EXPECT_FALSE(inspect(native.fd()).find_link("lo")->admin_up);
  // Up and listed over one socket: the same addresses the plugin reports.
  LoopbackAddresses listed = bring_up_loopback_and_list(native.fd());
  EXPECT_TRUE(inspect(native.fd()).find_link("lo")->admin_up);
  EXPECT_EQ(listed.ipv4, "127.0.0.1/8");
  EXPECT_EQ(listed.ipv6, "::1/128");
  bring_down_loopback(native.fd());
  auto del = run_plugin("loopback", "DEL", "snns-lo", pinned.string(), "lo",
                        R"({"cniVersion":"1.0.0","name":"snns-lo","type":"loopback"})");
  EXPECT_TRUE(del.ok()) << del.out << del.err;
  EXPECT_FALSE(inspect(plugin.fd()).find_link("lo")->admin_up);
  unpin(dir.path(), "snns-lo");
}

TEST(Loopback, ErrorsCarryContext) {
  REQUIRE_ROOT();
  unique_fd not_ns(::open("/etc/hostname", O_RDONLY | O_CLOEXEC));
  try {
    bring_up_loopback(not_ns.get());
    FAIL() << "entered a non-namespace";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("loopback up"), std::string::npos) << e.what();
  }
  EXPECT_THROW(inspect(not_ns.get()), Error);
}

// Runs the bridge + host-local plugins against pin_path; DEL and bridge
// removal run at scope exit even when the test fails.
struct BridgeAttachment {
  std::string bridge = test::unique_name("snnsbr");
  test::TempDir ipam_dir;
  std::string id;
  std::string netns;
  std::string config;
  test::CommandResult add;

  BridgeAttachment(std::string container_id, std::string pin_path, const std::string& subnet)
      : id(std::move(container_id)), netns(std::move(pin_path)) {
    config = R"({"cniVersion":"1.0.0","name":"snns-net","type":"bridge","bridge":")" + bridge +
             R"(","isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","subnet":")" + subnet +
             R"(","dataDir":")" + ipam_dir.path() + R"(","routes":[{"dst":"0.0.0.0/0"}]}})";
    add = run_plugin("bridge", "ADD", id, netns, "eth0", config);
  }
  ~BridgeAttachment() {
    run_plugin("bridge", "DEL", id, netns, "eth0", config);
    test::run({"ip", "link", "del", bridge});
  }
};

void expect_eth0_in(const Snapshot& snap, const std::string& prefix) {
  const Link* eth0 = snap.find_link("eth0");
  ASSERT_NE(eth0, nullptr);
  EXPECT_EQ(eth0->kind, "veth");
  EXPECT_GT(eth0->peer_index, 0);
  EXPECT_TRUE(eth0->admin_up);
  EXPECT_EQ(eth0->mac.size(), 17u) << eth0->mac;
  auto addrs = addresses_of(snap, "eth0");
  bool found = std::any_of(addrs.begin(), addrs.end(),
                           [&](const std::string& a) { return a.rfind(prefix, 0) == 0 && a.ends_with("/24"); });
  EXPECT_TRUE(found) << "no " << prefix << "x/24 on eth0";
  bool default_route = std::any_of(snap.routes.begin(), snap.routes.end(), [&](const Route& r) {
    return r.dst == "default" && r.dev == "eth0" && r.gateway == prefix + "1";
  });
  EXPECT_TRUE(default_route);
}

TEST(Cni, BridgeAndHostLocalAgainstATempDirPin) {
  REQUIRE_ROOT();
  PinDir dir;
  test::Sandbox sb;
  auto path = pin(NetnsHandle::from_pidfd(dup_fd(sb.pidfd())), dir.path(), "snns-br1");
  {
    BridgeAttachment att("snns-br1", path.string(), "10.202.1.0/24");
    ASSERT_TRUE(att.add.ok()) << att.add.out << att.add.err;
    auto result = boost::json::parse(att.add.out).as_object();
    std::string ip(result.at("ips").as_array()[0].at("address").as_string());
    Snapshot snap = inspect(open_pin(path).get());
    expect_eth0_in(snap, "10.202.1.");
    EXPECT_EQ(addresses_of(snap, "eth0").count(ip), 1u) << ip;
    // The sandbox itself sees the same.
    auto r = sb.exec({"ip", "-o", "addr", "show", "eth0"});
    EXPECT_NE(r.out.find(ip), std::string::npos) << r.out << r.err;
  }
  // DEL ran: eth0 gone, the host-local store released it.
  EXPECT_EQ(inspect(open_pin(path).get()).find_link("eth0"), nullptr);
  unpin(dir.path(), "snns-br1");
}

TEST(Cni, PinUnderRunNetnsWorksWithIpNetnsExec) {
  REQUIRE_ROOT();
  const std::string name = test::unique_name("snns-ipn");
  // A fresh machine has no /run/netns until `ip netns add` makes one: make
  // it the way iproute2 does, and take it away again afterwards.
  const bool had_pin_dir = std::filesystem::exists(kDefaultPinDir);
  if (!had_pin_dir) ensure_shared_pin_dir(kDefaultPinDir);
  test::Defer restore([&] {
    if (had_pin_dir) return;
    ::umount2(kDefaultPinDir.c_str(), MNT_DETACH);
    ::rmdir(kDefaultPinDir.c_str());
  });
  test::Defer cleanup([&] { unpin(kDefaultPinDir, name); });
  test::Sandbox sb;
  auto path = pin(NetnsHandle::from_pid(sb.pid()), kDefaultPinDir, name);
  EXPECT_EQ(path, kDefaultPinDir / name);
  BridgeAttachment att(name, path.string(), "10.202.2.0/24");
  ASSERT_TRUE(att.add.ok()) << att.add.out << att.add.err;
  auto result = boost::json::parse(att.add.out).as_object();
  std::string ip(result.at("ips").as_array()[0].at("address").as_string());
  expect_eth0_in(inspect(open_pin(path).get()), "10.202.2.");
  auto list = test::run({"ip", "netns", "list"});
  EXPECT_NE(list.out.find(name), std::string::npos) << list.out;
  auto r = test::run({"ip", "netns", "exec", name, "ip", "-o", "addr", "show", "eth0"});
  EXPECT_TRUE(r.ok()) << r.err;
  EXPECT_NE(r.out.find(ip), std::string::npos) << r.out;
}

TEST(Premise, SysfsMountNeedsAUserNamespaceOwnedNetns) {
  REQUIRE_ROOT();
  test::TempDir mnt;
  // Owned by the sandbox's user namespace: its root may mount sysfs and sees
  // only its own interfaces. The mount lives in the sandbox's mount namespace.
  test::Sandbox sb;
  auto ok = sb.exec({"sh", "-c", "mount -t sysfs sysfs " + mnt.path() + " && ls " + mnt.path() +
                                     "/class/net; umount " + mnt.path()});
  EXPECT_TRUE(ok.ok()) << ok.err;
  EXPECT_EQ(ok.out, "lo\n");

  // Created by host root (owned by the initial user namespace), joined from a
  // fresh user namespace: EPERM.
  test::SandboxOptions opts;
  opts.new_user_ns = false;
  test::Sandbox host_owned(opts);
  auto denied = test::run({"nsenter", "--net=/proc/" + std::to_string(host_owned.pid()) + "/ns/net", "unshare",
                           "--user", "--map-root-user", "--mount", "sh", "-c",
                           "mount -t sysfs sysfs " + mnt.path()});
  EXPECT_FALSE(denied.ok());
  EXPECT_NE(denied.err.find("ermission denied"), std::string::npos) << denied.err;
  EXPECT_FALSE(testutil::is_mounted(mnt.path()));
}

}  // namespace
}  // namespace sandnet::netns
