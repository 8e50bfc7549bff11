// Pinning a network namespace: a bind mount of its nsfs file onto <dir>/<name>,
// the way `ip netns add` does, so CNI plugins and `ip netns exec` can reach it
// and it outlives the sandbox process until unpinned.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandnet/common/unique_fd.hpp"

namespace sandnet::netns {

class NetnsHandle;

// The default pin directory shared with iproute2.
inline const std::filesystem::path kDefaultPinDir = "/run/netns";

// Creates dir (mode 0755) and makes it a shared mount point the way iproute2
// does: try MS_SHARED|MS_REC; if it is not a mount point (EINVAL) bind it onto
// itself first. Idempotent. Throws Error.
void ensure_shared_pin_dir(const std::filesystem::path& dir);

// Pins netns_fd at dir/name and returns that path. name must be a valid CNI
// container ID (Error(invalid_argument) otherwise). The file is created with
// O_CREAT|O_EXCL|O_NOFOLLOW (an existing file: Error(already_exists)), the
// mount source is /proc/self/fd/N. On failure nothing is left behind.
// dir must exist: call ensure_shared_pin_dir(dir) once beforehand (not per
// pin: a recursive propagation change walks every pin already in dir). The
// handle form refuses a handle whose process has exited (Error(process_gone)).
std::filesystem::path pin(int netns_fd, const std::filesystem::path& dir, std::string_view name);
std::filesystem::path pin(const NetnsHandle& handle, const std::filesystem::path& dir,
                          std::string_view name);

// Pins a user namespace the same way (the pre-created namespaces of
// sandbox.setup "create" keep their user namespace in a directory of their own).
std::filesystem::path pin_userns(int userns_fd, const std::filesystem::path& dir, std::string_view name);

// Unmounts (MNT_DETACH) and removes dir/name. A missing pin is fine, so this
// is idempotent. Throws Error on other failures (after trying both steps).
void unpin(const std::filesystem::path& dir, std::string_view name);

// Which network namespace a pin holds: the nsfs file's st_dev and st_ino
// (the same pair as NamespaceFacts' device and inode).
struct NetnsIdentity {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  bool operator==(const NetnsIdentity&) const = default;
};

struct PinInfo {
  std::string name;
  std::filesystem::path path;
  bool live = false;  // an nsfs mount of a network namespace is on it
  NetnsIdentity identity;  // of that namespace, when live
};

// The namespace mounted on path (not followed if it is a symlink), or nullopt
// when no network namespace is mounted there. Never throws.
std::optional<NetnsIdentity> pinned_identity(const std::filesystem::path& path);

// The user namespace mounted on path, or nullopt. Never throws.
std::optional<NetnsIdentity> pinned_userns_identity(const std::filesystem::path& path);

// Whether a network namespace's nsfs file is mounted on path (not followed
// if it is a symlink). Never throws.
bool is_live_pin(const std::filesystem::path& path);

// The regular files in dir (a missing dir gives an empty list), sorted by name.
std::vector<PinInfo> list_pins(const std::filesystem::path& dir);

// Opens a pin (O_RDONLY|O_CLOEXEC) and checks it is a live network namespace
// (Error(invalid_argument) for a stale file). Use NetnsHandle::from_netns_fd.
unique_fd open_pin(const std::filesystem::path& path);

}  // namespace sandnet::netns
