#include "sandnet/netns/create.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include "in_netns.hpp"
#include "sandnet/common/error.hpp"

namespace sandnet::netns {
namespace {

// What the helper reports, one message per step: the step's letter and 0 or
// the errno that stopped it.
struct StepReport {
  char step = 0;
  int error = 0;
};

constexpr char kUserns = 'u';   // helper: its user namespace exists
constexpr char kMapsSet = 'm';  // us: the maps are written
constexpr char kNetns = 'n';    // helper: its network namespace exists
constexpr char kCredentials = 'c';

// The helper never waits longer than this for us (nor we for it): every step
// is a syscall or two.
constexpr int kStepTimeoutMs = 10'000;

// Runs in the forked child of a multi-threaded process: syscalls only, no
// allocation, no locks.
[[noreturn]] void helper_main(int sock, pid_t parent, uid_t uid, gid_t gid) {
  auto report = [sock](char step, int error) {
    StepReport r{step, error};
    (void)!::send(sock, &r, sizeof r, MSG_NOSIGNAL);
  };
  auto fail = [&](char step) {
    report(step, errno);
    ::_exit(1);
  };
  if (uid != 0 || gid != 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 || ::setresuid(uid, uid, uid) != 0)
      fail(kCredentials);
  }
  // After the credential change, which clears it: the helper must not outlive
  // the thread that forked it.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) fail(kCredentials);
  if (::unshare(CLONE_NEWUSER) != 0) fail(kUserns);
  report(kUserns, 0);
  char go = 0;
  pollfd p{sock, POLLIN, 0};
  if (::poll(&p, 1, kStepTimeoutMs) != 1 || ::recv(sock, &go, 1, 0) != 1 || go != kMapsSet) ::_exit(1);
  if (::unshare(CLONE_NEWNET) != 0) fail(kNetns);
  report(kNetns, 0);
  // Wait to be killed (or for our end to close).
  ::poll(&p, 1, kStepTimeoutMs);
  ::_exit(0);
}

std::string_view step_name(char step) {
  switch (step) {
    case kCredentials: return "take the caller's uid and gid";
    case kUserns: return "unshare a user namespace";
    case kNetns: return "unshare a network namespace";
    default: return "run";
  }
}

void write_map(pid_t pid, const char* file, const std::string& text) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  unique_fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw_errno("open " + path);
  // The kernel takes a map in one write only.
  ssize_t n = ::write(fd.get(), text.data(), text.size());
  if (n < 0) {
    if (errno == EINVAL || errno == EPERM)
      throw_errno("write " + path + " (the kernel refused the map: overlapping or unmapped ranges?)");
    throw_errno("write " + path);
  }
  if (static_cast<std::size_t>(n) != text.size()) throw_error(errc::internal, "write " + path + ": short write");
}

unique_fd open_ns(pid_t pid, const char* kind) {
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/" + kind;
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open " + path);
  return fd;
}

}  // namespace

std::string format_id_map(const std::vector<IdMapEntry>& map) {
  std::string text;
  for (const auto& e : map)
    text += std::to_string(e.inside) + " " + std::to_string(e.outside) + " " + std::to_string(e.count) + "\n";
  return text;
}

CreatedNamespaces create_user_and_network_namespaces(const std::vector<IdMapEntry>& uid_map,
                                                     const std::vector<IdMapEntry>& gid_map, uid_t owner_uid,
                                                     gid_t owner_gid) {
  const std::string what = "create namespaces";
  if (uid_map.empty() || gid_map.empty())
    throw_error(errc::invalid_argument, what + ": a user namespace needs a uid map and a gid map");
  // Formatted before the fork: the child must not allocate.
  const std::string uid_text = format_id_map(uid_map);
  const std::string gid_text = format_id_map(gid_map);

  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) throw_errno(what + ": socketpair");
  unique_fd ours(pair[0]), theirs(pair[1]);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno(what + ": fork");
  if (pid == 0) {
    ::close(pair[0]);
    helper_main(pair[1], parent, owner_uid, owner_gid);
  }
  theirs.reset();
  // Whatever happens below, the helper is gone when we return.
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  } reaper{pid};

  auto await_step = [&](char expected) {
    pollfd p{ours.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, kStepTimeoutMs);
    if (ready < 0) throw_errno(what + ": poll");
    if (ready == 0) throw_error(errc::timeout, what + ": the helper process did not answer");
    StepReport r;
    ssize_t n = ::recv(ours.get(), &r, sizeof r, 0);
    if (n != static_cast<ssize_t>(sizeof r))
      throw_error(errc::internal, what + ": the helper process exited before it could " +
                                      std::string(step_name(expected)));
    if (r.error != 0) throw_errno(r.error, what + ": " + std::string(step_name(r.step)));
    if (r.step != expected) throw_error(errc::internal, what + ": the helper process is out of step");
  };

  await_step(kUserns);
  with_context(what, [&] {
    write_map(pid, "uid_map", uid_text);
    write_map(pid, "gid_map", gid_text);
  });
  const char go = kMapsSet;
  if (::send(ours.get(), &go, 1, MSG_NOSIGNAL) != 1) throw_errno(what + ": tell the helper process");
  await_step(kNetns);
  CreatedNamespaces created;
  with_context(what, [&] {
    created.userns = open_ns(pid, "user");
    created.netns = open_ns(pid, "net");
    detail::check_is_userns(created.userns.get(), "new user namespace");
    detail::check_is_netns(created.netns.get(), "new network namespace");
  });
  return created;
}

}  // namespace sandnet::netns
