// A sandbox made the way runc makes one for a user-namespaced pod: a child
// process in a new user namespace (with a written uid/gid map), a new network
// namespace owned by it, and a new mount namespace. The child sleeps until
// the Sandbox is destroyed (or kill() is called).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sandnet/common/unique_fd.hpp"
#include "support/process.hpp"

namespace sandnet::test {

struct SandboxOptions {
  // The host user that creates (and so owns) the user namespace; 0 = root.
  uid_t owner_uid = 0;
  gid_t owner_gid = 0;
  // Container root maps to host_id..host_id+size-1 (uid and gid alike).
  std::uint32_t host_id = 100000;
  std::uint32_t size = 65536;
  // false: the child only unshares the network namespace (owned by the
  // initial user namespace, the pre-userns way).
  bool new_user_ns = true;
};

class Sandbox {
 public:
  explicit Sandbox(const SandboxOptions& options = {});
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  pid_t pid() const { return pid_; }
  // A pidfd for the sandbox process (O_CLOEXEC), owned by the Sandbox.
  int pidfd() const { return pidfd_.get(); }

  // Kills the child and reaps it; safe to call twice.
  void kill();

  // Runs argv inside the sandbox's user, network and mount namespaces as its
  // root (nsenter), e.g. {"ip","-o","addr"}.
  CommandResult exec(const std::vector<std::string>& argv) const;

 private:
  pid_t pid_ = -1;
  unique_fd pidfd_;
  unique_fd keepalive_;  // write end; closing it lets the child exit
  bool new_user_ns_ = true;
};

// True when running as root (privileged tests skip with a message otherwise;
// CI runs as root, so they run there).
bool is_root();

}  // namespace sandnet::test
