#include "sandnet/daemon/fd_budget.hpp"

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>

#include "sandnet/common/error.hpp"

namespace sandnet::daemon {

NofileLimit raise_nofile_limit() noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return {};
  NofileLimit out{static_cast<std::size_t>(limit.rlim_cur), static_cast<std::size_t>(limit.rlim_cur)};
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised{limit.rlim_max, limit.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) out.now = static_cast<std::size_t>(limit.rlim_max);
  }
  return out;
}

std::size_t open_fd_count() noexcept {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  std::size_t count = 0;
  while (const dirent* entry = ::readdir(dir))
    if (entry->d_name[0] != '.') ++count;
  ::closedir(dir);
  return count > 0 ? count - 1 : 0;  // not the directory's own fd
}

FdBudget size_fd_budget(const Config& config, std::size_t nofile, std::size_t in_use) {
  FdBudget b;
  b.nofile = nofile;
  b.in_use = in_use;
  b.margin = kFdMargin;
  b.plugin_runs = 2 * kFdsPerSetup * config.max_concurrent_setups;
  const std::size_t fixed = b.in_use + b.margin + b.plugin_runs;
  const std::size_t rest = nofile > fixed ? nofile - fixed : 0;
  b.watches = rest / 4;
  b.connections = rest - b.watches;
  // Root's reserve may take at most half of what there is.
  b.root_reserve = std::min(config.root_reserved_connections, b.connections / 2);
  if (b.connections <= b.root_reserve)
    throw_error(errc::invalid_argument,
                "RLIMIT_NOFILE " + std::to_string(nofile) + " leaves no file descriptor for client connections (" +
                    std::to_string(b.in_use) + " in use, " + std::to_string(b.margin + b.plugin_runs) +
                    " reserved for " + std::to_string(config.max_concurrent_setups) +
                    " concurrent setups); raise it (LimitNOFILE=) or lower maxConcurrentSetups");
  b.max_connections = std::min(config.max_connections, b.connections - b.root_reserve);
  b.per_uid = std::min(config.max_connections_per_uid, b.max_connections);
  b.per_uid_without_rule = std::min(config.max_connections_per_uid_without_rule, b.max_connections);
  return b;
}

std::string FdBudget::describe() const {
  return "RLIMIT_NOFILE " + std::to_string(nofile) + ": " + std::to_string(in_use) + " fds in use, reserved " +
         std::to_string(margin) + " + " + std::to_string(plugin_runs) + " for plugin runs + " +
         std::to_string(watches) + " for pidfd watches; maxConnections " + std::to_string(max_connections) +
         " + " + std::to_string(root_reserve) + " for root, " + std::to_string(per_uid) + " per uid, " +
         std::to_string(per_uid_without_rule) + " per uid without a policy rule";
}

}  // namespace sandnet::daemon
