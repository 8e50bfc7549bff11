// A race-free handle on a network namespace: an nsfs fd, plus the pidfd of the
// process it was opened from (if any). After construction nothing refers to
// /proc/<pid> again, except reading the ID maps under a pidfd liveness check.
#pragma once

#include <sys/types.h>

#include <optional>

#include "sandnet/common/unique_fd.hpp"
#include "sandnet/netns/facts.hpp"

namespace sandnet::netns {

class NetnsHandle {
 public:
  // pidfd_open(pid), then the netns through the pidfd (PIDFD_GET_NET_NAMESPACE,
  // or /proc/<pid>/ns/net confirmed by pidfd_send_signal(0) on older kernels).
  // A dead or reused PID: Error(errc::process_gone).
  static NetnsHandle from_pid(pid_t pid);
  // From a pidfd (e.g. received over SCM_RIGHTS). Takes ownership.
  // A process that already exited: Error(errc::process_gone).
  static NetnsHandle from_pidfd(unique_fd pidfd);
  // From a netns fd (e.g. received over SCM_RIGHTS, or open_pin()). Takes
  // ownership; checks it is an nsfs file of a network namespace
  // (Error(errc::invalid_argument) otherwise).
  static NetnsHandle from_netns_fd(unique_fd netns_fd);

  NetnsHandle(NetnsHandle&&) noexcept = default;
  NetnsHandle& operator=(NetnsHandle&&) noexcept = default;
  NetnsHandle(const NetnsHandle&) = delete;
  NetnsHandle& operator=(const NetnsHandle&) = delete;

  int fd() const noexcept { return netns_fd_.get(); }
  // -1 when the handle was made from a bare netns fd.
  int pidfd() const noexcept { return pidfd_.get(); }
  // The PID the handle was opened from (from_pid's, or the pidfd's at open
  // time); nullopt for a bare netns fd. Only meaningful with pidfd().
  std::optional<pid_t> pid() const noexcept {
    if (pidfd_ && pid_ > 0) return pid_;
    return std::nullopt;
  }

  // True while the process the handle was opened from is alive; always false
  // for a handle without a pidfd.
  bool process_alive() const;

  // Identity, host/self, owning user namespace and its owner UID. The ID maps
  // come from the pinned process (with a pidfd) or, for a bare netns fd, from
  // any process found in /proc whose user namespace is the owning one; left
  // empty when none is found. Throws Error.
  NamespaceFacts facts() const;

 private:
  NetnsHandle(unique_fd netns_fd, unique_fd pidfd, pid_t pid)
      : netns_fd_(std::move(netns_fd)), pidfd_(std::move(pidfd)), pid_(pid) {}

  unique_fd netns_fd_;
  unique_fd pidfd_;
  pid_t pid_ = -1;  // only for reading the ID maps, always under a pidfd check
};

// Facts from a bare netns fd (what NetnsHandle::facts() does without a pidfd).
NamespaceFacts facts_of(int netns_fd);

}  // namespace sandnet::netns
