#include "in_netns.hpp"

#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/vfs.h>

#include <exception>
#include <thread>

#include "sandnet/common/error.hpp"

namespace sandnet::netns::detail {

void run_in_netns(int netns_fd, const std::function<void()>& work) {
  std::exception_ptr failure;
  // The thread's namespace dies with it: nothing else ever runs on it.
  std::thread worker([&] {
    try {
      if (::setns(netns_fd, CLONE_NEWNET) != 0) throw_errno("enter network namespace");
      work();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  worker.join();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw_error(errc::internal, e.what());
    }
  }
}

unique_fd open_route_socket_in(int netns_fd) {
  unique_fd sock;
  run_in_netns(netns_fd, [&] {
    sock.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!sock) throw_errno("netlink socket");
  });
  return sock;
}

namespace {

void check_ns_type(int fd, const std::string& what, int nstype, const char* kind) {
  struct statfs fs {};
  if (::fstatfs(fd, &fs) != 0) throw_errno(what + ": fstatfs");
  if (fs.f_type != NSFS_MAGIC) throw_error(errc::invalid_argument, what + ": not a namespace file (nsfs)");
  int type = ::ioctl(fd, NS_GET_NSTYPE);
  if (type < 0) throw_errno(what + ": NS_GET_NSTYPE");
  if (type != nstype) throw_error(errc::invalid_argument, what + ": not a " + kind + " namespace");
}

}  // namespace

void check_is_netns(int fd, const std::string& what) { check_ns_type(fd, what, CLONE_NEWNET, "network"); }

void check_is_userns(int fd, const std::string& what) { check_ns_type(fd, what, CLONE_NEWUSER, "user"); }

}  // namespace sandnet::netns::detail
