// Pieces of the daemon benchmark that do not talk to the daemon: light
// userns sandboxes by the thousand, the "floor" (CNI plugins exec'd directly
// by a minimal loop), and timing statistics.
#pragma once

#include <sys/types.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "sandnet/common/unique_fd.hpp"

namespace sandnet::bench {

// A sleeping child in new user + network namespaces (0 -> host_id, size
// 65536), as runc makes a pod sandbox. Lighter than the test Sandbox: one
// clone(), no pipes; the child dies with the benchmark (PDEATHSIG) or on
// SIGKILL from the destructor.
class LightSandbox {
 public:
  explicit LightSandbox(std::uint32_t host_id);
  ~LightSandbox();
  LightSandbox(LightSandbox&& other) noexcept;
  LightSandbox& operator=(LightSandbox&&) = delete;
  LightSandbox(const LightSandbox&) = delete;

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  std::string netns_path() const { return "/proc/" + std::to_string(pid_) + "/ns/net"; }

 private:
  pid_t pid_ = -1;
  unique_fd pidfd_;
};

// Raises RLIMIT_NOFILE to its hard limit (1000 sandboxes need 1000 pidfds).
void raise_fd_limit();

// A CNI network list (conflist) as the floor runs it.
struct Chain {
  std::string name;
  std::string cni_version;
  std::vector<boost::json::object> plugins;
  std::vector<std::string> plugin_dirs;  // CNI_PATH, searched in order
};

// The floor: ADD each plugin in order with prevResult chaining, DEL in
// reverse order with the ADD result; nothing else (no pin, no cache, no
// state). Throws sandnet::Error naming the plugin that failed.
boost::json::value floor_add(const Chain& chain, const std::string& container_id, const std::string& netns,
                             const std::string& ifname);
void floor_del(const Chain& chain, const std::string& container_id, const std::string& netns,
               const std::string& ifname, const boost::json::value& add_result);

using Millis = double;

struct Stats {
  std::size_t count = 0;
  std::size_t failures = 0;
  Millis median = 0, p99 = 0, max = 0;
  double per_second = 0;  // operations per wall-clock second
};

Stats summarize(std::vector<Millis> samples, std::size_t failures, std::chrono::nanoseconds wall);

struct RunResult {
  std::vector<Millis> samples;
  std::size_t failures = 0;
  // For run_interleaved: the kind's own time, summed over its calls and
  // divided by the clients (what it would take alone at that concurrency).
  std::chrono::nanoseconds wall{};
};

// Runs, for each i in [0, n) on `clients` threads (each takes the next i),
// op(worker, kind, i) for every kind in [0, kinds), starting at kind i % kinds
// so that each goes first equally often: kinds measured in lockstep share
// whatever the machine does meanwhile. worker is the thread index in
// [0, clients), e.g. to pick that thread's own connection. One RunResult per
// kind; a throwing call counts as a failure (the first few go to stderr).
std::vector<RunResult> run_interleaved(std::size_t n, std::size_t kinds, unsigned clients,
                                       const std::function<void(unsigned, std::size_t, std::size_t)>& op);

}  // namespace sandnet::bench
