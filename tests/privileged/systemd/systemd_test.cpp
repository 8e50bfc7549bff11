// contrib/systemd: the units pass `systemd-analyze verify`, and sandnetd
// serves a request when started through socket activation.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "sandnet/common/error.hpp"
#include "support/process.hpp"
#include "support/sandbox.hpp"

extern char** environ;

namespace sandnet::test {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;

std::string env_or_fail(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) throw Error(errc::invalid_argument, std::string(name) + " is not set (run through ctest)");
  return v;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
  if (!out) throw Error(errc::internal, "write " + p.string());
}

// A background process, killed (SIGTERM, then SIGKILL) and reaped at scope end.
class Background {
 public:
  explicit Background(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int rc = posix_spawn(&pid_, args[0], nullptr, nullptr, args.data(), environ);
    if (rc != 0) throw_errno(rc, "spawn " + argv[0]);
  }
  ~Background() { stop(); }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  // Returns the exit status (or 128+signal).
  int stop() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) return reaped(st);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    return reaped(st);
  }

 private:
  int reaped(int st) {
    pid_ = -1;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
  }
  pid_t pid_ = -1;
  int status_ = -1;
};

bool is_mount_point(const fs::path& p) { return sh("mountpoint -q '" + p.string() + "'").ok(); }

TEST(Systemd, UnitsVerify) {
  const fs::path source = env_or_fail("SANDNET_SOURCE_DIR");
  const fs::path sandnetd = fs::path(env_or_fail("SANDNET_BUILD_DIR")) / "daemon/sandnetd";
  ASSERT_TRUE(fs::exists(sandnetd)) << sandnetd << " is not built yet";
  TempDir dir;
  // verify checks that ExecStart exists: point a copy of the unit at the build.
  std::string service = read_text(source / "contrib/systemd/sandnetd.service");
  auto at = service.find("ExecStart=/usr/sbin/sandnetd");
  ASSERT_NE(at, std::string::npos);
  service.replace(at, std::string("ExecStart=/usr/sbin/sandnetd").size(), "ExecStart=" + sandnetd.string());
  write_text(fs::path(dir.path()) / "sandnetd.service", service);
  fs::copy_file(source / "contrib/systemd/sandnetd.socket", fs::path(dir.path()) / "sandnetd.socket");

  auto r = run({"systemd-analyze", "verify", "--man=no", dir.path() + "/sandnetd.socket",
                dir.path() + "/sandnetd.service"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // Warnings about our units (unknown keys, bad values) fail too; other
  // units on the machine are not ours to judge.
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line);)
    EXPECT_EQ(line.find("sandnetd."), std::string::npos) << line;
}

TEST(Systemd, TmpfilesAndSysusersParse) {
  const fs::path source = env_or_fail("SANDNET_SOURCE_DIR");
  TempDir root;
  // --root: creates the directories inside a scratch tree, not on the host.
  auto r = run({"systemd-tmpfiles", "--create", "--root=" + root.path(),
                (source / "contrib/systemd/sandnet.conf").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* d : {"run/sandnet", "run/netns", "var/lib/sandnet", "var/lib/cni"})
    EXPECT_TRUE(fs::is_directory(fs::path(root.path()) / d)) << d;
  EXPECT_EQ(fs::status(fs::path(root.path()) / "var/lib/sandnet").permissions() & fs::perms::all, fs::perms::owner_all);

  fs::create_directories(fs::path(root.path()) / "etc");
  auto u = run({"systemd-sysusers", "--root=" + root.path(), (source / "contrib/systemd/sandnet.sysusers").string()});
  EXPECT_EQ(u.exit_code, 0) << u.out << u.err;
  EXPECT_NE(read_text(fs::path(root.path()) / "etc/group").find("sandnet:"), std::string::npos);
}

TEST(Systemd, SocketActivation) {
  if (!is_root()) GTEST_SKIP() << "needs root";
  const fs::path build = env_or_fail("SANDNET_BUILD_DIR");
  const fs::path sandnetd = build / "daemon/sandnetd";
  const fs::path sandnetctl = build / "client/sandnetctl";
  ASSERT_TRUE(fs::exists(sandnetd)) << sandnetd << " is not built yet";
  ASSERT_TRUE(fs::exists(sandnetctl)) << sandnetctl << " is not built yet";

  TempDir dir;
  const fs::path base = dir.path();
  const fs::path netns_dir = base / "netns";
  // The daemon may make its netns dir a shared mount point; undo that so
  // nothing outlives the test.
  Defer unmount([&] {
    if (is_mount_point(netns_dir)) sh("umount -l '" + netns_dir.string() + "'");
  });
  fs::create_directories(base / "conf");
  json::object config{{"netnsDir", netns_dir.string()},
                      {"stateDir", (base / "state").string()},
                      {"cni", json::object{{"confDir", (base / "conf").string()},
                                           {"cacheDir", (base / "cache").string()}}},
                      {"autoTeardown", true}};
  write_text(base / "sandnetd.json", json::serialize(config));
  const std::string sock = (base / "sandnetd.sock").string();

  Background activator({"/usr/bin/systemd-socket-activate", "-l", sock, sandnetd.string(), "--config",
                        (base / "sandnetd.json").string()});
  for (int i = 0; i < 100 && !fs::exists(sock); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(sock)) << "systemd-socket-activate did not create " << sock;

  // The first connection makes systemd-socket-activate exec sandnetd with LISTEN_FDS.
  auto r = run({sandnetctl.string(), "--socket", sock, "--json", "info"}, {}, std::chrono::seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json::value info = json::parse(r.out);
  EXPECT_EQ(info.at("netnsDir").as_string(), netns_dir.string());
  EXPECT_FALSE(info.at("version").as_string().empty());

  // And a second request on a new connection, rendered as text.
  auto text = run({sandnetctl.string(), "--socket", sock, "networks"}, {}, std::chrono::seconds(30));
  EXPECT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_NE(text.out.find("sandnet"), std::string::npos) << text.out;

  EXPECT_EQ(activator.stop(), 0) << "sandnetd did not exit cleanly on SIGTERM";
}

}  // namespace
}  // namespace sandnet::test
