// A real sandnetd for privileged tests: started as a child process on a temp
// socket with temp stateDir/netnsDir/cacheDir, a temp confDir holding test
// networks on a unique bridge in 10.203.0.0/16 (host-local dataDir in the
// temp dir), and a raw JSON-RPC client. Everything is undone at destruction.
#pragma once

#include <sys/types.h>

#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sandnet/common/jsonrpc.hpp"
#include "sandnet/common/unique_fd.hpp"
#include "support/process.hpp"

namespace sandnet::test {

// The unprivileged caller of the security tests (numeric; no passwd entry needed).
inline constexpr uid_t kTestUid = 64901;
inline constexpr uid_t kOtherUid = 64902;
// A uid no rule names, and a group whose rule grants its members the test network.
inline constexpr uid_t kGroupMemberUid = 64903;
inline constexpr gid_t kTestGroupGid = 64950;
// kTestUid's subordinate uid and gid range in the test daemon's subuid/subgid files.
inline constexpr std::uint32_t kTestSubordinateFirst = 500000;

// One client connection. Connects with the given effective uid/gid and
// supplementary groups so that SO_PEERCRED and SO_PEERGROUPS report them
// (root's are restored at once; they are the whole process's meanwhile).
class Conn {
 public:
  explicit Conn(const std::string& socket_path, uid_t uid = 0, gid_t gid = 0, std::vector<gid_t> groups = {});
  int fd() const { return fd_.get(); }

  // Sends bytes as they are (fds go with the first byte).
  void send_raw(std::string_view data, std::span<const int> fds = {});
  // The next line, or nullopt on EOF / timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = std::chrono::seconds(90));
  // True when the daemon closes the connection within timeout.
  bool wait_closed(std::chrono::milliseconds timeout);

  rpc::Response call(std::string_view method, const boost::json::object& params = {},
                     std::span<const int> fds = {});

 private:
  unique_fd fd_;
  std::string buffer_;
  std::uint64_t next_id_ = 1;
};

struct DaemonOptions {
  bool auto_teardown = true;
  std::size_t max_concurrent_setups = 4;
  std::size_t max_connections = 64;
  int idle_timeout_seconds = 3;
  // Extra plugin appended to the "failing" network's chain.
  bool with_failing_network = true;
  // maintenance: first retry of a failed teardown; periodic gc (0 = off).
  int retry_seconds = 5;
  int gc_interval_seconds = 0;
  // false: antiSpoofing.disabledNetworks lists every network of the daemon.
  bool anti_spoofing = true;
  // Connection limits written to the config only when set (defaults otherwise).
  std::optional<std::size_t> max_connections_per_uid;
  std::optional<std::size_t> max_connections_per_uid_without_rule;
  std::optional<std::size_t> root_reserved_connections;
  std::optional<int> write_timeout_seconds;
  // RLIMIT_NOFILE (soft and hard) set in the daemon's process before exec.
  std::optional<unsigned> nofile_limit;
};

class TestDaemon {
 public:
  explicit TestDaemon(DaemonOptions options = {});
  ~TestDaemon();
  TestDaemon(const TestDaemon&) = delete;
  TestDaemon& operator=(const TestDaemon&) = delete;

  void start();
  // SIGTERM (graceful) or SIGKILL; waits for the exit. Returns the exit code
  // (or 128+signal).
  int stop(bool kill9 = false);
  // SIGTERM, then waits up to timeout for the exit: its code, or nullopt when
  // the daemon was still running (it is then killed with SIGKILL and reaped).
  std::optional<int> terminate_within(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }
  // VmRSS of the running daemon, in KiB.
  long rss_kib() const;
  bool running() const { return pid_ > 0; }
  // Sends a signal to the running daemon (SIGHUP: reload).
  void signal(int signo) const;
  const std::string& config_path() const { return config_path_; }

  const std::string& socket() const { return socket_; }
  const std::string& network() const { return network_; }          // bridge + host-local
  const std::string& failing_network() const { return failing_; }  // bridge, then a failing plugin
  const std::string& slow_network() const { return slow_; }        // bridge, then a 0.5 s pause
  // bridge, then a plugin whose DEL fails while del_fails_marker() exists.
  const std::string& flaky_network() const { return flaky_; }
  // bridge, then a plugin whose ADD takes 10 s and starts a child that
  // touches late_marker() 1.5 s in (as host-local under bridge, or iptables
  // under portmap, act after their plugin).
  const std::string& late_network() const { return late_; }
  std::string late_marker() const { return root_ + "/late-acted"; }
  // bridge, then portmap (portMappings); its own host-local pool.
  const std::string& ported_network() const { return ported_; }
  // bridge with host-local on an IPv4 and an IPv6 (fd00:203:<n>::/64) range.
  const std::string& dual_stack_network() const { return dual_; }
  const std::string& bridge() const { return bridge_; }
  // The daemon's own anti-spoofing table (bridge family), deleted at the end.
  const std::string& nft_table() const { return nft_table_; }
  std::string del_fails_marker() const { return root_ + "/del-fails"; }
  const std::string& state_dir() const { return state_dir_; }
  const std::string& netns_dir() const { return netns_dir_; }
  const std::string& userns_dir() const { return userns_dir_; }
  const std::string& cache_dir() const { return cache_dir_; }
  std::string log() const;

  Conn connect(uid_t uid = 0, gid_t gid = 0, std::vector<gid_t> groups = {}) const {
    return Conn(socket_, uid, gid, std::move(groups));
  }
  // Files under ipam dataDir/<network> that are allocated IPs.
  std::vector<std::string> allocated_ips(const std::string& network) const;
  std::vector<std::string> record_files() const;
  std::vector<std::string> pin_files() const;

 private:
  void write_config();

  DaemonOptions options_;
  std::string root_;
  std::string socket_, state_dir_, netns_dir_, userns_dir_, cache_dir_, conf_dir_, ipam_dir_, log_path_, config_path_;
  std::string network_, failing_, slow_, flaky_, late_, ported_, dual_, bridge_, nft_table_;
  pid_t pid_ = -1;
};

// result.ips[*].address of a CNI 1.0 result, e.g. "10.203.1.2/24".
std::vector<std::string> result_ips(const boost::json::value& sandbox_info);

}  // namespace sandnet::test
