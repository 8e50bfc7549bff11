// The daemon's listening socket and its conversation with systemd: socket
// activation (LISTEN_FDS), or a socket we create ourselves; sd_notify written
// by hand (one datagram to NOTIFY_SOCKET) so we need no libsystemd.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "sandnet/common/unique_fd.hpp"

namespace sandnet::daemon {

// The first socket systemd passed (fd 3) when LISTEN_PID is us and LISTEN_FDS
// >= 1; nullopt otherwise. Unsets LISTEN_* so children never see them; marks
// the fd close-on-exec. Throws Error if fd 3 is not a listening Unix stream socket.
std::optional<unique_fd> socket_from_systemd();

struct SocketOptions {
  std::filesystem::path path;
  mode_t mode = 0660;
  // The group to chown it to (Config::socket_gid: socketGroup resolved when
  // the config was loaded); none keeps the daemon's group.
  std::optional<gid_t> gid;
};

// Creates the parent directory (0755), removes a stale socket (only a socket
// nobody answers on), binds, chmods, chowns to the group and listens.
// Throws Error ("socket /run/sandnet/sandnetd.sock: another sandnetd is
// listening") naming what failed.
unique_fd create_listening_socket(const SocketOptions& options);

// Sends state ("READY=1", "STOPPING=1", ...) to NOTIFY_SOCKET if set (a path,
// or an abstract name when it starts with '@'). Returns false when there is
// no NOTIFY_SOCKET or sending failed; never throws (notification is advisory).
bool notify_systemd(std::string_view state);

}  // namespace sandnet::daemon
