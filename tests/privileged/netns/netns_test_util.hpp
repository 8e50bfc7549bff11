// Helpers shared by the netns privileged tests.
#pragma once

#include <fcntl.h>
#include <sys/mount.h>

#include <filesystem>
#include <string>
#include <vector>

#include "sandnet/common/unique_fd.hpp"
#include "sandnet/netns/pin.hpp"
#include "support/process.hpp"

namespace sandnet::netns::testutil {

// A temporary pin directory. ensure_shared_pin_dir() turns it into a bind
// mount of itself; the destructor unpins whatever is left and unmounts it
// before the TempDir goes, so a failing test leaves no mounts behind.
class PinDir {
 public:
  PinDir() : dir_(std::filesystem::path(tmp_.path()) / "pins") { ensure_shared_pin_dir(dir_); }
  ~PinDir() {
    try {
      for (const auto& p : list_pins(dir_)) unpin(dir_, p.name);
    } catch (...) {
    }
    while (::umount2(dir_.c_str(), MNT_DETACH) == 0) {
    }
  }
  PinDir(const PinDir&) = delete;
  PinDir& operator=(const PinDir&) = delete;
  const std::filesystem::path& path() const { return dir_; }

 private:
  test::TempDir tmp_;
  std::filesystem::path dir_;
};

inline bool is_mounted(const std::filesystem::path& path) {
  std::string mounts = test::sh("cat /proc/self/mountinfo").out;
  return mounts.find(" " + path.string() + " ") != std::string::npos;
}

inline unique_fd dup_fd(int fd) { return unique_fd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)); }

// Runs a CNI plugin the way a runtime does; returns its result.
inline test::CommandResult run_plugin(const std::string& plugin, const std::string& command,
                                      const std::string& container_id, const std::string& netns,
                                      const std::string& ifname, const std::string& config) {
  return test::run({"/usr/lib/cni/" + plugin}, config, std::chrono::seconds(60),
                   {"CNI_COMMAND=" + command, "CNI_CONTAINERID=" + container_id, "CNI_NETNS=" + netns,
                    "CNI_IFNAME=" + ifname, "CNI_PATH=/usr/lib/cni", "CNI_ARGS="});
}

}  // namespace sandnet::netns::testutil
