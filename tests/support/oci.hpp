// Real OCI pods for end-to-end tests: a busybox bundle (rootfs from Debian's
// busybox-static, config.json with new user+network+mount+pid+ipc+uts
// namespaces and a uid/gid mapping of its own) started with `runc run -d` or
// `crun run -d` under a private --root state directory, exactly the way a CRI
// runtime starts a user-namespaced pod sandbox before asking sandnet for its
// network.
//
// Facts found on the CI machine (kernel 6.18, runc 1.1.5, crun 1.8.1):
// - The host has a hybrid cgroup hierarchy with a controller (hugetlb) on the
//   cgroup2 "unified" mount. runc copes; crun refuses ("cgroups in hybrid mode
//   not supported, drop all controllers from cgroupv2"), also with
//   --cgroup-manager=disabled. So crun is run in a private mount namespace in
//   which /sys/fs/cgroup/unified is unmounted: crun then sees plain cgroup v1.
// - runc and crun bring `lo` up in the pod's new netns themselves.
// - The pod's netns is owned by the pod's user namespace, whose owner
//   (NS_GET_OWNER_UID) is the uid that ran the runtime: 0 here.
// - Mounting sysfs inside the pod works only when a sysfs is already fully
//   visible in the pod's mount namespace (the kernel's mount_too_revealing
//   check) and with flags at least as restrictive as that mount's locked
//   flags: the bundle mounts /sys (sysfs, ro,nosuid,nodev,noexec), and
//   `mount -t sysfs -o ro,nosuid,nodev,noexec sysfs DIR` then succeeds.
#pragma once

#include <sys/types.h>

#include <boost/json/object.hpp>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sandnet/common/unique_fd.hpp"
#include "support/process.hpp"

namespace sandnet::test {

enum class OciRuntime { runc, crun };

const char* to_string(OciRuntime runtime);

// Whether the runtime's binary is installed (tests skip with a message if not).
bool oci_runtime_available(OciRuntime runtime);

struct BundleOptions {
  // Container uid/gid 0 maps to host_id .. host_id+size-1; the rootfs is
  // chowned to host_id so that root in the pod owns it.
  std::uint32_t host_id = 200000;
  std::uint32_t size = 65536;
  // The pod's process (PID 1 in its pid namespace).
  std::vector<std::string> args{"sleep", "1000000"};
  std::string hostname = "pod";
  // Extra files in the rootfs: {path relative to the rootfs, content}.
  std::vector<std::pair<std::string, std::string>> files;
  // Namespaces to join instead of making ({"user": "/run/sandnet/userns/x",
  // "network": "/run/netns/x"}): their linux.namespaces entries get a "path",
  // as containerd 2.x and CRI-O write them for pre-created namespaces.
  std::map<std::string, std::string> namespace_paths;
  // config.json "hooks" (e.g. {"createRuntime":[{"path":...,"args":[...]}]}) and "annotations".
  boost::json::object hooks;
  std::map<std::string, std::string> annotations;
};

// Busybox applets linked into the rootfs's /bin.
const std::vector<std::string>& busybox_applets();

// Writes an OCI bundle into dir (which must exist): dir/rootfs and
// dir/config.json. Throws sandnet::Error naming what failed.
void write_busybox_bundle(const std::filesystem::path& dir, const BundleOptions& options);

struct PodOptions {
  OciRuntime runtime = OciRuntime::runc;
  std::string id;  // container ID; empty = unique_name("sne2e")
  BundleOptions bundle;
  // Non-zero: run the runtime as this uid (and gid), rootless; runc only.
  // The bundle should then map just that uid (host_id = as_uid, size 1).
  uid_t as_uid = 0;
};

// A running pod. The destructor always kills and deletes it (runc kill +
// delete -f) and removes its bundle and state directory.
class OciPod {
 public:
  explicit OciPod(const PodOptions& options);
  ~OciPod();
  OciPod(const OciPod&) = delete;
  OciPod& operator=(const OciPod&) = delete;

  const std::string& id() const { return id_; }
  OciRuntime runtime() const { return runtime_; }
  // The pod's init process as the host sees it (from `<runtime> state`).
  pid_t pid() const { return pid_; }
  // A fresh pidfd (O_CLOEXEC) for the pod's init process.
  unique_fd open_pidfd() const;
  const std::filesystem::path& bundle_dir() const { return bundle_dir_; }

  // `<runtime> exec ID argv...`: runs argv inside the pod, waits for it.
  CommandResult exec(const std::vector<std::string>& argv,
                     std::chrono::seconds timeout = std::chrono::seconds(30)) const;

  // `<runtime> state ID` as parsed JSON text's "status" field.
  std::string status() const;

  // The runtime's own output (`run -d` and the hooks it ran write there).
  std::string run_log() const;

  // Kills and deletes the pod; safe to call twice. Returns what went wrong
  // (empty when all went well) rather than throwing, for cleanup paths.
  std::vector<std::string> destroy();

 private:
  // argv prefix that runs the runtime with our state directory (and, for
  // crun, in a mount namespace without the cgroup2 unified mount).
  std::vector<std::string> runtime_argv(const std::vector<std::string>& args) const;

  OciRuntime runtime_;
  uid_t as_uid_ = 0;
  std::string id_;
  std::filesystem::path work_dir_;  // holds bundle/ and state/
  std::filesystem::path bundle_dir_;
  std::filesystem::path state_dir_;
  pid_t pid_ = -1;
  bool started_ = false;
};

}  // namespace sandnet::test
