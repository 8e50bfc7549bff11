// Passing file descriptors over a Unix stream socket (SCM_RIGHTS), for
// requests that carry a sandbox's pidfd or netns fd.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "sandnet/common/unique_fd.hpp"

namespace sandnet::scm {

// The most descriptors one message may carry; more are closed and refused.
inline constexpr std::size_t kMaxFdsPerMessage = 4;

// sendmsg() of data with fds attached to its first byte; loops until all data
// is sent (fds go with the first chunk). Returns bytes sent or -1 with errno
// (EAGAIN on a non-blocking socket before anything was sent).
ssize_t send_with_fds(int sock, std::string_view data, std::span<const int> fds);

// One recvmsg() into buf; received fds (made O_CLOEXEC by MSG_CMSG_CLOEXEC)
// are appended to fds. Returns bytes read (0 = EOF) or -1 with errno. A
// truncated control message (MSG_CTRUNC) is reported as -1/EMSGSIZE.
ssize_t recv_with_fds(int sock, std::span<char> buf, std::vector<unique_fd>& fds);

}  // namespace sandnet::scm
