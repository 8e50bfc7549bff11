#include "daemon_fixture.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"
#include "sandnet/common/scm.hpp"

namespace sandnet::test {
namespace json = boost::json;
namespace stdfs = std::filesystem;

namespace {

int next_subnet() {
  static int counter = 0;  // one subnet per daemon in this process
  return ++counter;
}

std::string build_dir() {
  const char* dir = std::getenv("SANDNET_BUILD_DIR");
  return dir ? dir : ".";
}

}  // namespace

// ---------------------------------------------------------------- Conn

Conn::Conn(const std::string& socket_path, uid_t uid, gid_t gid, std::vector<gid_t> groups) {
  fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd_) throw_errno("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof(addr.sun_path) - 1);
  // The kernel copies the caller's credentials (groups included) at connect.
  std::vector<gid_t> own_groups;
  if (uid != 0) {
    own_groups.resize(static_cast<std::size_t>(std::max(::getgroups(0, nullptr), 0)));
    if (::getgroups(static_cast<int>(own_groups.size()), own_groups.data()) < 0) throw_errno("getgroups");
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setegid(gid) != 0 || ::seteuid(uid) != 0)
      throw_errno("seteuid");
  }
  int rc = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  if (uid != 0 && (::seteuid(0) != 0 || ::setegid(0) != 0 || ::setgroups(own_groups.size(), own_groups.data()) != 0))
    throw_errno("restore euid");
  if (rc != 0) throw_errno(err, "connect " + socket_path);
}

void Conn::send_raw(std::string_view data, std::span<const int> fds) {
  if (scm::send_with_fds(fd_.get(), data, fds) < 0) throw_errno("send");
}

std::optional<std::string> Conn::read_line(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[65536];
    ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n <= 0) return std::nullopt;
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

bool Conn::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char chunk[4096];
    ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
  }
  return false;
}

rpc::Response Conn::call(std::string_view method, const json::object& params, std::span<const int> fds) {
  send_raw(rpc::serialize_request(next_id_++, method, params), fds);
  auto line = read_line();
  if (!line) throw_error(errc::protocol_error, std::string(method) + ": no reply");
  return rpc::parse_response(*line);
}

// ---------------------------------------------------------------- TestDaemon

TestDaemon::TestDaemon(DaemonOptions options) : options_(options) {
  char tmpl[] = "/tmp/sndm-XXXXXX";
  if (!::mkdtemp(tmpl)) throw_errno("mkdtemp");
  root_ = tmpl;
  // Unprivileged test callers must reach the socket inside.
  ::chmod(root_.c_str(), 0755);
  socket_ = root_ + "/sandnetd.sock";
  state_dir_ = root_ + "/state";
  netns_dir_ = root_ + "/netns";
  userns_dir_ = root_ + "/userns";
  cache_dir_ = root_ + "/cache";
  conf_dir_ = root_ + "/conf";
  ipam_dir_ = root_ + "/ipam";
  log_path_ = root_ + "/sandnetd.log";
  config_path_ = root_ + "/sandnetd.json";
  network_ = unique_name("sndm");
  failing_ = network_ + "f";
  slow_ = network_ + "s";
  flaky_ = network_ + "d";
  late_ = network_ + "l";
  ported_ = network_ + "p";
  dual_ = network_ + "6";
  bridge_ = unique_name("sndm");
  nft_table_ = unique_name("sndm");
  // The destructor does not run for a constructor that throws: take the
  // temp dir away here then.
  try {
    write_config();
  } catch (...) {
    std::error_code ec;
    stdfs::remove_all(root_, ec);
    throw;
  }
}

void TestDaemon::write_config() {
  int subnet = next_subnet();
  fs::ensure_directory(conf_dir_, 0755);
  auto bridge_plugin = [&](const std::string& net) {
    return json::object{
        {"type", "bridge"},
        {"bridge", bridge_},
        {"isGateway", true},
        {"ipMasq", false},
        {"ipam", json::object{{"type", "host-local"},
                              {"ranges", json::array{json::array{json::object{
                                             {"subnet", "10.203." + std::to_string(subnet) + ".0/24"}}}}},
                              {"routes", json::array{json::object{{"dst", "0.0.0.0/0"}}}},
                              {"dataDir", ipam_dir_ + "/" + net}}}};
  };
  json::object good{{"cniVersion", "1.0.0"}, {"name", network_}, {"plugins", json::array{bridge_plugin(network_)}}};
  fs::write_file_atomic(conf_dir_ + "/10-" + network_ + ".conflist", json::serialize(good), 0644);
  if (options_.with_failing_network) {
    // tuning refuses a sysctl that does not exist: ADD fails after bridge.
    json::object failing{{"cniVersion", "1.0.0"},
                         {"name", failing_},
                         {"plugins", json::array{bridge_plugin(failing_),
                                                 json::object{{"type", "tuning"},
                                                              {"sysctl", json::object{{"net.ipv4.sndm_no_such_key", "1"}}}}}}};
    fs::write_file_atomic(conf_dir_ + "/20-" + failing_ + ".conflist", json::serialize(failing), 0644);
  }
  // bridge, then a plugin that holds the chain for half a second (so a test
  // can watch the record while the setup runs) and passes prevResult on.
  fs::ensure_directory(root_ + "/bin", 0755);
  const char* build_dir = std::getenv("SANDNET_BUILD_DIR");
  if (!build_dir) throw_error(errc::invalid_argument, "SANDNET_BUILD_DIR is not set (run through ctest)");
  fs::write_file_atomic(root_ + "/bin/sndm-slow",
                        std::string("#!/bin/sh\nsleep 0.5\nexec ") + build_dir + "/tests/plugins/sncni-passthrough\n", 0755);
  json::object slow{{"cniVersion", "1.0.0"},
                    {"name", slow_},
                    {"plugins", json::array{bridge_plugin(slow_), json::object{{"type", "sndm-slow"}}}}};
  fs::write_file_atomic(conf_dir_ + "/30-" + slow_ + ".conflist", json::serialize(slow), 0644);
  fs::write_file_atomic(root_ + "/bin/sndm-flaky",
                        "#!/bin/sh\n"
                        "if [ \"$CNI_COMMAND\" = DEL ] && [ -e " + del_fails_marker() + " ]; then\n"
                        "  cat >/dev/null\n"
                        "  echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"sndm-flaky: DEL fails on purpose\"}'\n"
                        "  exit 1\n"
                        "fi\n"
                        "exec " + std::string(build_dir) + "/tests/plugins/sncni-passthrough\n",
                        0755);
  json::object flaky{{"cniVersion", "1.0.0"},
                     {"name", flaky_},
                     {"plugins", json::array{bridge_plugin(flaky_), json::object{{"type", "sndm-flaky"}}}}};
  fs::write_file_atomic(conf_dir_ + "/40-" + flaky_ + ".conflist", json::serialize(flaky), 0644);
  fs::write_file_atomic(root_ + "/bin/sndm-late",
                        "#!/bin/sh\n"
                        "cat >/dev/null\n"
                        "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
                        "  (sleep 1.5; touch " + late_marker() + ") &\n"
                        "  sleep 10\n"
                        "fi\n"
                        "exit 0\n",
                        0755);
  json::object late{{"cniVersion", "1.0.0"},
                    {"name", late_},
                    {"plugins", json::array{bridge_plugin(late_), json::object{{"type", "sndm-late"}}}}};
  fs::write_file_atomic(conf_dir_ + "/45-" + late_ + ".conflist", json::serialize(late), 0644);
  json::object ported{{"cniVersion", "1.0.0"},
                      {"name", ported_},
                      {"plugins", json::array{bridge_plugin(ported_),
                                              json::object{{"type", "portmap"},
                                                           {"capabilities", json::object{{"portMappings", true}}},
                                                           {"snat", true}}}}};
  fs::write_file_atomic(conf_dir_ + "/50-" + ported_ + ".conflist", json::serialize(ported), 0644);
  json::object dual_plugin = bridge_plugin(dual_);
  dual_plugin["ipam"].as_object()["ranges"].as_array().push_back(
      json::array{json::object{{"subnet", "fd00:203:" + std::to_string(subnet) + "::/64"}}});
  json::object dual{{"cniVersion", "1.0.0"}, {"name", dual_}, {"plugins", json::array{std::move(dual_plugin)}}};
  fs::write_file_atomic(conf_dir_ + "/60-" + dual_ + ".conflist", json::serialize(dual), 0644);
  json::array unguarded;
  if (!options_.anti_spoofing)
    for (const auto* net : {&network_, &failing_, &slow_, &flaky_, &late_, &ported_, &dual_}) unguarded.emplace_back(*net);
  json::object config{
      {"socket", socket_},
      {"socketMode", "0666"},
      {"netnsDir", netns_dir_},
      {"usernsDir", userns_dir_},
      {"stateDir", state_dir_},
      {"cni", json::object{{"confDir", conf_dir_},
                           {"binDirs", json::array{"/usr/lib/cni", json::string(root_ + "/bin")}},
                           {"cacheDir", cache_dir_},
                           {"pluginTimeoutSeconds", 20},
                           {"defaultNetworks", json::array{json::string(network_)}}}},
      {"idMappings", json::object{{"uids", json::array{json::object{{"hostID", 100000}, {"size", 65536}}}},
                                  {"gids", json::array{json::object{{"hostID", 100000}, {"size", 65536}}}},
                                  {"subuidFile", root_ + "/subuid"},
                                  {"subgidFile", root_ + "/subgid"}}},
      {"policy", json::array{json::object{{"uid", kTestUid},
                                          {"networks", json::array{json::string(network_)}},
                                          {"maxSandboxes", 2},
                                          {"hostPorts", json::array{"30000-30010"}},
                                          {"capabilities", json::array{"portMappings"}}},
                             json::object{{"uid", kOtherUid}, {"networks", json::array{"*"}}},
                             json::object{{"gid", kTestGroupGid}, {"networks", json::array{json::string(network_)}}}}},
      {"antiSpoofing", json::object{{"table", nft_table_}, {"disabledNetworks", std::move(unguarded)}}},
      {"autoTeardown", options_.auto_teardown},
      {"maintenance", json::object{{"retrySeconds", options_.retry_seconds},
                                   {"retryMaxSeconds", std::max(options_.retry_seconds, 300)},
                                   {"gcIntervalSeconds", options_.gc_interval_seconds}}},
      {"maxConcurrentSetups", options_.max_concurrent_setups},
      {"maxConnections", options_.max_connections},
      {"idleTimeoutSeconds", options_.idle_timeout_seconds},
  };
  // kTestUid's subordinate ranges, as useradd would give them.
  const std::string sub = std::to_string(kTestUid) + ":" + std::to_string(kTestSubordinateFirst) + ":65536\n";
  fs::write_file_atomic(root_ + "/subuid", sub, 0644);
  fs::write_file_atomic(root_ + "/subgid", sub, 0644);
  if (options_.max_connections_per_uid) config["maxConnectionsPerUid"] = *options_.max_connections_per_uid;
  if (options_.max_connections_per_uid_without_rule)
    config["maxConnectionsPerUidWithoutRule"] = *options_.max_connections_per_uid_without_rule;
  if (options_.root_reserved_connections) config["rootReservedConnections"] = *options_.root_reserved_connections;
  if (options_.write_timeout_seconds) config["writeTimeoutSeconds"] = *options_.write_timeout_seconds;
  fs::write_file_atomic(config_path_, json::serialize(config), 0644);
}

void TestDaemon::start() {
  std::string binary = build_dir() + "/daemon/sandnetd";
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log >= 0) ::dup2(log, 2);
    if (options_.nofile_limit) {
      rlimit limit{*options_.nofile_limit, *options_.nofile_limit};
      if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(126);
    }
    ::execl(binary.c_str(), binary.c_str(), "--config", config_path_.c_str(), "--log-level", "debug", nullptr);
    ::_exit(127);
  }
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("sandnetd exited at start:\n" + log());
    }
    try {
      Conn probe(socket_);
      auto r = probe.call("status");
      if (r.result) return;
    } catch (const Error&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("sandnetd did not come up:\n" + log());
}

int TestDaemon::stop(bool kill9) {
  if (pid_ <= 0) return 0;
  ::kill(pid_, kill9 ? SIGKILL : SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::optional<int> TestDaemon::terminate_within(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return 0;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return std::nullopt;
}

long TestDaemon::rss_kib() const {
  std::istringstream status(fs::read_file("/proc/" + std::to_string(pid_) + "/status"));
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

void TestDaemon::signal(int signo) const {
  if (pid_ > 0) ::kill(pid_, signo);
}

TestDaemon::~TestDaemon() {
  // Tear down every sandbox through the daemon (DEL while pins are live),
  // then remove whatever is left by hand.
  try {
    if (pid_ <= 0) start();
    Conn c(socket_);
    auto list = c.call("sandbox.list");
    if (list.result) {
      for (const auto& s : list.result->at("sandboxes").as_array())
        c.call("sandbox.teardown", json::object{{"id", s.at("id")}});
    }
  } catch (const std::exception&) {
  }
  stop();
  for (const auto& pin : pin_files()) {
    ::umount2(pin.c_str(), MNT_DETACH);
    ::unlink(pin.c_str());
  }
  std::error_code list_ec;
  for (const auto& e : stdfs::directory_iterator(userns_dir_, list_ec)) ::umount2(e.path().c_str(), MNT_DETACH);
  // The daemon made netnsDir (and usernsDir, once used) a (shared) mount of itself.
  while (::umount2(netns_dir_.c_str(), MNT_DETACH) == 0) {
  }
  while (::umount2(userns_dir_.c_str(), MNT_DETACH) == 0) {
  }
  sh("ip link del " + bridge_ + " 2>/dev/null");
  // The table's base chain and map stay by design; the chains must be gone.
  sh("nft delete table bridge " + nft_table_ + " 2>/dev/null");
  std::error_code ec;
  stdfs::remove_all(root_, ec);
}

std::string TestDaemon::log() const {
  try {
    return fs::read_file(log_path_);
  } catch (const Error&) {
    return {};
  }
}

std::vector<std::string> TestDaemon::allocated_ips(const std::string& network) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(ipam_dir_ + "/" + network + "/" + network, ec)) {
    auto name = e.path().filename().string();
    if (name.rfind("10.203.", 0) == 0) out.push_back(name);
  }
  return out;
}

std::vector<std::string> TestDaemon::record_files() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(state_dir_ + "/sandboxes", ec))
    if (e.path().extension() == ".json") out.push_back(e.path().string());
  return out;
}

std::vector<std::string> TestDaemon::pin_files() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(netns_dir_, ec)) out.push_back(e.path().string());
  return out;
}

std::vector<std::string> result_ips(const json::value& info) {
  std::vector<std::string> out;
  for (const auto& att : info.at("attachments").as_array()) {
    const auto& result = att.at("result").as_object();
    if (auto* ips = result.if_contains("ips"))
      for (const auto& ip : ips->as_array()) out.emplace_back(ip.at("address").as_string());
  }
  return out;
}

}  // namespace sandnet::test
