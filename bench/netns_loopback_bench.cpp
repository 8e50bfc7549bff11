// Native loopback bring-up (libmnl, netlink) versus exec'ing the `loopback`
// CNI plugin, against sandboxes made like a runtime makes them (a child in a
// new user + network namespace). Each sample sets `lo` down first (untimed),
// then times one bring-up.
//
//   bench_loopback [iterations=200] [plugin=/usr/lib/cni/loopback]
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "sandnet/common/error.hpp"
#include "sandnet/common/unique_fd.hpp"
#include "sandnet/netns/handle.hpp"
#include "sandnet/netns/loopback.hpp"
#include "sandnet/netns/pin.hpp"

extern char** environ;

namespace {

using sandnet::unique_fd;
using Clock = std::chrono::steady_clock;

// A child in new user + network namespaces that waits until we close the pipe.
class BenchSandbox {
 public:
  BenchSandbox() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) sandnet::throw_errno("pipe");
    unique_fd read_end(fds[0]), write_end(fds[1]);
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) sandnet::throw_errno("pipe");
    unique_fd ready_r(ready[0]), ready_w(ready[1]);
    pid_ = ::fork();
    if (pid_ < 0) sandnet::throw_errno("fork");
    if (pid_ == 0) {
      write_end.reset();
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) ::_exit(1);
      char c = 'r';
      if (::write(ready_w.get(), &c, 1) != 1) ::_exit(2);
      while (::read(read_end.get(), &c, 1) > 0) {
      }
      ::_exit(0);
    }
    ready_w.reset();
    char c = 0;
    if (::read(ready_r.get(), &c, 1) != 1) sandnet::throw_error(sandnet::errc::internal, "sandbox child failed");
    keepalive_ = std::move(write_end);
  }
  ~BenchSandbox() {
    keepalive_.reset();
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  unique_fd keepalive_;
};

// Runs the plugin with CNI env and config on stdin; returns its exit status.
int run_plugin(const std::string& plugin, const std::string& netns, const std::string& config) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) sandnet::throw_errno("pipe");
  unique_fd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  std::vector<std::string> env{"CNI_COMMAND=ADD", "CNI_CONTAINERID=snns-bench", "CNI_NETNS=" + netns,
                               "CNI_IFNAME=lo", "CNI_PATH=/usr/lib/cni", "CNI_ARGS=", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string argv0 = plugin;
  char* argv[] = {argv0.data(), nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, plugin.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) sandnet::throw_errno(rc, "spawn " + plugin);
  in_r.reset();
  out_w.reset();
  if (::write(in_w.get(), config.data(), config.size()) != static_cast<ssize_t>(config.size()))
    sandnet::throw_errno("write plugin stdin");
  in_w.reset();
  char buf[4096];
  while (::read(out_r.get(), buf, sizeof buf) > 0) {
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void report(const char* what, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<std::size_t>(q * us.size()))]; };
  std::printf("%-28s n=%zu  median %8.1f us  p99 %8.1f us  min %8.1f us\n", what, us.size(), at(0.5), at(0.99),
              us.front());
}

double micros_since(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
  const std::string plugin = argc > 2 ? argv[2] : "/usr/lib/cni/loopback";
  const std::string config = R"({"cniVersion":"1.0.0","name":"snns-bench","type":"loopback"})";
  char dir_template[] = "/tmp/snns-bench-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::filesystem::path pin_dir = std::filesystem::path(dir_template) / "pins";
  sandnet::netns::ensure_shared_pin_dir(pin_dir);
  int exit_code = 0;
  try {
    BenchSandbox sandbox;
    auto handle = sandnet::netns::NetnsHandle::from_pid(sandbox.pid());
    auto pin_path = sandnet::netns::pin(handle, pin_dir, "snns-bench");
    std::vector<double> native, exec;
    for (int i = 0; i < iterations; ++i) {
      sandnet::netns::bring_down_loopback(handle.fd());
      auto start = Clock::now();
      sandnet::netns::bring_up_loopback(handle.fd());
      native.push_back(micros_since(start));

      sandnet::netns::bring_down_loopback(handle.fd());
      start = Clock::now();
      int rc = run_plugin(plugin, pin_path.string(), config);
      exec.push_back(micros_since(start));
      if (rc != 0) sandnet::throw_error(sandnet::errc::plugin_failed, plugin + " exited with " + std::to_string(rc));
    }
    report("native bring_up_loopback", native);
    report(("exec " + plugin + " ADD").c_str(), exec);
  } catch (const sandnet::Error& e) {
    std::fprintf(stderr, "bench_loopback: %s\n", e.what());
    exit_code = 1;
  }
  try {
    sandnet::netns::unpin(pin_dir, "snns-bench");
  } catch (const sandnet::Error& e) {
    std::fprintf(stderr, "bench_loopback: %s\n", e.what());
    exit_code = 1;
  }
  ::umount2(pin_dir.c_str(), MNT_DETACH);  // ensure_shared_pin_dir bound it onto itself
  std::error_code ec;
  std::filesystem::remove_all(dir_template, ec);
  return exit_code;
}
