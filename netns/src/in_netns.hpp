// Internal: work that must happen inside a network namespace, done on a
// short-lived dedicated thread so that no caller's thread ever calls setns().
#pragma once

#include <functional>
#include <string>

#include "sandnet/common/unique_fd.hpp"

namespace sandnet::netns::detail {

// Starts a thread that joins netns_fd (setns CLONE_NEWNET), runs work, and
// exits; waits for it. An exception from work (or the setns failure) is
// rethrown on the caller's thread.
void run_in_netns(int netns_fd, const std::function<void()>& work);

// A NETLINK_ROUTE socket (SOCK_CLOEXEC) created inside netns_fd. Netlink
// sockets stay bound to the namespace they were created in, so the caller can
// use it from any thread.
unique_fd open_route_socket_in(int netns_fd);

// Throws Error(invalid_argument) unless fd is an nsfs file of a network
// namespace; what names the fd's origin for the message.
void check_is_netns(int fd, const std::string& what);
// The same for a user namespace.
void check_is_userns(int fd, const std::string& what);

}  // namespace sandnet::netns::detail
