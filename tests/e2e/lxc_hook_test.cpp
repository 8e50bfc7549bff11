// An LXC container (lxc-create -t busybox) with `lxc.net.0.type = empty`
// networked by sandnet-oci-hook's lxc mode from lxc.hook.start-host /
// lxc.hook.post-stop, started by root and, unprivileged, by a user with
// /etc/subuid and /etc/subgid ranges: eth0 from the daemon's network, lo up,
// the gateway, a second pod, a host port; lxc-stop tears down and leaves
// nothing; a refused setup makes lxc-start fail and leaves nothing.
#include <gtest/gtest.h>

#include <unistd.h>

#include <optional>

#include "e2e_env.hpp"
#include "pod_checks.hpp"
#include "support/sandbox.hpp"

namespace sandnet::test::e2e {
namespace {

// newuidmap: an unprivileged lxc-start writes the container's id maps with it.
bool lxc_available() {
  return run({"lxc-create", "--version"}).ok() && stdfs::exists("/bin/busybox") && stdfs::exists("/usr/bin/newuidmap");
}

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

// A busybox container made by lxc-create -t busybox, stopped and destroyed
// at scope exit. As root: everything LXC keeps lives in a temp lxcpath (-P),
// and its lock directory under /run/lxc goes too. As a user (unprivileged
// LXC): HOME and XDG_RUNTIME_DIR are temp dirs of the user's, the config is
// its ~/.config/lxc/default.conf (lxc-create copies it into the container's
// config) and the lxcpath LXC's default for a user, ~/.local/share/lxc.
class LxcContainer {
 public:
  // config: the lines of the container's config the test chooses (id maps,
  // hooks, network).
  LxcContainer(std::string name, const std::string& config, const HostUser* user = nullptr)
      : name_(std::move(name)),
        uid_(user ? user->uid() : 0),
        path_(user ? home() / ".local" / "share" / "lxc" : stdfs::path(dir_.path())),
        run_lxc_existed_(stdfs::exists("/run/lxc")),
        pivot_existed_(!cgroups_named("lxc.pivot").empty()) {
    std::vector<std::string> create{"-t", "busybox"};
    if (user) {
      // The container's root (the user's first subordinate uid) must reach
      // its rootfs: every directory above it is searchable by others.
      ::chmod(dir_.path().c_str(), 0755);
      for (const auto& dir : {home(), home() / ".config", home() / ".config" / "lxc", xdg_runtime_dir()}) {
        fs::ensure_directory(dir, dir == xdg_runtime_dir() ? 0700 : 0755);
        if (::chown(dir.c_str(), uid_, uid_) != 0) throw_errno("chown " + dir.string());
      }
      fs::write_file_atomic(home() / ".config" / "lxc" / "default.conf", config, 0644);
    } else {
      fs::write_file_atomic(path_ / "base.conf", config, 0644);
      create = {"-f", (path_ / "base.conf").string(), "-t", "busybox"};
    }
    CommandResult created = lxc("lxc-create", create);
    if (!created.ok()) throw_error(errc::internal, "lxc-create: " + created.out + created.err);
    created_ = true;
    // The busybox template's rcS runs udhcpc, whose script flushes eth0's
    // addresses: the container gets its network from sandnet, not DHCP.
    // Owned like the rootfs, so that the container's root may run it.
    const stdfs::path rootfs = path_ / name_ / "rootfs";
    const stdfs::path rcs = rootfs / "etc" / "init.d" / "rcS";
    fs::write_file_atomic(rcs, "#!/bin/sh\n/bin/syslogd\n/bin/mount -a\n", 0744);
    struct stat owner {};
    if (::stat(rootfs.c_str(), &owner) != 0 || ::chown(rcs.c_str(), owner.st_uid, owner.st_gid) != 0)
      throw_errno("chown " + rcs.string());
  }
  ~LxcContainer() {
    if (created_) {
      lxc("lxc-stop", {"-k"});
      lxc("lxc-destroy", {"-f"});
    }
    // LXC 5.0 leaves its lock directory for a root lxcpath (/run/lxc/lock/<lxcpath>,
    // with a lock file per container; a user's is under XDG_RUNTIME_DIR, ours)
    // and, after a start that failed, the monitor's cgroups (lxc.monitor.<name>,
    // and lxc.pivot it moves itself to).
    std::error_code ec;
    if (uid_ == 0) {
      const stdfs::path lock_dir = stdfs::path("/run/lxc/lock") / path_.relative_path();
      stdfs::remove_all(lock_dir, ec);
      for (stdfs::path p = lock_dir.parent_path(); p != "/run"; p = p.parent_path()) {
        if (p == "/run/lxc" && run_lxc_existed_) break;
        if (!stdfs::remove(p, ec)) break;  // not empty (someone else's) or gone
      }
    }
    for (const char* prefix : {"lxc.monitor.", "lxc.payload."})
      for (const auto& dir : cgroups_named(prefix + name_)) remove_cgroup(dir);
    if (!pivot_existed_)
      for (const auto& dir : cgroups_named("lxc.pivot")) ::rmdir(dir.c_str());
  }
  LxcContainer(const LxcContainer&) = delete;
  LxcContainer& operator=(const LxcContainer&) = delete;

  // An LXC tool on this container, as its user.
  CommandResult lxc(const std::string& tool, const std::vector<std::string>& args) const {
    std::vector<std::string> argv{tool, "-P", path_.string(), "-n", name_};
    if (uid_ != 0) argv.erase(argv.begin() + 1, argv.begin() + 3);  // the user's default lxcpath
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> env;
    if (uid_ != 0) env = {"HOME=" + home().string(), "XDG_RUNTIME_DIR=" + xdg_runtime_dir().string()};
    return run(as_user(uid_, std::move(argv)), {}, std::chrono::seconds(60), env);
  }
  CommandResult attach(const std::vector<std::string>& argv) const {
    std::vector<std::string> args{"--"};
    args.insert(args.end(), argv.begin(), argv.end());
    return lxc("lxc-attach", args);
  }
  CommandResult start() const { return lxc("lxc-start", {"-d", "-l", "DEBUG", "-o", log_path().string()}); }
  std::string log() const {
    try {
      return fs::read_file(log_path());
    } catch (const Error&) {
      return "(no lxc log)";
    }
  }

 private:
  stdfs::path home() const { return stdfs::path(dir_.path()) / "home"; }
  stdfs::path xdg_runtime_dir() const { return stdfs::path(dir_.path()) / "run"; }
  stdfs::path log_path() const { return (uid_ == 0 ? path_ : home()) / "lxc.log"; }

  std::string name_;
  TempDir dir_;
  uid_t uid_;
  stdfs::path path_;
  bool run_lxc_existed_;
  bool pivot_existed_;
  bool created_ = false;
};

// text with every from replaced by to; from must be there.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  if (at == std::string::npos) throw_error(errc::not_found, "\"" + from + "\" is not in the shipped LXC config");
  for (; at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
  return text;
}

// The container's config as shipped: contrib/lxc/sandnet.conf for root's
// container, contrib/lxc/default.conf (a user's ~/.config/lxc/default.conf)
// for a user's, with the built hook, the test daemon's socket, the test's
// hook arguments and the user's subordinate ranges.
std::string lxc_config(const Daemon& daemon, const std::string& hook_args, const HostUser* user) {
  std::string text = fs::read_file(source_dir() / "contrib" / "lxc" / (user ? "default.conf" : "sandnet.conf"));
  text = replaced(text, "/usr/bin/sandnet-oci-hook lxc",
                  oci_hook_path().string() + " --socket " + daemon.socket().string() + " lxc");
  text = replaced(text, user ? "--network sandnet --port 30080:80" : "--network sandnet --port 8080:80", hook_args);
  if (user) {
    auto map = [](const protocol::IdRange& r) { return " 0 " + std::to_string(r.host_id) + " " + std::to_string(r.size); };
    text = replaced(text, "lxc.idmap = u 0 100000 65536", "lxc.idmap = u" + map(user->subuid()));
    text = replaced(text, "lxc.idmap = g 0 100000 65536", "lxc.idmap = g" + map(user->subgid()));
  }
  return text;
}

class LxcHookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root";
    if (!lxc_available()) GTEST_SKIP() << "lxc, busybox or uidmap not installed";
    if (!stdfs::exists(sandnetd_path()) || !stdfs::exists(oci_hook_path()))
      GTEST_SKIP() << "sandnetd or sandnet-oci-hook not built in " << build_dir();
  }
};

// The host uid a process runs as (/proc/<pid>/status, the real uid).
uid_t host_uid_of(pid_t pid) {
  const std::string status = fs::read_file("/proc/" + std::to_string(pid) + "/status");
  const auto at = status.find("\nUid:");
  if (at == std::string::npos) throw_error(errc::internal, "no Uid line for pid " + std::to_string(pid));
  return static_cast<uid_t>(std::stoul(status.substr(at + 5)));
}

// The sandbox whose pin is netns in the daemon's list (the daemon names a
// user's sandbox as it sees fit; the pin identifies it).
std::optional<protocol::SandboxInfo> listed_with_pin(client::Client& client, const std::string& netns) {
  for (auto& sandbox : client.list())
    if (sandbox.netns == netns) return sandbox;
  return std::nullopt;
}

// Start (the start-host hook sets up, with a host port), the pod's network
// as the container and a second pod see it, stop (the post-stop hook tears
// down, nothing left); by root or, unprivileged, by user with a policy rule.
void lxc_flow(const HostUser* user) {
  const uid_t uid = user ? user->uid() : 0;
  const TestNetwork net = make_test_network();
  json::object config;
  if (user)
    config = {{"policy", json::array{user_policy_rule(uid, net.name)}},
              {"idMappings", json::object{{"subordinate", true}}}};
  Daemon daemon(net, config);
  client::Client client(daemon.client_options());
  const std::string name = unique_name("snlxc");
  const std::uint16_t host_port = pick_host_port(user ? 3 : 4);
  // The hook writes the daemon's reply there, as the container's user.
  TempDir results;
  if (::chown(results.path().c_str(), uid, uid) != 0) throw_errno("chown " + results.path());
  const std::string result_path = results.path() + "/sandbox.json";
  const std::string hook_args =
      "--network " + net.name + " --port " + std::to_string(host_port) + ":80 --result " + result_path;
  std::optional<LxcContainer> box;
  ASSERT_NO_THROW(box.emplace(name, lxc_config(daemon, hook_args, user), user));
  // A second pod on the same network, set up by root.
  SandboxOptions peer_options;
  peer_options.host_id = 430000;
  Sandbox peer(peer_options);
  const std::string peer_id = unique_name("snpeer");
  Defer cleanup([&] {
    box->lxc("lxc-stop", {"-k"});
    teardown_all(client);
  });
  protocol::SetupParams peer_setup;
  peer_setup.id = peer_id;
  peer_setup.ref = protocol::SandboxRef::pidfd;
  ASSERT_NO_THROW(client.setup(peer_setup, peer.pidfd())) << daemon.log();

  CommandResult started = box->start();
  ASSERT_TRUE(started.ok()) << started.out << started.err << box->log() << daemon.log();
  protocol::SandboxInfo info;
  ASSERT_NO_THROW(info = json::value_to<protocol::SandboxInfo>(json::parse(fs::read_file(result_path))))
      << box->log() << daemon.log();
  std::optional<protocol::SandboxInfo> listed = listed_with_pin(client, info.netns);
  ASSERT_TRUE(listed) << "no sandbox pinned at " << info.netns;
  EXPECT_EQ(listed->owner_uid, uid);
  EXPECT_NE(listed->id.find(name), std::string::npos) << listed->id << " is not named after the container " << name;
  EXPECT_TRUE(stdfs::exists(info.netns)) << "pin " << info.netns;
  // The sandbox's pid is the container's init, which runs as the mapped
  // root: the user's first subordinate uid (root itself for root's container).
  ASSERT_TRUE(info.pid);
  EXPECT_EQ(host_uid_of(*info.pid), user ? user->subuid().host_id : 0);
  const PodAddress addr = address_of(info);
  ASSERT_FALSE(addr.ip.empty());
  EXPECT_EQ(addr.gateway, net.gateway);

  CommandResult eth0 = box->attach({"ip", "-o", "-4", "addr", "show", "dev", "eth0"});
  ASSERT_TRUE(eth0.ok()) << eth0.out << eth0.err;
  EXPECT_NE(eth0.out.find("inet " + addr.cidr), std::string::npos) << eth0.out;
  // lxc.net.0.type = empty leaves lo down; the daemon brings it up.
  CommandResult lo = box->attach({"ip", "-o", "link", "show", "dev", "lo"});
  EXPECT_NE(lo.out.find(",UP"), std::string::npos) << lo.out << lo.err;
  CommandResult ping = box->attach({"ping", "-c", "1", "-W", "5", addr.gateway});
  EXPECT_TRUE(ping.ok()) << ping.out << ping.err;
  CommandResult httpd = box->attach({"sh", "-c", "mkdir -p /www && echo hello from lxc > /www/index.html && httpd -p 80 -h /www"});
  ASSERT_TRUE(httpd.ok()) << httpd.out << httpd.err;
  CommandResult pod_to_pod = peer.exec({"sh", "-c", http_get_script(addr.ip, 80)});
  EXPECT_TRUE(ends_with(pod_to_pod.out, "hello from lxc\n")) << pod_to_pod.out << pod_to_pod.err;
  CommandResult via_port = run({"sh", "-c", http_get_script(net.gateway, host_port)});
  EXPECT_TRUE(ends_with(via_port.out, "hello from lxc\n")) << via_port.out << via_port.err;

  CommandResult stopped = box->lxc("lxc-stop", {"-k"});
  EXPECT_TRUE(stopped.ok()) << stopped.err;
  EXPECT_FALSE(listed_with_pin(client, info.netns)) << "still set up after lxc-stop\n" << box->log() << daemon.log();
  Leftovers left = leftovers_of(daemon, info.netns, name, addr.ip, addr.host_veth);
  EXPECT_TRUE(left.empty()) << left.describe();
  CommandResult rules = run({"sh", "-c", "iptables-save -t nat | grep -- '--dport " + std::to_string(host_port) + "'"});
  EXPECT_FALSE(rules.ok()) << "host port rule left: " << rules.out;
}

TEST_F(LxcHookTest, StartHostSetsUpPostStopTearsDown) { lxc_flow(nullptr); }

// The unprivileged tests' user (podman_hook_test.cpp's is 4206).
constexpr uid_t kLxcUid = 4207;

// Unprivileged LXC 5.0 as it usually runs: a user with /etc/subuid and
// /etc/subgid ranges maps the container's root to them (LXC writes the maps
// with newuidmap), and the hooks run as that user. LXC needs no cgroup of
// the user's: it skips the hierarchies it cannot write.
TEST_F(LxcHookTest, UnprivilegedContainerOfAUser) {
  HostUser user(kLxcUid, "snlxc");
  lxc_flow(&user);
}

// A refused setup makes lxc-start fail and leaves nothing: root asking for
// a network that does not exist, a user for one its policy rule does not
// allow.
void refused_flow(const HostUser* user) {
  const TestNetwork net = make_test_network();
  json::object config;
  if (user) config = {{"policy", json::array{user_policy_rule(user->uid(), "sne2e-other")}}};
  Daemon daemon(net, config);
  client::Client client(daemon.client_options());
  const std::string name = unique_name("snlxc");
  const std::string network = user ? net.name : "sne2e-no-such-net";
  const std::string reason = user ? "network \"" + network + "\" is not allowed for uid " + std::to_string(user->uid())
                                  : network;
  std::optional<LxcContainer> box;
  ASSERT_NO_THROW(box.emplace(name, lxc_config(daemon, "--network " + network, user), user));
  Defer cleanup([&] {
    box->lxc("lxc-stop", {"-k"});
    teardown_all(client);
  });
  CommandResult started = box->start();
  EXPECT_FALSE(started.ok()) << "the container started without its network";
  // LXC logs a hook's output at DEBUG.
  EXPECT_NE(box->log().find("produced output: sandnet-oci-hook: setup " + name + ": "), std::string::npos) << box->log();
  EXPECT_NE(box->log().find(reason), std::string::npos) << box->log();
  EXPECT_EQ(box->lxc("lxc-info", {"--state"}).out.find("RUNNING"), std::string::npos);
  EXPECT_TRUE(client.list().empty());
  std::error_code ec;
  EXPECT_TRUE(stdfs::is_empty(daemon.netns_dir(), ec));
}

TEST_F(LxcHookTest, RefusedSetupFailsLxcStart) { refused_flow(nullptr); }

TEST_F(LxcHookTest, RefusedSetupFailsAnUnprivilegedLxcStart) {
  HostUser user(kLxcUid, "snlxc");
  refused_flow(&user);
}

}  // namespace
}  // namespace sandnet::test::e2e
