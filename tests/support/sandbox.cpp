#include "support/sandbox.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "sandnet/common/error.hpp"

namespace sandnet::test {
namespace {

void write_proc(pid_t pid, const char* file, const std::string& content) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  unique_fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw_errno("open " + path);
  if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
    throw_errno("write " + path);
}

}  // namespace

bool is_root() { return ::geteuid() == 0; }

Sandbox::Sandbox(const SandboxOptions& options) : new_user_ns_(options.new_user_ns) {
  int to_child[2], to_parent[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(to_parent, O_CLOEXEC) != 0) throw_errno("pipe");
  unique_fd child_r(to_child[0]), parent_w(to_child[1]), parent_r(to_parent[0]), child_w(to_parent[1]);

  pid_ = ::fork();
  if (pid_ < 0) throw_errno("fork");
  if (pid_ == 0) {
    // Child: only async-signal-safe calls from here on.
    parent_w.reset();
    parent_r.reset();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    char c = 0;
    if (options.owner_uid != 0) {
      if (::setgroups(0, nullptr) != 0 || ::setresgid(options.owner_gid, options.owner_gid, options.owner_gid) != 0 ||
          ::setresuid(options.owner_uid, options.owner_uid, options.owner_uid) != 0)
        ::_exit(10);
      // setresuid cleared "dumpable"; the parent (root) can still write our maps.
      ::prctl(PR_SET_DUMPABLE, 1);
    }
    int flags = CLONE_NEWNET;
    if (options.new_user_ns) flags |= CLONE_NEWUSER | CLONE_NEWNS;
    if (::unshare(flags) != 0) ::_exit(11);
    c = 'u';
    if (::write(child_w.get(), &c, 1) != 1) ::_exit(12);
    if (::read(child_r.get(), &c, 1) != 1 || c != 'm') ::_exit(13);
    if (options.new_user_ns) {
      if (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0) ::_exit(14);
    }
    c = 'r';
    if (::write(child_w.get(), &c, 1) != 1) ::_exit(15);
    child_w.reset();
    // Sleep until the parent closes its end (or we are killed).
    while (::read(child_r.get(), &c, 1) > 0) {
    }
    ::_exit(0);
  }

  child_r.reset();
  child_w.reset();
  auto fail = [&](const std::string& what) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    throw_error(errc::internal, "sandbox: " + what);
  };
  char c = 0;
  if (::read(parent_r.get(), &c, 1) != 1 || c != 'u') fail("child failed to unshare");
  if (options.new_user_ns) {
    std::string map = "0 " + std::to_string(options.host_id) + " " + std::to_string(options.size) + "\n";
    try {
      write_proc(pid_, "uid_map", map);
      write_proc(pid_, "gid_map", map);
    } catch (const Error& e) {
      fail(e.what());
    }
  }
  c = 'm';
  if (::write(parent_w.get(), &c, 1) != 1) fail("signal child");
  if (::read(parent_r.get(), &c, 1) != 1 || c != 'r') fail("child failed to become root in its namespace");
  pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  if (!pidfd_) fail("pidfd_open");
  keepalive_ = std::move(parent_w);
}

Sandbox::~Sandbox() { kill(); }

void Sandbox::kill() {
  if (pid_ <= 0) return;
  keepalive_.reset();
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

CommandResult Sandbox::exec(const std::vector<std::string>& argv) const {
  std::vector<std::string> full{"nsenter", "--target", std::to_string(pid_), "--net"};
  if (new_user_ns_) {
    full.push_back("--user");
    full.push_back("--mount");
  }
  full.insert(full.end(), argv.begin(), argv.end());
  return run(full);
}

}  // namespace sandnet::test
