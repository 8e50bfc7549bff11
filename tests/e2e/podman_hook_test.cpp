// Rootful Podman networked by the shipped hooks.d files (contrib/oci-hooks,
// with the built hook's path and the test daemon's socket): `podman run
// --network=none --annotation io.sandnet.networks=NET` gets eth0 from
// sandnetd, `podman stop` tears it down, `podman start` sets it up again,
// `podman rm -f` tears it down; a refused setup fails `podman run`.
//
// All of Podman's state lives in a temp dir: storage (vfs) and run root,
// tmp dir, events log, CNI config dir, through CONTAINERS_CONF and
// CONTAINERS_STORAGE_CONF (runc keeps a container's state under /run/runc
// until it is deleted); the image is a busybox rootfs made by `podman import`.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <signal.h>
#include <sys/stat.h>

#include <thread>

#include "e2e_env.hpp"
#include "pod_checks.hpp"
#include "support/oci.hpp"
#include "support/sandbox.hpp"

namespace sandnet::test::e2e {
namespace {

constexpr const char* kImage = "localhost/sandnet-e2e-busybox";
// libimage keeps a blob-info cache here for root whatever the storage root is.
constexpr const char* kSystemImageCache = "/var/lib/containers";

bool podman_available() { return run({"podman", "--version"}).ok(); }

// The shipped hooks.d file, pointed at the built hook and the test daemon.
void write_hook_file(const stdfs::path& hooks_dir, const char* name, const Daemon& daemon) {
  json::value hook = json::parse(fs::read_file(source_dir() / "contrib" / "oci-hooks" / name));
  json::object& h = hook.at("hook").as_object();
  h["path"] = oci_hook_path().string();
  json::array& args = h.at("args").as_array();
  args.insert(args.begin() + 1, {json::value("--socket"), json::value(daemon.socket().string())});
  fs::write_file_atomic(hooks_dir / name, json::serialize(hook), 0644);
}

// Podman with all of its state under one temp dir: HOME (storage, events,
// CNI config) and XDG_RUNTIME_DIR (run root, tmp dir; a rootless runc's
// state) of their own, owned by the uid that runs Podman (root, or a
// rootless user).
class PodmanEnv {
 public:
  PodmanEnv(const Daemon& daemon, uid_t as_uid = 0)
      : root_(dir_.path()), as_uid_(as_uid), created_system_cache_(!stdfs::exists(kSystemImageCache)) {
    ::chmod(root_.c_str(), 0755);  // a rootless user must reach its dirs in here
    for (const char* sub : {"hooks", "rootfs/bin", "rootfs/www", "rootfs/etc"}) fs::ensure_directory(root_ / sub, 0755);
    for (const char* sub : {"home", "xdg"}) {
      fs::ensure_directory(root_ / sub, 0700);
      if (::chown((root_ / sub).c_str(), as_uid, as_uid) != 0) throw_errno("chown " + (root_ / sub).string());
    }
    write_hook_file(root_ / "hooks", "sandnet-setup.json", daemon);
    write_hook_file(root_ / "hooks", "sandnet-teardown.json", daemon);
    fs::write_file_atomic(root_ / "storage.conf",
                          "[storage]\ndriver = \"vfs\"\nrunroot = \"" + (xdg() / "runroot").string() +
                              "\"\ngraphroot = \"" + (home() / "graph").string() + "\"\n",
                          0644);
    fs::write_file_atomic(root_ / "containers.conf",
                          // Podman's default RLIMIT_NOFILE (1048576) and RLIMIT_NPROC are more
                          // than runc may set on this machine (EPERM; 1024 works).
                          "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n"
                          "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n"
                          "events_logfile_path = \"" + (home() / "events.log").string() + "\"\n"
                          "runtime = \"runc\"\ntmp_dir = \"" + (xdg() / "tmp").string() + "\"\n"
                          "[network]\nnetwork_config_dir = \"" + (home() / "cni").string() + "\"\n",
                          0644);
    // The image: busybox and its applets, a page for httpd.
    const stdfs::path rootfs = root_ / "rootfs";
    stdfs::copy_file("/bin/busybox", rootfs / "bin" / "busybox");
    for (const auto& applet : busybox_applets()) stdfs::create_symlink("busybox", rootfs / "bin" / applet);
    fs::write_file_atomic(rootfs / "www" / "index.html", "hello from podman\n", 0644);
    fs::write_file_atomic(rootfs / "etc" / "passwd", "root:x:0:0:root:/:/bin/sh\n", 0644);
    CommandResult tar = run({"tar", "-C", rootfs.string(), "-cf", (root_ / "rootfs.tar").string(), "."});
    if (!tar.ok()) throw_error(errc::internal, "tar rootfs: " + tar.err);
    ::chmod((root_ / "rootfs.tar").c_str(), 0644);
    CommandResult import = podman({"import", (root_ / "rootfs.tar").string(), kImage});
    if (!import.ok()) throw_error(errc::internal, "podman import: " + import.err);
  }

  ~PodmanEnv() {
    podman({"rm", "--all", "--force", "--time", "0"});
    podman({"rmi", "--all", "--force"});
    // Rootless Podman leaves a pause process holding its user namespace.
    try {
      const pid_t pause = std::stoi(fs::read_file(xdg() / "tmp" / "pause.pid"));
      if (pause > 1 && ::kill(pause, SIGKILL) == 0)
        for (int i = 0; i < 100 && ::kill(pause, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } catch (const std::exception&) {
      // no pause process (rootful)
    }
    if (created_system_cache_) stdfs::remove_all(kSystemImageCache);
  }
  PodmanEnv(const PodmanEnv&) = delete;
  PodmanEnv& operator=(const PodmanEnv&) = delete;

  // podman with our state; the hooks dir on the command line (as --hooks-dir
  // must be given again to a later `podman start`, or put in containers.conf).
  CommandResult podman(const std::vector<std::string>& args) const {
    // No --runtime-flag root=: conmon's `podman container cleanup` does not
    // pass it on, and would run `runc delete` against runc's default root.
    // That default is /run/runc for root (runc removes its entry on delete)
    // and $XDG_RUNTIME_DIR/runc, ours, for a rootless user.
    std::vector<std::string> argv{"podman", "--hooks-dir", (root_ / "hooks").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(as_user(as_uid_, std::move(argv)), {}, std::chrono::seconds(60),
               {"CONTAINERS_CONF=" + (root_ / "containers.conf").string(),
                "CONTAINERS_STORAGE_CONF=" + (root_ / "storage.conf").string(), "HOME=" + home().string(),
                "XDG_RUNTIME_DIR=" + xdg().string()});
  }

 private:
  stdfs::path home() const { return root_ / "home"; }
  stdfs::path xdg() const { return root_ / "xdg"; }

  TempDir dir_;
  stdfs::path root_;
  uid_t as_uid_;
  bool created_system_cache_;
};

class PodmanHookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root";
    if (!podman_available()) GTEST_SKIP() << "podman not installed";
    if (!stdfs::exists(sandnetd_path()) || !stdfs::exists(oci_hook_path()))
      GTEST_SKIP() << "sandnetd or sandnet-oci-hook not built in " << build_dir();
  }
};

// Waits for the sandbox to be gone (Podman runs poststop hooks in its cleanup, which
// conmon may start after `podman stop` returned).
bool wait_until_gone(client::Client& client, const std::string& id) {
  for (int i = 0; i < 100; ++i) {
    try {
      client.get(id);
    } catch (const Error& e) {
      if (e.is(errc::not_found)) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// Cleanup that does not depend on the test getting far: the container, and
// every sandbox of this test's daemon. A container whose creation fails after
// the createRuntime hook ran gets no poststop hook from Podman, so its
// sandbox is only torn down by the daemon's autoTeardown (off in the tests).
void remove_all(const PodmanEnv& podman, client::Client& client, const std::string& name) {
  podman.podman({"rm", "--force", "--time", "0", name});
  teardown_all(client);
}

// run, exec, host port, stop (teardown), start (setup again), rm -f (teardown),
// as root or as a rootless user (as_uid) whose policy rule allows it all.
void podman_flow(uid_t as_uid) {
  const TestNetwork net = make_test_network();
  json::object config;
  if (as_uid != 0) config["policy"] = json::array{user_policy_rule(as_uid, net.name)};
  Daemon daemon(net, config);
  client::Client client(daemon.client_options());
  PodmanEnv podman(daemon, as_uid);
  const std::string name = unique_name("snpod");
  const std::uint16_t host_port = pick_host_port(as_uid == 0 ? 3 : 4);
  Defer cleanup([&] { remove_all(podman, client, name); });

  CommandResult started = podman.podman({"run", "-d", "--network=none", "--name", name, "--annotation",
                                         "io.sandnet.networks=" + net.name, "--annotation",
                                         "io.sandnet.ports=" + std::to_string(host_port) + ":80", kImage, "httpd",
                                         "-f", "-p", "80", "-h", "/www"});
  ASSERT_TRUE(started.ok()) << started.err << daemon.log();
  const std::string id = started.out.substr(0, started.out.find('\n'));  // the container ID names the sandbox

  protocol::SandboxInfo info;
  ASSERT_NO_THROW(info = client.get(id)) << daemon.log();
  EXPECT_EQ(info.owner_uid, as_uid);
  const PodAddress addr = address_of(info);
  ASSERT_FALSE(addr.ip.empty());
  CommandResult eth0 = podman.podman({"exec", name, "ip", "-o", "-4", "addr", "show", "dev", "eth0"});
  ASSERT_TRUE(eth0.ok()) << eth0.err;
  EXPECT_NE(eth0.out.find("inet " + addr.cidr), std::string::npos) << eth0.out;
  CommandResult ping = podman.podman({"exec", name, "ping", "-c", "1", "-W", "5", addr.gateway});
  EXPECT_TRUE(ping.ok()) << ping.out << ping.err;
  CommandResult via_port = run({"sh", "-c", http_get_script(net.gateway, host_port)});
  EXPECT_TRUE(ends_with(via_port.out, "hello from podman\n")) << via_port.out << via_port.err;

  // stop: the poststop hook tears down.
  CommandResult stopped = podman.podman({"stop", "--time", "1", name});
  EXPECT_TRUE(stopped.ok()) << stopped.err;
  EXPECT_TRUE(wait_until_gone(client, id)) << "still set up after podman stop\n" << daemon.log();
  Leftovers left = leftovers_of(daemon, info.netns, id, addr.ip, addr.host_veth);
  EXPECT_TRUE(left.empty()) << left.describe();

  // start (with the hooks dir again): set up anew; rm -f tears down.
  CommandResult restarted = podman.podman({"start", name});
  ASSERT_TRUE(restarted.ok()) << restarted.err << daemon.log();
  protocol::SandboxInfo again;
  ASSERT_NO_THROW(again = client.get(id)) << daemon.log();
  const PodAddress addr2 = address_of(again);
  CommandResult eth0_again = podman.podman({"exec", name, "ip", "-o", "-4", "addr", "show", "dev", "eth0"});
  EXPECT_NE(eth0_again.out.find("inet " + addr2.cidr), std::string::npos) << eth0_again.out << eth0_again.err;
  CommandResult removed = podman.podman({"rm", "--force", "--time", "1", name});
  EXPECT_TRUE(removed.ok()) << removed.err;
  EXPECT_TRUE(wait_until_gone(client, id)) << "still set up after podman rm\n" << daemon.log();
  Leftovers left2 = leftovers_of(daemon, again.netns, id, addr2.ip, addr2.host_veth);
  EXPECT_TRUE(left2.empty()) << left2.describe();
  CommandResult rules = run({"sh", "-c", "iptables-save -t nat | grep -- '--dport " + std::to_string(host_port) + "'"});
  EXPECT_FALSE(rules.ok()) << "host port rule left: " << rules.out;
}

TEST_F(PodmanHookTest, HooksDirNetworksTheContainerStopAndRmTearDown) { podman_flow(0); }

// Rootless Podman as a uid without /etc/subuid entries: Podman falls back to
// mapping only that uid, which the daemon accepts for its own sandboxes. The
// hook runs as root inside Podman's user namespace; SO_PEERCRED gives the
// daemon the real uid. (Podman's usual subordinate-ID map needs the daemon
// to read /etc/subuid: issue 9 part 2.)
TEST_F(PodmanHookTest, RootlessPodmanIsNetworkedAsItsUser) { podman_flow(kUserA); }

// Rootless Podman as it usually runs: a user with /etc/subuid and
// /etc/subgid ranges, so Podman maps 0 -> the user and 1.. -> its
// subordinate IDs through newuidmap.
TEST_F(PodmanHookTest, RootlessPodmanWithSubordinateIds) {
  HostUser user(4206, "snhook");
  podman_flow(user.uid());
}

TEST_F(PodmanHookTest, RefusedSetupFailsPodmanRun) {
  const TestNetwork net = make_test_network();
  Daemon daemon(net);
  client::Client client(daemon.client_options());
  PodmanEnv podman(daemon);
  const std::string name = unique_name("snpod");
  Defer cleanup([&] { remove_all(podman, client, name); });
  CommandResult started = podman.podman({"run", "-d", "--network=none", "--name", name, "--annotation",
                                         "io.sandnet.networks=sne2e-no-such-net", kImage, "sleep", "1000"});
  EXPECT_FALSE(started.ok()) << started.out;
  EXPECT_NE(started.err.find("sandnet-oci-hook: setup "), std::string::npos) << started.err;
  EXPECT_NE(started.err.find("sne2e-no-such-net"), std::string::npos) << started.err;
  CommandResult running = podman.podman({"ps", "--quiet"});
  EXPECT_EQ(running.out, "") << "a container runs without its network";
  EXPECT_TRUE(client.list().empty());
  std::error_code ec;
  EXPECT_TRUE(stdfs::is_empty(daemon.netns_dir(), ec));
}

}  // namespace
}  // namespace sandnet::test::e2e
