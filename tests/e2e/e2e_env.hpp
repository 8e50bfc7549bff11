// The world an end-to-end test runs in: a bridge network of its own (conf
// dir, host-local dataDir, CNI cache, all in a temp dir), and a sandnetd
// started on a private socket, state dir and pin dir, stopped and cleaned up
// at scope exit even when the test fails.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sandnet/client/client.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"
#include "support/process.hpp"

extern char** environ;

namespace sandnet::test::e2e {

namespace json = boost::json;
namespace stdfs = std::filesystem;

inline stdfs::path build_dir() {
  const char* dir = std::getenv("SANDNET_BUILD_DIR");
  return dir ? stdfs::path(dir) : stdfs::current_path();
}
inline stdfs::path sandnetd_path() { return build_dir() / "daemon" / "sandnetd"; }
inline stdfs::path sandnetctl_path() { return build_dir() / "client" / "sandnetctl"; }
inline stdfs::path oci_hook_path() { return build_dir() / "client" / "sandnet-oci-hook"; }
inline stdfs::path source_dir() {
  const char* dir = std::getenv("SANDNET_SOURCE_DIR");
  return dir ? stdfs::path(dir) : stdfs::path(SANDNET_E2E_SOURCE_DIR);
}

// Unprivileged callers of the tests: uids without a passwd entry, so the
// tests create nothing on the host to name them.
inline constexpr uid_t kUserA = 4204;
inline constexpr uid_t kUserB = 4205;

// A host user made for a test by useradd: a group of its own with the same
// ID, and the /etc/subuid and /etc/subgid ranges login.defs gives a new user
// (what newuidmap lets it map). userdel removes it and its ranges at scope
// exit, so its processes must be gone by then. No home directory: a test
// gives it one in a temp dir.
class HostUser {
 public:
  HostUser(uid_t uid, const std::string& prefix) : name_(prefix + std::to_string(::getpid())), uid_(uid) {
    CommandResult added = run({"useradd", "--no-create-home", "--uid", std::to_string(uid), "--user-group", "--shell",
                               "/usr/sbin/nologin", name_});
    if (!added.ok()) throw_error(errc::internal, "useradd " + name_ + ": " + added.err);
    try {
      // Callers run as the user with setpriv --regid <uid>.
      const passwd* pw = ::getpwnam(name_.c_str());
      if (!pw || pw->pw_gid != uid) throw_error(errc::internal, "useradd gave " + name_ + " a group ID other than its uid");
      subuid_ = subordinate_range("/etc/subuid");
      subgid_ = subordinate_range("/etc/subgid");
    } catch (...) {
      run({"userdel", name_});
      throw;
    }
  }
  ~HostUser() {
    CommandResult removed = run({"userdel", name_});
    if (!removed.ok()) ADD_FAILURE() << "userdel " << name_ << ": " << removed.err;
  }
  HostUser(const HostUser&) = delete;
  HostUser& operator=(const HostUser&) = delete;

  uid_t uid() const { return uid_; }
  const std::string& name() const { return name_; }
  const protocol::IdRange& subuid() const { return subuid_; }
  const protocol::IdRange& subgid() const { return subgid_; }

 private:
  protocol::IdRange subordinate_range(const char* file) const {
    std::istringstream lines(fs::read_file(file));
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(name_ + ":", 0) != 0) continue;
      const std::string rest = line.substr(name_.size() + 1);  // "start:count"
      const auto colon = rest.find(':');
      if (colon == std::string::npos) break;
      return {static_cast<std::uint32_t>(std::stoul(rest.substr(0, colon))),
              static_cast<std::uint32_t>(std::stoul(rest.substr(colon + 1)))};
    }
    throw_error(errc::not_found, "useradd gave " + name_ + " no range in " + file);
  }

  std::string name_;
  uid_t uid_;
  protocol::IdRange subuid_, subgid_;
};

// A policy rule for a test's non-root caller: up to two sandboxes on
// network, portMappings with host ports in pick_host_port's range.
inline json::object user_policy_rule(uid_t uid, const std::string& network) {
  return json::object{{"uid", uid},
                      {"networks", json::array{json::value(network)}},
                      {"maxSandboxes", 2},
                      {"hostPorts", json::array{"30000-32767"}},
                      {"capabilities", json::array{"portMappings"}}};
}

// A bridge network "sne2e..." on 10.204.<k>.0/24 with host-local and portmap.
struct TestNetwork {
  std::string name;    // also the bridge name (<= 15 bytes)
  std::string subnet;  // "10.204.k.0/24"
  std::string gateway; // "10.204.k.1"
};

inline TestNetwork make_test_network() {
  static unsigned counter = 0;
  TestNetwork n;
  n.name = unique_name("sne2e");
  const unsigned k = (static_cast<unsigned>(::getpid()) % 50) * 5 + (counter++ % 5) + 1;
  n.subnet = "10.204." + std::to_string(k) + ".0/24";
  n.gateway = "10.204." + std::to_string(k) + ".1";
  return n;
}

class Daemon {
 public:
  // extra_config is merged into the generated config's top level.
  explicit Daemon(const TestNetwork& net, json::object extra_config = {}) : net_(net) {
    // Unprivileged test callers must reach the socket in here.
    ::chmod(dir_.path().c_str(), 0755);
    const stdfs::path root = dir_.path();
    fs::ensure_directory(root / "conf", 0755);
    json::object conflist{
        {"cniVersion", "1.0.0"},
        {"name", net.name},
        {"plugins",
         json::array{
             json::object{{"type", "bridge"},
                          {"bridge", net.name},
                          {"isGateway", true},
                          {"ipMasq", true},
                          {"ipam", json::object{{"type", "host-local"},
                                                {"ranges", json::array{json::array{json::object{
                                                               {"subnet", net.subnet}, {"gateway", net.gateway}}}}},
                                                {"dataDir", ipam_dir().string()}}}},
             json::object{{"type", "portmap"}, {"capabilities", json::object{{"portMappings", true}}}},
         }}};
    fs::write_file_atomic(root / "conf" / "10-e2e.conflist", json::serialize(conflist), 0644);
    json::object config{
        {"socket", socket().string()},
        {"socketMode", "0666"},
        {"netnsDir", netns_dir().string()},
        {"usernsDir", userns_dir().string()},
        {"stateDir", (root / "state").string()},
        {"autoTeardown", false},
        // An anti-spoofing table of the test's own (scripts/leftovers.sh lists snd* tables).
        {"antiSpoofing", json::object{{"table", net.name}}},
        {"cni", json::object{{"confDir", (root / "conf").string()},
                             {"binDirs", json::array{"/usr/lib/cni"}},
                             {"cacheDir", cache_dir().string()},
                             {"defaultNetworks", json::array{net.name}}}},
    };
    for (const auto& [k, v] : extra_config) config[k] = v;
    fs::write_file_atomic(root / "sandnetd.json", json::serialize(config), 0644);
    start();
  }

  ~Daemon() {
    stop();
    // The daemon makes its pin dir a (shared) mount point; it outlives the
    // daemon and would keep the temp dir from going.
    run({"umount", "-l", netns_dir().string()});
    if (run({"findmnt", "-rn", userns_dir().string()}).ok()) run({"umount", "-l", userns_dir().string()});
    // The bridge plugin keeps its bridge by design; the test network is ours.
    run({"ip", "link", "del", net_.name});
    run({"nft", "delete", "table", "bridge", net_.name});
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  void start() {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<std::string> args{sandnetd_path().string(), "--config", (stdfs::path(dir_.path()) / "sandnetd.json").string(),
                                  "--log-level", "debug"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw_errno(rc, "start " + args[0]);
    client::Client probe(client_options());
    for (int attempt = 0;; ++attempt) {
      try {
        probe.status();
        return;
      } catch (const Error& e) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
          pid_ = -1;
          throw_error(errc::unavailable, "sandnetd exited at start: " + log());
        }
        if (attempt > 400) throw_error(errc::timeout, std::string("sandnetd not answering: ") + e.what());
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
    }
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 400; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  client::ClientOptions client_options() const {
    client::ClientOptions o;
    o.socket_path = socket().string();
    return o;
  }
  stdfs::path socket() const { return stdfs::path(dir_.path()) / "sandnetd.sock"; }
  stdfs::path netns_dir() const { return stdfs::path(dir_.path()) / "netns"; }
  stdfs::path userns_dir() const { return stdfs::path(dir_.path()) / "userns"; }
  stdfs::path cache_dir() const { return stdfs::path(dir_.path()) / "cache"; }
  stdfs::path ipam_dir() const { return stdfs::path(dir_.path()) / "ipam"; }
  stdfs::path log_path() const { return stdfs::path(dir_.path()) / "sandnetd.log"; }
  const TestNetwork& network() const { return net_; }

  std::string log() const {
    try {
      std::string s = fs::read_file(log_path());
      return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
    } catch (const Error&) {
      return "(no log)";
    }
  }

  // sandnetctl against this daemon, optionally as another user (setpriv).
  CommandResult ctl(const std::vector<std::string>& args, uid_t as_uid = 0) const {
    std::vector<std::string> argv{sandnetctl_path().string(), "--socket", socket().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(as_user(as_uid, std::move(argv)));
  }

 private:
  TestNetwork net_;
  TempDir dir_;
  pid_t pid_ = -1;
};

// Test cleanup: tears down every sandbox of the daemon (whatever a hook or
// the test left); a failure is the test's, not a throw from a destructor.
inline void teardown_all(client::Client& client) {
  try {
    for (const auto& sandbox : client.list()) client.teardown(sandbox.id);
  } catch (const Error& e) {
    ADD_FAILURE() << "cleanup: " << e.what();
  }
}

// What a pod's attachment left on the host, for "nothing left behind" checks.
struct Leftovers {
  std::vector<std::string> found;
  bool empty() const { return found.empty(); }
  std::string describe() const {
    std::string s;
    for (const auto& f : found) s += "  " + f + "\n";
    return s;
  }
};

// Looks for everything of one sandbox: its pin, its host-side veth, its IP in
// host-local's store, iptables rules naming its container ID, its cache file.
inline Leftovers leftovers_of(const Daemon& d, const std::string& pin_path, const std::string& container_id,
                              const std::string& ip, const std::string& host_veth) {
  Leftovers l;
  if (!pin_path.empty() && stdfs::exists(pin_path)) l.found.push_back("pin " + pin_path);
  if (!pin_path.empty() && run({"findmnt", "-rn", pin_path}).ok()) l.found.push_back("nsfs mount " + pin_path);
  if (!host_veth.empty() && run({"ip", "link", "show", "dev", host_veth}).ok()) l.found.push_back("veth " + host_veth);
  if (!ip.empty() && stdfs::exists(d.ipam_dir() / d.network().name / ip))
    l.found.push_back("host-local IP " + ip);
  for (const char* table : {"nat", "filter"}) {
    CommandResult rules = run({"iptables-save", "-t", table});
    if (rules.out.find(container_id) != std::string::npos)
      l.found.push_back(std::string("iptables ") + table + " rules naming " + container_id);
  }
  std::error_code ec;
  for (const auto& entry : stdfs::directory_iterator(d.cache_dir() / "results", ec)) {
    if (entry.path().filename().string().find(container_id) != std::string::npos)
      l.found.push_back("cache " + entry.path().string());
  }
  return l;
}

}  // namespace sandnet::test::e2e
