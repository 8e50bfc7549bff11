// What the daemon's policy needs to know about a sandbox's network namespace.
// Filled by the netns layer from the namespace fd (and the sandbox's pidfd for
// the ID maps); a plain struct so that policy code can be tested without root.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace sandnet::netns {

// One line of /proc/<pid>/uid_map or gid_map.
struct IdMapEntry {
  std::uint32_t inside = 0;   // first ID inside the user namespace
  std::uint32_t outside = 0;  // first ID in the parent (host) namespace
  std::uint32_t count = 0;
};

struct NamespaceFacts {
  ino_t inode = 0;  // identity of the netns (st_ino / st_dev of the nsfs file)
  dev_t device = 0;
  bool is_host = false;  // the initial network namespace (/proc/1/ns/net)
  bool is_self = false;  // the calling process's own network namespace
  // The user namespace that owns the network namespace.
  bool owner_is_initial_userns = true;
  uid_t owner_uid = 0;  // NS_GET_OWNER_UID: who created that user namespace
  std::vector<IdMapEntry> uid_map;  // that user namespace's maps; empty when
  std::vector<IdMapEntry> gid_map;  // unknown (no process of it could be read)
};

}  // namespace sandnet::netns
