#include "sandnet/netns/pin.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "in_netns.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"
#include "sandnet/common/validate.hpp"
#include "sandnet/netns/handle.hpp"

namespace sandnet::netns {
namespace {

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

using TypeCheck = void (*)(int, const std::string&);

std::optional<NetnsIdentity> identity_of_pin(const std::filesystem::path& path, TypeCheck check) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return std::nullopt;
  struct statfs fs {};
  if (::fstatfs(fd.get(), &fs) != 0 || fs.f_type != NSFS_MAGIC) return std::nullopt;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::nullopt;
  try {
    check(fd.get(), path.string());
  } catch (const Error&) {
    return std::nullopt;
  }
  return NetnsIdentity{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

std::filesystem::path pin_namespace(int ns_fd, const std::filesystem::path& dir, std::string_view name,
                                    TypeCheck check) {
  const std::string what = "pin " + std::string(name);
  return with_context(what, [&] {
    validate::container_id(name);
    check(ns_fd, "namespace fd");
    unique_fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) throw_errno("open " + dir.string());
    const std::filesystem::path path = dir / std::string(name);
    // O_EXCL: never reuse (or follow) whatever is already there.
    unique_fd file(::openat(dir_fd.get(), std::string(name).c_str(),
                            O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0));
    if (!file) {
      if (errno == EEXIST) throw_error(errc::already_exists, path.string() + " already exists");
      throw_errno("create " + path.string());
    }
    // Mount onto the file we created (through its fd), so a path swapped
    // under us cannot redirect the mount.
    if (::mount(fd_path(ns_fd).c_str(), fd_path(file.get()).c_str(), "none", MS_BIND, nullptr) != 0) {
      int err = errno;
      ::unlinkat(dir_fd.get(), std::string(name).c_str(), 0);
      throw_errno(err, "bind mount onto " + path.string());
    }
    return path;
  });
}

}  // namespace

std::optional<NetnsIdentity> pinned_identity(const std::filesystem::path& path) {
  return identity_of_pin(path, detail::check_is_netns);
}

std::optional<NetnsIdentity> pinned_userns_identity(const std::filesystem::path& path) {
  return identity_of_pin(path, detail::check_is_userns);
}

bool is_live_pin(const std::filesystem::path& path) { return pinned_identity(path).has_value(); }

void ensure_shared_pin_dir(const std::filesystem::path& dir) {
  const std::string what = "pin directory " + dir.string();
  with_context(what, [&] { fs::ensure_directory(dir, 0755); });
  // As iproute2 does: make it shared so pins and unpins propagate to other
  // mount namespaces (no stale copy keeps a dead sandbox's netns alive). If it
  // is not a mount point yet (EINVAL), bind it onto itself first.
  if (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) == 0) return;
  if (errno != EINVAL) throw_errno(what + ": make shared");
  if (::mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0)
    throw_errno(what + ": bind onto itself");
  if (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) throw_errno(what + ": make shared");
}

std::filesystem::path pin(int netns_fd, const std::filesystem::path& dir, std::string_view name) {
  return pin_namespace(netns_fd, dir, name, detail::check_is_netns);
}

std::filesystem::path pin_userns(int userns_fd, const std::filesystem::path& dir, std::string_view name) {
  return pin_namespace(userns_fd, dir, name, detail::check_is_userns);
}

std::filesystem::path pin(const NetnsHandle& handle, const std::filesystem::path& dir, std::string_view name) {
  // The fd still names the right namespace, but its sandbox is gone: pinning
  // it would only keep a dead sandbox's namespace alive.
  if (handle.pidfd() >= 0 && !handle.process_alive())
    throw_error(errc::process_gone, "pin " + std::string(name) + ": the sandbox process has exited");
  return pin(handle.fd(), dir, name);
}

void unpin(const std::filesystem::path& dir, std::string_view name) {
  const std::string what = "unpin " + std::string(name);
  with_context(what, [&] { validate::container_id(name); });
  const std::filesystem::path path = dir / std::string(name);
  int umount_err = 0;
  // Unmount every layer (normally one); EINVAL means "not a mount point",
  // ENOENT "no such file": both are the unpinned state.
  for (int i = 0; i < 16; ++i) {
    if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) continue;
    if (errno != EINVAL && errno != ENOENT) umount_err = errno;
    break;
  }
  int unlink_err = 0;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) unlink_err = errno;
  if (umount_err != 0) throw_errno(umount_err, what + ": unmount " + path.string());
  if (unlink_err != 0) throw_errno(unlink_err, what + ": remove " + path.string());
}

std::vector<PinInfo> list_pins(const std::filesystem::path& dir) {
  std::vector<PinInfo> pins;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return pins;
  if (ec) throw Error(ec, "list pins in " + dir.string());
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) throw Error(ec, "list pins in " + dir.string());
    const auto& entry = *it;
    std::error_code type_ec;
    if (!entry.is_regular_file(type_ec)) continue;  // follows the mount: nsfs files are regular
    PinInfo info;
    info.name = entry.path().filename().string();
    info.path = entry.path();
    if (auto identity = pinned_identity(entry.path())) {
      info.live = true;
      info.identity = *identity;
    }
    pins.push_back(std::move(info));
  }
  std::sort(pins.begin(), pins.end(), [](const PinInfo& a, const PinInfo& b) { return a.name < b.name; });
  return pins;
}

unique_fd open_pin(const std::filesystem::path& path) {
  const std::string what = "open pin " + path.string();
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) throw_errno(what);
  struct statfs fs {};
  if (::fstatfs(fd.get(), &fs) != 0) throw_errno(what + ": fstatfs");
  if (fs.f_type != NSFS_MAGIC) throw_error(errc::invalid_argument, what + ": stale pin (no namespace mounted)");
  detail::check_is_netns(fd.get(), what);
  return fd;
}

}  // namespace sandnet::netns
