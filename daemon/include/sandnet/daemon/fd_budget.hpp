// How many client connections the daemon's file descriptors allow. Every
// connection costs one fd; so does each pidfd watch, each plugin run's pipes
// and each setup's namespace handles. With a low RLIMIT_NOFILE a crowd of
// idle connections could take the fds that root's request, a plugin or a
// watch needs, so the connection limits are sized from it at start.
#pragma once

#include <cstddef>
#include <string>

#include "sandnet/daemon/config.hpp"

namespace sandnet::daemon {

// Raises the soft RLIMIT_NOFILE to the hard limit. Returns the soft limit in
// force afterwards (the old one when raising failed). Never throws.
struct NofileLimit {
  std::size_t before = 0;
  std::size_t now = 0;
};
NofileLimit raise_nofile_limit() noexcept;

// The fds open in this process now (/proc/self/fd); 0 when unreadable.
std::size_t open_fd_count() noexcept;

struct FdBudget {
  std::size_t nofile = 0;          // RLIMIT_NOFILE (soft)
  std::size_t in_use = 0;          // open at start
  std::size_t margin = 0;          // event loop, thread pool, records, config files, netlink
  std::size_t plugin_runs = 0;     // pipes and handles of concurrent setups and teardowns
  std::size_t watches = 0;         // pidfd watches of sandboxes
  std::size_t connections = 0;     // what is left for clients, root's reserve included
  // The limits the server applies (the configured ones, lowered to fit).
  std::size_t max_connections = 0;
  std::size_t root_reserve = 0;
  std::size_t per_uid = 0;
  std::size_t per_uid_without_rule = 0;

  // "RLIMIT_NOFILE 160: 12 in use, reserved 32 + 64 plugin runs + 13 watches; ..."
  std::string describe() const;
};

// Fds per concurrent setup: a plugin run's three pipes and its pidfd, the
// netns and pidfd handles, a passed fd and the pin being made.
inline constexpr std::size_t kFdsPerSetup = 8;
inline constexpr std::size_t kFdMargin = 32;

// Sizes the connection limits of config from nofile and the fds in_use.
// Teardowns are not bounded by maxConcurrentSetups; as many as setups are
// reserved for. A quarter of what remains is kept for pidfd watches. Throws
// Error(invalid_argument) when not even one connection beyond root's reserve fits.
FdBudget size_fd_budget(const Config& config, std::size_t nofile, std::size_t in_use);

}  // namespace sandnet::daemon
