// Starting a plugin process that cannot outlive us (private to cni/).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace sandnet::cni::detail {

struct SpawnFds {
  int stdin_fd, stdout_fd, stderr_fd;  // become the child's 0, 1, 2
};

// Starts path (argv[0] = path, environment env, nothing else) as a child in
// a process group of its own, with default signal dispositions, an empty
// signal mask, only fds 0/1/2 open and PR_SET_PDEATHSIG(SIGKILL): the child
// is killed when the *thread* that called spawn_process exits, so call it
// from a thread that lives as long as the plugins it starts (the event-loop
// thread: sandnetd's main thread, sandnetctl's). Returns the child's PID.
// A failing exec (ENOENT, ETXTBSY, E2BIG, ...) throws
// Error(errno, "exec <path>") once the child is reaped.
pid_t spawn_process(const std::string& path, std::vector<std::string> env, SpawnFds fds);

}  // namespace sandnet::cni::detail
