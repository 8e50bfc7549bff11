#include "daemon_bench_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <iostream>
#include <mutex>
#include <thread>

#include "sandnet/common/error.hpp"

namespace sandnet::bench {
namespace {

namespace json = boost::json;

void write_proc(pid_t pid, const char* file, const std::string& content) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  unique_fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw_errno("open " + path);
  if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
    throw_errno("write " + path);
}

struct PluginOutput {
  int exit_code = -1;
  std::string out;
};

// posix_spawn with a fresh environment; stdin is small enough for the pipe
// buffer (a conf with a prevResult is a few KiB), so write then read.
PluginOutput exec_plugin(const std::string& path, const std::vector<std::string>& env, const std::string& input) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) throw_errno("pipe");
  unique_fd in_r(in[0]), in_w(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) throw_errno("pipe");
  unique_fd out_r(out[0]), out_w(out[1]);
  unique_fd devnull(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  if (!devnull) throw_errno("open /dev/null");

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, devnull.get(), 2);
  std::vector<char*> argv{const_cast<char*>(path.c_str()), nullptr};
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw_errno(rc, "spawn " + path);
  in_r.reset();
  out_w.reset();

  size_t written = 0;
  while (written < input.size()) {
    ssize_t w = ::write(in_w.get(), input.data() + written, input.size() - written);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) break;  // the plugin closed stdin early; its exit status tells why
    written += static_cast<size_t>(w);
  }
  in_w.reset();
  PluginOutput result;
  char buf[16384];
  for (;;) {
    ssize_t r = ::read(out_r.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    result.out.append(buf, static_cast<size_t>(r));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string find_plugin(const Chain& chain, const std::string& type) {
  for (const auto& dir : chain.plugin_dirs) {
    std::string path = dir + "/" + type;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  throw_error(errc::not_found, "plugin " + type + " not found in CNI_PATH");
}

std::string join_dirs(const std::vector<std::string>& dirs) {
  std::string s;
  for (const auto& d : dirs) s += (s.empty() ? "" : ":") + d;
  return s;
}

json::value invoke(const Chain& chain, const json::object& plugin, const char* command, const std::string& cid,
                   const std::string& netns, const std::string& ifname, const json::value* prev) {
  const std::string type(plugin.at("type").as_string());
  json::object conf = plugin;
  conf["name"] = chain.name;
  conf["cniVersion"] = chain.cni_version;
  if (prev) conf["prevResult"] = *prev;
  std::vector<std::string> env{std::string("CNI_COMMAND=") + command, "CNI_CONTAINERID=" + cid,
                               "CNI_NETNS=" + netns,                 "CNI_IFNAME=" + ifname,
                               "CNI_ARGS=",                          "CNI_PATH=" + join_dirs(chain.plugin_dirs),
                               "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  PluginOutput out = exec_plugin(find_plugin(chain, type), env, json::serialize(conf));
  if (out.exit_code != 0) {
    throw_error(errc::plugin_failed, std::string(command) + " " + type + ": exit " +
                                         std::to_string(out.exit_code) + ": " + out.out);
  }
  if (out.out.empty()) return nullptr;
  try {
    return json::parse(out.out);
  } catch (const std::exception& e) {
    throw_error(errc::plugin_failed, std::string(command) + " " + type + ": bad result: " + e.what());
  }
}

}  // namespace

LightSandbox::LightSandbox(std::uint32_t host_id) {
  // clone without a new stack behaves like fork, but the child is born in
  // the new namespaces: no handshake is needed before writing its maps.
  long rc = ::syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNET | SIGCHLD, nullptr, nullptr, nullptr, 0);
  if (rc < 0) throw_errno("clone sandbox");
  if (rc == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;) ::pause();
  }
  pid_ = static_cast<pid_t>(rc);
  try {
    const std::string map = "0 " + std::to_string(host_id) + " 65536\n";
    write_proc(pid_, "uid_map", map);
    write_proc(pid_, "gid_map", map);
    pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
    if (!pidfd_) throw_errno("pidfd_open sandbox");
  } catch (...) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    throw;
  }
}

LightSandbox::LightSandbox(LightSandbox&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), pidfd_(std::move(other.pidfd_)) {}

LightSandbox::~LightSandbox() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

json::value floor_add(const Chain& chain, const std::string& container_id, const std::string& netns,
                      const std::string& ifname) {
  json::value result;
  bool have_result = false;
  for (const auto& plugin : chain.plugins) {
    json::value next = invoke(chain, plugin, "ADD", container_id, netns, ifname, have_result ? &result : nullptr);
    if (!next.is_null()) {
      result = std::move(next);
      have_result = true;
    }
  }
  return result;
}

void floor_del(const Chain& chain, const std::string& container_id, const std::string& netns,
               const std::string& ifname, const json::value& add_result) {
  // DEL keeps going after a failure (as a runtime must) and reports the first.
  std::optional<Error> first;
  for (auto it = chain.plugins.rbegin(); it != chain.plugins.rend(); ++it) {
    try {
      invoke(chain, *it, "DEL", container_id, netns, ifname, add_result.is_null() ? nullptr : &add_result);
    } catch (const Error& e) {
      if (!first) first = e;
    }
  }
  if (first) throw *first;
}

Stats summarize(std::vector<Millis> samples, std::size_t failures, std::chrono::nanoseconds wall) {
  Stats s;
  s.count = samples.size();
  s.failures = failures;
  if (!samples.empty()) {
    std::sort(samples.begin(), samples.end());
    auto at = [&](double q) {
      auto idx = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size()))) ;
      return samples[std::min(samples.size() - 1, idx == 0 ? 0 : idx - 1)];
    };
    s.median = at(0.5);
    s.p99 = at(0.99);
    s.max = samples.back();
  }
  double seconds = std::chrono::duration<double>(wall).count();
  if (seconds > 0) s.per_second = static_cast<double>(s.count) / seconds;
  return s;
}

std::vector<RunResult> run_interleaved(std::size_t n, std::size_t kinds, unsigned clients,
                                       const std::function<void(unsigned, std::size_t, std::size_t)>& op) {
  std::vector<RunResult> results(kinds);
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::atomic<std::size_t> reported{0};
  clients = std::max(1u, clients);
  auto worker = [&](unsigned worker_index) {
    std::vector<RunResult> mine(kinds);
    for (std::size_t i = next++; i < n; i = next++) {
      for (std::size_t j = 0; j < kinds; ++j) {
        const std::size_t kind = (i + j) % kinds;
        auto start = std::chrono::steady_clock::now();
        try {
          op(worker_index, kind, i);
          auto took = std::chrono::steady_clock::now() - start;
          mine[kind].samples.push_back(std::chrono::duration<double, std::milli>(took).count());
          mine[kind].wall += took;
        } catch (const std::exception& e) {
          ++mine[kind].failures;
          if (reported++ < 5) {
            std::lock_guard lock(mu);
            std::cerr << "  failure #" << i << ": " << e.what() << '\n';
          }
        }
      }
    }
    std::lock_guard lock(mu);
    for (std::size_t k = 0; k < kinds; ++k) {
      results[k].samples.insert(results[k].samples.end(), mine[k].samples.begin(), mine[k].samples.end());
      results[k].failures += mine[k].failures;
      results[k].wall += mine[k].wall;
    }
  };
  std::vector<std::thread> threads;
  for (unsigned c = 0; c < clients; ++c) threads.emplace_back(worker, c);
  for (auto& t : threads) t.join();
  for (auto& r : results) r.wall /= clients;
  return results;
}

}  // namespace sandnet::bench
