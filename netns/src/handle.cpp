#include "sandnet/netns/handle.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <optional>
#include <string>

#include "in_netns.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/netns/idmap.hpp"

// Debian 12's headers (linux 6.1) predate the pidfs ioctls.
#ifndef PIDFD_GET_NET_NAMESPACE
#define PIDFD_GET_NET_NAMESPACE _IO(0xFF, 4)
#endif

namespace sandnet::netns {
namespace {

struct NsId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const NsId&) const = default;
};

NsId id_of_fd(int fd, const std::string& what) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_errno(what + ": fstat");
  return {st.st_dev, st.st_ino};
}

NsId id_of_path(const char* path) {
  struct stat st {};
  if (::stat(path, &st) != 0) throw_errno(std::string("stat ") + path);
  return {st.st_dev, st.st_ino};
}

// The initial namespaces' fixed nsfs inode numbers (uapi linux/nsfs.h,
// enum init_ns_ino; the user one is fixed since 3.8, the net one on recent
// kernels such as 6.18). Dynamic inode numbers start at 0xF0000000, so they
// never collide with these.
constexpr ino_t kInitUserNsIno = 0xEFFFFFFDU;
constexpr ino_t kInitNetNsIno = 0xEFFFFFF9U;

// The host's namespace of a type ("net", "user"): /proc/1/ns/<type>. Where
// /proc/1 may not be inspected (a hardened PID 1 gives EACCES even to root),
// fall back to the fixed inode of the initial namespace.
NsId host_ns_id(const std::string& type, ino_t fixed_ino) {
  const std::string path = "/proc/1/ns/" + type;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return {st.st_dev, st.st_ino};
  if (errno != EACCES && errno != EPERM) throw_errno("stat " + path);
  // Same nsfs device as our own namespace files.
  NsId self = id_of_path(("/proc/self/ns/" + type).c_str());
  return {self.dev, fixed_ino};
}

std::optional<NsId> id_of_at(int dirfd, const char* path) {
  struct stat st {};
  if (::fstatat(dirfd, path, &st, 0) != 0) return std::nullopt;
  return NsId{st.st_dev, st.st_ino};
}

// 0 if the process behind pidfd is alive, else the errno (ESRCH when gone).
int pidfd_signal_zero(int pidfd) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0) return 0;
  return errno;
}

void require_alive(int pidfd, const std::string& what) {
  int err = pidfd_signal_zero(pidfd);
  if (err == ESRCH) throw_error(errc::process_gone, what + ": the process has exited");
  if (err != 0) throw_errno(err, what + ": pidfd_send_signal");
}

// The PID behind a pidfd, from /proc/self/fdinfo ("Pid:" line; -1 once the
// process has exited). Throws invalid_argument when fd is not a pidfd.
pid_t pid_of_pidfd(int pidfd) {
  std::string path = "/proc/self/fdinfo/" + std::to_string(pidfd);
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open " + path);
  std::string text;
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read " + path);
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  std::size_t at = text.find("\nPid:");
  if (at == std::string::npos) throw_error(errc::invalid_argument, "fd " + std::to_string(pidfd) + " is not a pidfd");
  std::size_t begin = text.find_first_not_of(" \t", at + 5);
  std::size_t end = text.find('\n', begin);
  std::string_view field(text.data() + begin, (end == std::string::npos ? text.size() : end) - begin);
  int pid = 0;
  auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), pid);
  if (ec != std::errc()) throw_error(errc::internal, "parse Pid in " + path);
  return pid;
}

std::string read_all_at(int dirfd, const char* name, const std::string& what) {
  unique_fd fd(::openat(dirfd, name, O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno(what + ": open " + name);
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (errno == ESRCH) throw_error(errc::process_gone, what + ": read " + name + ": the process has exited");
      throw_errno(what + ": read " + name);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

// Opens the netns of the process behind pidfd (pid is its PID, for the
// fallback). The netns fd is only returned if the pidfd's process was alive
// after opening, so it cannot belong to a process that reused the PID.
unique_fd open_netns_of(int pidfd, pid_t pid, const std::string& what) {
  unique_fd netns(::ioctl(pidfd, PIDFD_GET_NET_NAMESPACE, 0));
  if (netns) {
    // The kernel opens it O_CLOEXEC; make sure anyway, it is cheap.
    ::fcntl(netns.get(), F_SETFD, FD_CLOEXEC);
    return netns;
  }
  int err = errno;
  if (err == ESRCH) throw_error(errc::process_gone, what + ": the process has exited");
  if (err != ENOTTY && err != EINVAL) throw_errno(err, what + ": PIDFD_GET_NET_NAMESPACE");
  // Older kernel: go through /proc, then prove the PID still names the
  // pidfd's process (if it died, the PID may have been reused meanwhile).
  std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  netns.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!netns) {
    if (errno == ENOENT || errno == ESRCH) throw_error(errc::process_gone, what + ": the process has exited");
    throw_errno(what + ": open " + path);
  }
  require_alive(pidfd, what);
  return netns;
}

// Reads uid_map/gid_map through proc_dir (an fd of /proc/<pid>) if that
// process's user namespace is owner. A /proc/<pid> directory fd stays bound
// to the process it was opened for, so a reused PID cannot mix in.
bool read_maps_at(int proc_dir, const NsId& owner, NamespaceFacts& facts, const std::string& what) {
  std::optional<NsId> userns = id_of_at(proc_dir, "ns/user");
  if (!userns || *userns != owner) return false;
  facts.uid_map = parse_id_map(read_all_at(proc_dir, "uid_map", what));
  facts.gid_map = parse_id_map(read_all_at(proc_dir, "gid_map", what));
  // The namespace may have been left between the check and the reads.
  std::optional<NsId> again = id_of_at(proc_dir, "ns/user");
  return again && *again == owner;
}

// Fills everything but the ID maps; returns the owning user namespace's id.
NsId fill_basic_facts(int netns_fd, NamespaceFacts& facts) {
  const std::string what = "namespace facts";
  detail::check_is_netns(netns_fd, what);
  NsId netns = id_of_fd(netns_fd, what);
  facts.inode = netns.ino;
  facts.device = netns.dev;
  facts.is_host = netns == host_ns_id("net", kInitNetNsIno);
  facts.is_self = netns == id_of_path("/proc/self/ns/net");
  unique_fd userns(::ioctl(netns_fd, NS_GET_USERNS));
  if (!userns) throw_errno(what + ": NS_GET_USERNS");
  NsId owner = id_of_fd(userns.get(), what + ": owning user namespace");
  facts.owner_is_initial_userns = owner == host_ns_id("user", kInitUserNsIno);
  uid_t uid = 0;
  if (::ioctl(userns.get(), NS_GET_OWNER_UID, &uid) != 0) throw_errno(what + ": NS_GET_OWNER_UID");
  facts.owner_uid = uid;
  return owner;
}

// Looks through /proc for a process of the user namespace owner and reads
// its maps (e.g. the sandbox process for a bare netns fd, or any host
// process for the initial user namespace).
void find_maps_in_proc(const NsId& owner, NamespaceFacts& facts) {
  unique_fd proc(::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc) throw_errno("open /proc");
  DIR* dir = ::fdopendir(proc.get());
  if (dir == nullptr) throw_errno("fdopendir /proc");
  const int proc_fd = proc.release();  // now owned by dir
  struct DirCloser {
    DIR* d;
    ~DirCloser() { ::closedir(d); }
  } closer{dir};
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    unique_fd proc_dir(::openat(proc_fd, entry->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!proc_dir) continue;  // exited meanwhile
    NamespaceFacts candidate;
    try {
      if (read_maps_at(proc_dir.get(), owner, candidate, "id maps")) {
        facts.uid_map = std::move(candidate.uid_map);
        facts.gid_map = std::move(candidate.gid_map);
        return;
      }
    } catch (const Error&) {
      continue;  // that process went away; try another one
    }
  }
}

}  // namespace

NetnsHandle NetnsHandle::from_pid(pid_t pid) {
  const std::string what = "open netns of pid " + std::to_string(pid);
  if (pid <= 0) throw_error(errc::invalid_argument, what + ": not a valid PID");
  unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) {
    if (errno == ESRCH) throw_error(errc::process_gone, what + ": no such process");
    throw_errno(what + ": pidfd_open");
  }
  // pidfd_open does not take PIDFD_CLOEXEC: it is always close-on-exec.
  unique_fd netns = open_netns_of(pidfd.get(), pid, what);
  return NetnsHandle(std::move(netns), std::move(pidfd), pid);
}

NetnsHandle NetnsHandle::from_pidfd(unique_fd pidfd) {
  const std::string what = "open netns of pidfd";
  if (!pidfd) throw_error(errc::invalid_argument, what + ": no fd");
  pid_t pid = with_context(what, [&] { return pid_of_pidfd(pidfd.get()); });
  if (pid <= 0) throw_error(errc::process_gone, what + ": the process has exited");
  const std::string what_pid = what + " (pid " + std::to_string(pid) + ")";
  unique_fd netns = open_netns_of(pidfd.get(), pid, what_pid);
  return NetnsHandle(std::move(netns), std::move(pidfd), pid);
}

NetnsHandle NetnsHandle::from_netns_fd(unique_fd netns_fd) {
  if (!netns_fd) throw_error(errc::invalid_argument, "open netns from fd: no fd");
  detail::check_is_netns(netns_fd.get(), "open netns from fd");
  return NetnsHandle(std::move(netns_fd), unique_fd(), -1);
}

bool NetnsHandle::process_alive() const {
  if (!pidfd_) return false;
  return pidfd_signal_zero(pidfd_.get()) == 0;
}

NamespaceFacts facts_of(int netns_fd) {
  NamespaceFacts facts;
  NsId owner = fill_basic_facts(netns_fd, facts);
  find_maps_in_proc(owner, facts);
  return facts;
}

NamespaceFacts NetnsHandle::facts() const {
  if (!pidfd_) return facts_of(netns_fd_.get());
  NamespaceFacts facts;
  NsId owner = fill_basic_facts(netns_fd_.get(), facts);
  const std::string what = "namespace facts of pid " + std::to_string(pid_);
  std::string path = "/proc/" + std::to_string(pid_);
  unique_fd proc_dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  // Only after this check do we know proc_dir is the pidfd's process.
  require_alive(pidfd_.get(), what);
  if (!proc_dir) throw_errno(what + ": open " + path);
  if (!read_maps_at(proc_dir.get(), owner, facts, what)) {
    // The process is not (or no longer) in the owning user namespace, e.g. it
    // made a nested one: fall back to any process that is.
    facts.uid_map.clear();
    facts.gid_map.clear();
    find_maps_in_proc(owner, facts);
  }
  return facts;
}

}  // namespace sandnet::netns
