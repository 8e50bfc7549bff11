#include "sandnet/cni/exec.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "sandnet/cni/result.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/unique_fd.hpp"
#include "spawn.hpp"

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace sandnet::cni {
namespace {

// Plugins find their helpers (iptables, ip, ...) here, not in our PATH.
constexpr std::string_view kPluginPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Output beyond this is dropped: a runaway plugin must not eat our memory.
constexpr std::size_t kMaxOutput = 16 * 1024 * 1024;
constexpr int kTextBusyRetries = 5;
// waitid's idtype for a pidfd (linux 5.4); named here because older glibc
// headers lack P_PIDFD.
constexpr int kIdTypePidfd = 3;
// Longest pause between two reap attempts of a child that is exiting.
constexpr std::chrono::microseconds kReapRetryMax{10000};

struct Pipe {
  unique_fd read_end, write_end;
};

Pipe make_pipe(const char* what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno(std::string("pipe for ") + what);
  return {unique_fd(fds[0]), unique_fd(fds[1])};
}

struct Spawned {
  pid_t pid = -1;
  unique_fd pidfd, stdin_w, stdout_r, stderr_r;
};

// Kills the plugin's process group and reaps it unless the plugin was reaped
// normally: covers a timeout, a cancelled caller and an exception.
class ChildGuard {
 public:
  explicit ChildGuard(pid_t pid) : pid_(pid) {}
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;
  ~ChildGuard() {
    if (reaped_) return;
    ::kill(-pid_, SIGKILL);
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != 0) return;  // reaped (or not ours any more)
    // Still dying: SIGKILL lands only once the plugin leaves an uninterruptible
    // sleep, which may take long. Never wait for that on the caller's (event
    // loop) thread: reap it from a thread of its own.
    std::thread([pid = pid_] {
      int st = 0;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
    }).detach();
  }
  void kill_group() const { ::kill(-pid_, SIGKILL); }
  void mark_reaped() { reaped_ = true; }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

Spawned spawn_plugin(const PluginInvocation& call) {
  Pipe in = make_pipe("stdin"), out = make_pipe("stdout"), err = make_pipe("stderr");
  const std::string path = call.plugin.string();
  const pid_t pid = detail::spawn_process(
      path, plugin_environment(call),
      {in.read_end.get(), out.write_end.get(), err.write_end.get()});

  Spawned child;
  child.pid = pid;
  // Debian 12's <sys/pidfd.h> lacks extern "C": call the syscall directly.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    const int saved = errno;
    ChildGuard cleanup(pid);
    throw_errno(saved, "pidfd_open for " + path);
  }
  child.pidfd.reset(pidfd);  // pidfd_open sets O_CLOEXEC itself
  child.stdin_w = std::move(in.write_end);
  child.stdout_r = std::move(out.read_end);
  child.stderr_r = std::move(err.read_end);
  return child;
}

// The outcome of reaping the plugin through its pidfd.
enum class Reap { exited, running, lost };

// waitid(P_PIDFD, WEXITED | WNOHANG): never blocks. "running" also right
// after the pidfd became readable: this kernel (6.18) wakes pidfd pollers
// early in the exit, before the child can be reaped (seen as ~3 % of fast
// plugins under load, issue 11 bug 5). "lost": someone else reaped it
// (ECHILD), so its exit status is unknown.
Reap try_reap(int pidfd, int& status) {
  siginfo_t info{};
  for (;;) {
    if (::waitid(static_cast<idtype_t>(kIdTypePidfd), static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG) == 0)
      break;
    if (errno == EINTR) continue;
    return Reap::lost;
  }
  if (info.si_pid == 0) return Reap::running;
  status = info.si_code == CLD_EXITED ? W_EXITCODE(info.si_status, 0) : info.si_status & 0x7f;
  return Reap::exited;
}

asio::awaitable<void> read_all(asio::posix::stream_descriptor& stream, std::string& into) {
  std::array<char, 8192> buf;
  for (;;) {
    boost::system::error_code ec;
    const std::size_t n = co_await stream.async_read_some(
        asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (into.size() < kMaxOutput) into.append(buf.data(), std::min(n, kMaxOutput - into.size()));
    if (ec) co_return;  // EOF, or cancelled at the deadline
  }
}

asio::awaitable<void> write_all(asio::posix::stream_descriptor& stream, const std::string& data) {
  boost::system::error_code ec;
  // A plugin that does not read its stdin (EPIPE) is not our failure.
  co_await asio::async_write(stream, asio::buffer(data), asio::redirect_error(asio::use_awaitable, ec));
  stream.close(ec);
}

std::string trimmed(std::string s, std::size_t max) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

// One attempt: spawn, feed stdin, collect output, wait for exit or deadline.
asio::awaitable<std::string> run_once(const PluginInvocation& call, const std::string& label) {
  auto ex = co_await asio::this_coro::executor;
  Spawned child = spawn_plugin(call);
  ChildGuard guard(child.pid);

  asio::posix::stream_descriptor in(ex, child.stdin_w.release());
  asio::posix::stream_descriptor out(ex, child.stdout_r.release());
  asio::posix::stream_descriptor err(ex, child.stderr_r.release());
  asio::posix::stream_descriptor pidfd(ex, child.pidfd.release());
  std::string out_data, err_data;
  int status = -1;

  bool status_lost = false;
  auto wait_exit = [&]() -> asio::awaitable<void> {
    // Readable pidfd first; then reap, retrying briefly while the child is
    // still on its way to becoming a zombie (see try_reap). Only the
    // deadline below ends this wait early.
    boost::system::error_code ec;
    co_await pidfd.async_wait(asio::posix::descriptor_base::wait_read,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    asio::steady_timer retry(ex);
    for (auto pause = std::chrono::microseconds(100);; pause = std::min(pause * 2, kReapRetryMax)) {
      int st = 0;
      switch (try_reap(pidfd.native_handle(), st)) {
        case Reap::exited:
          status = st;
          guard.mark_reaped();
          co_return;
        case Reap::lost:
          // Reaped elsewhere: its PID may be reused, so never signal it.
          status_lost = true;
          guard.mark_reaped();
          co_return;
        case Reap::running:
          break;
      }
      retry.expires_after(pause);
      co_await retry.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
  };
  // The input once the caller's gate opens. A gate that fails kills the
  // plugin and is rethrown below, once pipes and pidfd have finished (an
  // exception inside the group below would wait for the deadline).
  std::exception_ptr gate_error;
  auto feed = [&]() -> asio::awaitable<void> {
    if (call.before_input) {
      try {
        auto wait = call.before_input();  // named: g++ 12 destroys co_await temporaries twice
        co_await std::move(wait);
      } catch (...) {
        gate_error = std::current_exception();
      }
      if (gate_error) {
        guard.kill_group();
        boost::system::error_code ignored;
        in.close(ignored);
        co_return;
      }
    }
    co_await write_all(in, call.stdin_data);
  };
  auto deadline = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(ex, call.timeout);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  };

  auto outcome = co_await ((feed() && read_all(out, out_data) &&
                            read_all(err, err_data) && wait_exit()) ||
                           deadline());
  if (status_lost)
    throw_error(errc::plugin_failed, label + ": exit status lost (the process was reaped by someone else)");
  if (outcome.index() == 1 || status == -1) {
    guard.kill_group();
    throw_error(errc::timeout, label + ": no answer within " + std::to_string(call.timeout.count()) +
                                   " ms (process group killed)");
  }
  if (gate_error) std::rethrow_exception(gate_error);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) co_return out_data;

  const std::string how = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                            : "killed by signal " + std::to_string(WTERMSIG(status));
  std::string context = label;
  const std::string stderr_text = trimmed(err_data, 4096);
  if (!stderr_text.empty()) context += " (stderr: " + stderr_text + ")";
  if (auto info = parse_error_object(out_data)) {
    Error e(errc::plugin_failed, context);
    e.set_cni(std::move(*info));
    throw e;
  }
  const std::string stdout_text = trimmed(out_data, 4096);
  throw_error(errc::plugin_failed,
              context + ": " + how + (stdout_text.empty() ? "" : ", output: " + stdout_text));
}

}  // namespace

std::filesystem::path find_plugin(std::string_view type,
                                  const std::vector<std::filesystem::path>& dirs) {
  if (type.empty() || type == "." || type == ".." || type.find('/') != std::string_view::npos)
    throw_error(errc::invalid_argument, "invalid plugin type \"" + std::string(type) + "\"");
  std::string searched;
  for (const auto& dir : dirs) {
    const auto candidate = dir / type;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    searched += (searched.empty() ? "" : ":") + dir.string();
  }
  throw_error(errc::not_found,
              "plugin \"" + std::string(type) + "\" not found in " + (searched.empty() ? "(no dirs)" : searched));
}

std::vector<std::string> plugin_environment(const PluginInvocation& call) {
  return {
      "CNI_COMMAND=" + call.command,     "CNI_CONTAINERID=" + call.container_id,
      "CNI_NETNS=" + call.netns,         "CNI_IFNAME=" + call.ifname,
      "CNI_ARGS=" + call.cni_args,       "CNI_PATH=" + call.cni_path,
      "PATH=" + std::string(kPluginPath),
  };
}

asio::awaitable<std::string> exec_plugin(PluginInvocation call) {
  const std::string label = call.plugin.filename().string() + " " + call.command;
  auto ex = co_await asio::this_coro::executor;
  for (int attempt = 0;; ++attempt) {
    try {
      co_return co_await run_once(call, label);
    } catch (const Error& e) {
      // A plugin binary being replaced right now: wait a moment and retry.
      if (e.code() != std::errc::text_file_busy || attempt >= kTextBusyRetries) throw;
    }
    asio::steady_timer backoff(ex, std::chrono::milliseconds(50 << attempt));
    co_await backoff.async_wait(asio::use_awaitable);
  }
}

}  // namespace sandnet::cni
