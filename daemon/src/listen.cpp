#include "sandnet/daemon/listen.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"

namespace sandnet::daemon {
namespace {

constexpr int kSystemdFirstFd = 3;

sockaddr_un unix_address(const std::string& path, socklen_t& len) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    throw_error(errc::invalid_argument, "socket path \"" + path + "\" is empty or too long");
  std::memcpy(addr.sun_path, path.data(), path.size());
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  return addr;
}

// True when something accepts connections on path.
bool someone_listens(const std::string& path) {
  unique_fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) throw_errno("socket");
  socklen_t len = 0;
  auto addr = unix_address(path, len);
  return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), len) == 0;
}

}  // namespace

std::optional<unique_fd> socket_from_systemd() {
  const char* pid_env = std::getenv("LISTEN_PID");
  const char* fds_env = std::getenv("LISTEN_FDS");
  if (!pid_env || !fds_env) return std::nullopt;
  long pid = std::strtol(pid_env, nullptr, 10);
  long count = std::strtol(fds_env, nullptr, 10);
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (pid != ::getpid() || count < 1) return std::nullopt;
  unique_fd fd(kSystemdFirstFd);
  if (::fcntl(fd.get(), F_SETFD, FD_CLOEXEC) != 0) throw_errno("systemd socket (fd 3)");
  int type = 0, listening = 0;
  socklen_t len = sizeof type;
  sockaddr_storage addr{};
  socklen_t addr_len = sizeof addr;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0)
    throw_errno("systemd socket (fd 3)");
  len = sizeof listening;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0)
    throw_errno("systemd socket (fd 3)");
  if (type != SOCK_STREAM || addr.ss_family != AF_UNIX || !listening)
    throw_error(errc::invalid_argument, "systemd socket (fd 3) is not a listening Unix stream socket");
  // Other passed fds are not ours to use; close them rather than leak them.
  for (long extra = 1; extra < count; ++extra) ::close(kSystemdFirstFd + static_cast<int>(extra));
  return fd;
}

unique_fd create_listening_socket(const SocketOptions& options) {
  const std::string path = options.path.string();
  return with_context("socket " + path, [&] {
    if (options.path.has_parent_path()) fs::ensure_directory(options.path.parent_path(), 0755);
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) throw_error(errc::already_exists, "exists and is not a socket");
      if (someone_listens(path)) throw_error(errc::already_exists, "another daemon is listening on it");
      fs::remove_file(options.path);
    } else if (errno != ENOENT) {
      throw_errno("lstat");
    }
    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) throw_errno("socket");
    socklen_t len = 0;
    auto addr = unix_address(path, len);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) != 0) throw_errno("bind");
    if (::chmod(path.c_str(), options.mode) != 0) throw_errno("chmod");
    if (options.gid && ::chown(path.c_str(), static_cast<uid_t>(-1), *options.gid) != 0)
      throw_errno("chown to group " + std::to_string(*options.gid));
    if (::listen(fd.get(), SOMAXCONN) != 0) throw_errno("listen");
    return fd;
  });
}

bool notify_systemd(std::string_view state) {
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (!env || !*env) return false;
  std::string path(env);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return false;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  unique_fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  // Never blocks: a full notify queue must not stall the event loop.
  return ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                  reinterpret_cast<const sockaddr*>(&addr), len) == static_cast<ssize_t>(state.size());
}

}  // namespace sandnet::daemon
