// An LXC container (lxc-create -t busybox, started by root) with
// `lxc.net.0.type = empty` networked by sandnet-oci-hook's lxc mode from
// lxc.hook.start-host / lxc.hook.post-stop: eth0 from the daemon's network,
// the gateway, a host port; lxc-stop tears down; a refused setup makes
// lxc-start fail. Everything LXC keeps lives in a temp lxcpath (-P), and
// its lock directory under /run/lxc goes too.
#include <gtest/gtest.h>

#include <unistd.h>

#include <thread>

#include "e2e_env.hpp"
#include "pod_checks.hpp"
#include "support/sandbox.hpp"

namespace sandnet::test::e2e {
namespace {

bool lxc_available() { return run({"lxc-create", "--version"}).ok() && stdfs::exists("/bin/busybox"); }

// The cgroup directories named `name` in every hierarchy (cgroup v1 and the
// unified one).
std::vector<stdfs::path> cgroups_named(const std::string& name) {
  std::vector<stdfs::path> found;
  std::error_code ec;
  if (stdfs::exists(stdfs::path("/sys/fs/cgroup") / name, ec)) found.push_back(stdfs::path("/sys/fs/cgroup") / name);
  for (const auto& hierarchy : stdfs::directory_iterator("/sys/fs/cgroup", ec))
    if (stdfs::is_directory(hierarchy.path() / name, ec)) found.push_back(hierarchy.path() / name);
  return found;
}

// rmdir of a cgroup and its children, deepest first (cgroupfs takes only rmdir).
void remove_cgroup(const stdfs::path& dir) {
  std::error_code ec;
  for (const auto& child : stdfs::directory_iterator(dir, ec))
    if (child.is_directory(ec)) remove_cgroup(child.path());
  ::rmdir(dir.c_str());
}

class LxcContainer {
 public:
  // config: lines added to the container's config (hooks, network).
  LxcContainer(std::string name, const std::string& config)
      : name_(std::move(name)),
        path_(dir_.path()),
        run_lxc_existed_(stdfs::exists("/run/lxc")),
        pivot_existed_(!cgroups_named("lxc.pivot").empty()) {
    fs::write_file_atomic(path_ / "base.conf", config, 0644);
    CommandResult created =
        run({"lxc-create", "-P", path_.string(), "-n", name_, "-f", (path_ / "base.conf").string(), "-t", "busybox"});
    if (!created.ok()) throw_error(errc::internal, "lxc-create: " + created.out + created.err);
    created_ = true;
    // The busybox template's rcS runs udhcpc, whose script flushes eth0's
    // addresses: the container gets its network from sandnet, not DHCP.
    fs::write_file_atomic(path_ / name_ / "rootfs" / "etc" / "init.d" / "rcS",
                          "#!/bin/sh\n/bin/syslogd\n/bin/mount -a\n", 0744);
  }
  ~LxcContainer() {
    if (created_) {
      run({"lxc-stop", "-P", path_.string(), "-n", name_, "-k"});
      run({"lxc-destroy", "-P", path_.string(), "-n", name_, "-f"});
    }
    // LXC 5.0 leaves its lock directory for this lxcpath (/run/lxc/lock/<lxcpath>,
    // with a lock file per container) and, after a start that failed, the
    // monitor's cgroups (lxc.monitor.<name>, and lxc.pivot it moves itself to).
    std::error_code ec;
    const stdfs::path lock_dir = stdfs::path("/run/lxc/lock") / path_.relative_path();
    stdfs::remove_all(lock_dir, ec);
    for (stdfs::path p = lock_dir.parent_path(); p != "/run"; p = p.parent_path()) {
      if (p == "/run/lxc" && run_lxc_existed_) break;
      if (!stdfs::remove(p, ec)) break;  // not empty (someone else's) or gone
    }
    for (const char* prefix : {"lxc.monitor.", "lxc.payload."})
      for (const auto& dir : cgroups_named(prefix + name_)) remove_cgroup(dir);
    if (!pivot_existed_)
      for (const auto& dir : cgroups_named("lxc.pivot")) ::rmdir(dir.c_str());
  }
  LxcContainer(const LxcContainer&) = delete;
  LxcContainer& operator=(const LxcContainer&) = delete;

  CommandResult lxc(const std::string& tool, const std::vector<std::string>& args) const {
    std::vector<std::string> argv{tool, "-P", path_.string(), "-n", name_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }
  CommandResult attach(const std::vector<std::string>& argv) const {
    std::vector<std::string> args{"--"};
    args.insert(args.end(), argv.begin(), argv.end());
    return lxc("lxc-attach", args);
  }
  const stdfs::path& path() const { return path_; }
  std::string log() const {
    try {
      return fs::read_file(path_ / "lxc.log");
    } catch (const Error&) {
      return "(no lxc log)";
    }
  }

 private:
  std::string name_;
  TempDir dir_;
  stdfs::path path_;
  bool run_lxc_existed_;
  bool pivot_existed_;
  bool created_ = false;
};

std::string lxc_config(const Daemon& daemon, const std::string& hook_args) {
  const std::string hook = oci_hook_path().string() + " --socket " + daemon.socket().string() + " lxc";
  return "lxc.net.0.type = empty\n"
         "lxc.hook.start-host = " + hook + " " + hook_args + "\n"
         "lxc.hook.post-stop = " + hook + "\n";
}

class LxcHookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root";
    if (!lxc_available()) GTEST_SKIP() << "lxc or busybox not installed";
    if (!stdfs::exists(sandnetd_path()) || !stdfs::exists(oci_hook_path()))
      GTEST_SKIP() << "sandnetd or sandnet-oci-hook not built in " << build_dir();
  }
};

TEST_F(LxcHookTest, StartHostSetsUpPostStopTearsDown) {
  const TestNetwork net = make_test_network();
  Daemon daemon(net);
  client::Client client(daemon.client_options());
  const std::string name = unique_name("snlxc");
  const std::uint16_t host_port = pick_host_port(4);
  LxcContainer box(name, lxc_config(daemon, "--network " + net.name + " --port " + std::to_string(host_port) + ":80"));
  Defer cleanup([&] {
    box.lxc("lxc-stop", {"-k"});
    for (const auto& sandbox : client.list()) client.teardown(sandbox.id);
  });

  CommandResult started = box.lxc("lxc-start", {"-d", "-l", "DEBUG", "-o", (box.path() / "lxc.log").string()});
  ASSERT_TRUE(started.ok()) << started.out << started.err << box.log() << daemon.log();
  protocol::SandboxInfo info;
  ASSERT_NO_THROW(info = client.get(name)) << daemon.log();  // the sandbox is named after the container
  const PodAddress addr = address_of(info);
  ASSERT_FALSE(addr.ip.empty());

  CommandResult eth0 = box.attach({"ip", "-o", "-4", "addr", "show", "dev", "eth0"});
  ASSERT_TRUE(eth0.ok()) << eth0.out << eth0.err;
  EXPECT_NE(eth0.out.find("inet " + addr.cidr), std::string::npos) << eth0.out;
  CommandResult ping = box.attach({"ping", "-c", "1", "-W", "5", addr.gateway});
  EXPECT_TRUE(ping.ok()) << ping.out << ping.err;
  CommandResult httpd = box.attach({"sh", "-c", "mkdir -p /www && echo hello from lxc > /www/index.html && httpd -p 80 -h /www"});
  ASSERT_TRUE(httpd.ok()) << httpd.out << httpd.err;
  CommandResult via_port = run({"sh", "-c", http_get_script(net.gateway, host_port)});
  EXPECT_TRUE(ends_with(via_port.out, "hello from lxc\n")) << via_port.out << via_port.err;

  CommandResult stopped = box.lxc("lxc-stop", {"-k"});
  EXPECT_TRUE(stopped.ok()) << stopped.err;
  EXPECT_THROW(client.get(name), Error) << "still set up after lxc-stop\n" << box.log();
  Leftovers left = leftovers_of(daemon, info.netns, name, addr.ip, addr.host_veth);
  EXPECT_TRUE(left.empty()) << left.describe();
  CommandResult rules = run({"sh", "-c", "iptables-save -t nat | grep -- '--dport " + std::to_string(host_port) + "'"});
  EXPECT_FALSE(rules.ok()) << "host port rule left: " << rules.out;
}

TEST_F(LxcHookTest, RefusedSetupFailsLxcStart) {
  const TestNetwork net = make_test_network();
  Daemon daemon(net);
  client::Client client(daemon.client_options());
  const std::string name = unique_name("snlxc");
  LxcContainer box(name, lxc_config(daemon, "--network sne2e-no-such-net"));
  Defer cleanup([&] {
    box.lxc("lxc-stop", {"-k"});
    for (const auto& sandbox : client.list()) client.teardown(sandbox.id);
  });
  CommandResult started = box.lxc("lxc-start", {"-d", "-l", "DEBUG", "-o", (box.path() / "lxc.log").string()});
  EXPECT_FALSE(started.ok()) << "the container started without its network";
  // LXC logs a hook's output at DEBUG.
  EXPECT_NE(box.log().find("produced output: sandnet-oci-hook: setup " + name + ": "), std::string::npos) << box.log();
  EXPECT_NE(box.log().find("sne2e-no-such-net"), std::string::npos) << box.log();
  EXPECT_FALSE(box.lxc("lxc-info", {"--state"}).out.find("RUNNING") != std::string::npos);
  EXPECT_TRUE(client.list().empty());
  std::error_code ec;
  EXPECT_TRUE(stdfs::is_empty(daemon.netns_dir(), ec));
}

}  // namespace
}  // namespace sandnet::test::e2e
