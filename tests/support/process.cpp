#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "sandnet/common/error.hpp"
#include "sandnet/common/unique_fd.hpp"

extern char** environ;

namespace sandnet::test {

CommandResult run(const std::vector<std::string>& argv, const std::string& stdin_data,
                  std::chrono::seconds timeout, const std::vector<std::string>& extra_env) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) throw_errno("pipe");
  unique_fd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // extra_env replaces a variable of the same name (a duplicate would lose:
  // getenv finds the first).
  auto name_of = [](std::string_view e) { return e.substr(0, e.find('=')); };
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    bool replaced = false;
    for (const auto& x : extra_env) replaced = replaced || name_of(x) == name_of(*e);
    if (!replaced) env_store.emplace_back(*e);
  }
  for (const auto& e : extra_env) env_store.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw_errno(rc, "spawn " + argv[0]);
  in_r.reset();
  out_w.reset();
  err_w.reset();

  CommandResult result;
  size_t written = 0;
  if (stdin_data.empty()) in_w.reset();
  fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  while (out_r || err_r) {
    std::vector<pollfd> fds;
    if (out_r) fds.push_back({out_r.get(), POLLIN, 0});
    if (err_r) fds.push_back({err_r.get(), POLLIN, 0});
    if (in_w) fds.push_back({in_w.get(), POLLOUT, 0});
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    for (auto& p : fds) {
      if (!p.revents) continue;
      if (in_w && p.fd == in_w.get()) {
        ssize_t w = ::write(in_w.get(), stdin_data.data() + written, stdin_data.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 || written == stdin_data.size()) in_w.reset();
        continue;
      }
      char buf[8192];
      ssize_t r = ::read(p.fd, buf, sizeof buf);
      bool is_out = out_r && p.fd == out_r.get();
      if (r > 0) {
        (is_out ? result.out : result.err).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        (is_out ? out_r : err_r).reset();
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = (!timed_out && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  return result;
}

CommandResult sh(const std::string& script) { return run({"sh", "-c", script}); }

std::vector<std::string> as_user(uid_t uid, std::vector<std::string> argv) {
  if (uid == 0) return argv;
  const std::string id = std::to_string(uid);
  argv.insert(argv.begin(), {"setpriv", "--reuid", id, "--regid", id, "--clear-groups"});
  return argv;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sandnet-test-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw_errno("mkdtemp");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<unsigned> counter{0};
  return prefix + std::to_string(::getpid() % 100000) + "x" + std::to_string(counter++);
}

}  // namespace sandnet::test
