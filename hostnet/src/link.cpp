#include "sandnet/hostnet/link.hpp"

#include <linux/netlink.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <memory>

#include "sandnet/common/error.hpp"
#include "sandnet/common/unique_fd.hpp"

namespace sandnet::hostnet {
namespace {

struct SockFree {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct LinkPut {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
using SockPtr = std::unique_ptr<nl_sock, SockFree>;
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;

// One link by name or index; nullptr when there is none.
LinkPtr get_link(nl_sock* sock, int index, const std::string& name, const std::string& what) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sock, index, index ? nullptr : name.c_str(), &raw);
  if (err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND) return nullptr;
  if (err < 0) throw_error(errc::internal, what + ": " + nl_geterror(err));
  return LinkPtr(raw);
}

}  // namespace

std::optional<HostLink> find_host_link(std::string_view name) {
  const std::string what = "look up host interface " + std::string(name);
  // Our own O_CLOEXEC socket; libnl takes it over (nl_socket_free closes it).
  unique_fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) throw_errno(what + ": netlink socket");
  SockPtr sock(nl_socket_alloc());
  if (!sock) throw_error(errc::internal, what + ": nl_socket_alloc");
  if (int err = nl_socket_set_fd(sock.get(), NETLINK_ROUTE, fd.get()); err < 0)
    throw_error(errc::internal, what + ": " + nl_geterror(err));
  fd.release();

  auto link = get_link(sock.get(), 0, std::string(name), what);
  if (!link) return std::nullopt;
  HostLink out;
  out.name = std::string(name);
  if (const char* kind = rtnl_link_get_type(link.get())) out.kind = kind;
  if (int master = rtnl_link_get_master(link.get()); master > 0) {
    if (auto m = get_link(sock.get(), master, {}, what + ": master")) {
      if (const char* n = rtnl_link_get_name(m.get())) out.master = n;
      if (const char* kind = rtnl_link_get_type(m.get())) out.master_kind = kind;
    }
  }
  return out;
}

}  // namespace sandnet::hostnet
