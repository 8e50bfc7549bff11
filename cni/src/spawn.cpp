#include "spawn.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "sandnet/common/error.hpp"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace sandnet::cni::detail {
namespace {

// How the plugin is started, and why: posix_spawn cannot set
// PR_SET_PDEATHSIG, which is what keeps a plugin from acting on after the
// daemon was killed (issue 11 bug 7). fork() copies the daemon's page tables
// on every plugin start; clone(CLONE_VM | CLONE_VFORK) -- what glibc's
// posix_spawn does -- shares them and suspends the calling thread until the
// child has exec'd or exited. The child then runs on a small stack of its own
// inside our address space, so it makes raw system calls only: no libc
// function that could take a lock, touch malloc or (under ASan) shadow
// memory.
constexpr std::size_t kChildStack = 64 * 1024;
constexpr int kExitExecFailed = 127;

struct ChildArgs {
  const char* path;
  char* const* argv;
  char* const* envp;
  int fds[3];
  pid_t parent;
  // Written by the child when a step before exec fails; read by the parent
  // once clone returns (the child has exited by then: CLONE_VFORK).
  volatile int error;
};

// The kernel's struct sigaction for rt_sigaction (x86_64 and arm64 layout).
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  unsigned long mask;
};

[[noreturn]] __attribute__((no_sanitize("address", "undefined"))) void child_fail(ChildArgs* a) {
  a->error = errno != 0 ? errno : EINVAL;
  ::syscall(SYS_exit_group, kExitExecFailed);
  __builtin_unreachable();
}

// Runs in the child, in our address space and on the parent thread's TLS
// (errno included), with every signal blocked (see spawn_process).
__attribute__((no_sanitize("address", "undefined"))) int child_main(void* arg) {
  auto* a = static_cast<ChildArgs*>(arg);
  // The handler table is the child's own copy (no CLONE_SIGHAND): default
  // dispositions for everything, ignored signals included.
  const KernelSigaction dfl{SIG_DFL, 0, nullptr, 0};
  for (int sig = 1; sig < 65; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof dfl.mask);
  // Own process group: a deadline kills everything the plugin started.
  if (::syscall(SYS_setpgid, 0, 0) != 0) child_fail(a);
  // Killed with the thread that spawned us. If that thread died before the
  // prctl took effect we were reparented already and nobody would kill us:
  // do not start the plugin at all.
  if (::syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) child_fail(a);
  if (::syscall(SYS_getppid) != a->parent) ::syscall(SYS_exit_group, kExitExecFailed);
  // Pipes onto 0/1/2. Move them above 2 first so that a pipe that already is
  // 0, 1 or 2 is not overwritten before it is copied; dup3 leaves the copy
  // without O_CLOEXEC.
  int high[3];
  for (int i = 0; i < 3; ++i) {
    high[i] = static_cast<int>(::syscall(SYS_fcntl, a->fds[i], F_DUPFD_CLOEXEC, 3));
    if (high[i] < 0) child_fail(a);
  }
  for (int i = 0; i < 3; ++i)
    if (::syscall(SYS_dup3, high[i], i, 0) < 0) child_fail(a);
  // Every fd of ours is O_CLOEXEC already; this also covers one a library
  // opened without it. Older kernels (ENOSYS/EINVAL): rely on O_CLOEXEC.
  ::syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
  const unsigned long empty_mask = 0;
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty_mask, nullptr, sizeof empty_mask);
  ::syscall(SYS_execve, a->path, a->argv, a->envp);
  child_fail(a);
}

// Blocks every signal of the calling thread for its lifetime: a handler
// must never run in the child, which shares our memory.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old_);
  }
  ~AllSignalsBlocked() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

 private:
  sigset_t old_;
};

class ChildStack {
 public:
  ChildStack() {
    base_ = ::mmap(nullptr, kChildStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (base_ == MAP_FAILED) throw_errno("spawn: child stack");
  }
  ~ChildStack() { ::munmap(base_, kChildStack); }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  void* top() const { return static_cast<char*>(base_) + kChildStack; }

 private:
  void* base_;
};

}  // namespace

pid_t spawn_process(const std::string& path, std::vector<std::string> env, SpawnFds fds) {
  // Everything the child reads is built before clone.
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string arg0 = path;
  char* argv[] = {arg0.data(), nullptr};

  ChildArgs args{path.c_str(), argv, envp.data(), {fds.stdin_fd, fds.stdout_fd, fds.stderr_fd},
                 ::getpid(), 0};
  ChildStack stack;
  pid_t pid;
  int clone_errno = 0;
  {
    AllSignalsBlocked blocked;
    pid = ::clone(child_main, stack.top(), CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
    if (pid < 0) clone_errno = errno;
  }
  if (pid < 0) throw_errno(clone_errno, "spawn " + path);
  if (const int err = args.error; err != 0) {
    // The child has released our memory and is exiting: reaping it takes
    // no longer than its exit.
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    throw_errno(err, "exec " + path);
  }
  return pid;
}

}  // namespace sandnet::cni::detail
