// Making a sandbox's namespaces before any of its processes exists (the
// containerd 2.x / CRI-O flow): a user namespace with the given maps, owned by
// a given uid, and a network namespace owned by that user namespace. The pod
// later joins both by path, so it owns its netns (and may mount sysfs) and
// there is no PID to race.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "sandnet/common/unique_fd.hpp"
#include "sandnet/netns/facts.hpp"

namespace sandnet::netns {

struct CreatedNamespaces {
  unique_fd userns;  // nsfs fds, O_CLOEXEC; the namespaces live while
  unique_fd netns;   // these (or pins made from them) do
};

// The text the kernel takes in /proc/<pid>/uid_map: "inside outside count"
// lines, in the order given.
std::string format_id_map(const std::vector<IdMapEntry>& map);

// Blocking: forks a helper process that takes owner_uid/owner_gid (so the
// new user namespace is that uid's, as if it had made it: its processes may
// then join it), unshares a user namespace, waits for this process to write
// its uid_map and gid_map (the daemon's CAP_SETUID/CAP_SETGID allow any
// ranges: the caller must have checked them), unshares a network namespace
// inside it, and is killed once both are open. The maps must be valid for the
// kernel (non-empty, at most 340 lines, no overlaps): Error(invalid_argument)
// otherwise, as for every other failure Error with errno's code.
CreatedNamespaces create_user_and_network_namespaces(const std::vector<IdMapEntry>& uid_map,
                                                     const std::vector<IdMapEntry>& gid_map, uid_t owner_uid,
                                                     gid_t owner_gid);

}  // namespace sandnet::netns
