// The sandbox's network namespace as a setup gets hold of it: opened from the
// caller's pid, pidfd or netns fd, or made by the daemon (sandbox.setup
// "create"). Blocking (pool thread).
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>

#include "sandnet/common/protocol.hpp"
#include "sandnet/common/unique_fd.hpp"
#include "sandnet/daemon/policy.hpp"
#include "sandnet/netns/facts.hpp"
#include "sandnet/netns/handle.hpp"

namespace sandnet::daemon {

struct OpenedNetns {
  netns::NetnsHandle handle;
  netns::NamespaceFacts facts;
  std::optional<pid_t> pid;
  unique_fd userns;  // the user namespace the daemon made ("create"), else empty
};

// What a namespace made for caller with these maps will be, as far as policy
// cares: owned by a new user namespace of the caller's, with exactly the maps
// asked for. Pure.
netns::NamespaceFacts planned_facts(const Caller& caller, const protocol::CreateNamespaces& create);

// Opens (pid, pidfd, netns) or makes (create) the sandbox's netns. authorize
// sees the facts before anything is made: for "create", the planned facts,
// so a refused request creates nothing.
OpenedNetns open_sandbox_netns(const protocol::SetupParams& params, const Caller& caller, unique_fd passed_fd,
                               const std::function<void(const netns::NamespaceFacts&)>& authorize);

unique_fd dup_cloexec(int fd);

}  // namespace sandnet::daemon
