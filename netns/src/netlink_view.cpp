#include "sandnet/netns/netlink_view.hpp"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/route/rtnl.h>
#include <netlink/socket.h>

#include <memory>

#include "in_netns.hpp"
#include "sandnet/common/error.hpp"

namespace sandnet::netns {
namespace {

struct SockFree {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct CacheFree {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using SockPtr = std::unique_ptr<nl_sock, SockFree>;
using CachePtr = std::unique_ptr<nl_cache, CacheFree>;

[[noreturn]] void throw_nl(int nl_err, const std::string& what) {
  throw_error(errc::internal, what + ": " + nl_geterror(nl_err));
}

// "10.0.0.1/24" from a libnl address (always with the prefix length, unlike
// nl_addr2str which drops it for host addresses).
std::string cidr(nl_addr* addr) {
  if (addr == nullptr) return {};
  char text[INET6_ADDRSTRLEN] = {};
  int family = nl_addr_get_family(addr);
  if ((family != AF_INET && family != AF_INET6) ||
      ::inet_ntop(family, nl_addr_get_binary_addr(addr), text, sizeof text) == nullptr)
    return {};
  return std::string(text) + "/" + std::to_string(nl_addr_get_prefixlen(addr));
}

std::string bare_address(nl_addr* addr) {
  std::string with_prefix = cidr(addr);
  return with_prefix.substr(0, with_prefix.find('/'));
}

std::string family_name(int family) { return family == AF_INET6 ? "inet6" : family == AF_INET ? "inet" : "other"; }

std::string mac_of(rtnl_link* link) {
  nl_addr* addr = rtnl_link_get_addr(link);
  if (addr == nullptr || nl_addr_get_len(addr) == 0) return {};
  char text[64] = {};
  nl_addr2str(addr, text, sizeof text);
  return text;
}

std::string link_name(nl_cache* links, int index) {
  if (index <= 0) return {};
  char name[IFNAMSIZ + 1] = {};
  if (rtnl_link_i2name(links, index, name, sizeof name) == nullptr) return {};
  return name;
}

}  // namespace

const Link* Snapshot::find_link(const std::string& name) const {
  for (const Link& link : links)
    if (link.name == name) return &link;
  return nullptr;
}

Snapshot inspect(int netns_fd) {
  const std::string what = "netlink view";
  unique_fd fd = with_context(what, [&] { return detail::open_route_socket_in(netns_fd); });
  SockPtr sock(nl_socket_alloc());
  if (!sock) throw_error(errc::internal, what + ": nl_socket_alloc");
  // libnl takes the fd over (nl_socket_free closes it) and binds it.
  if (int err = nl_socket_set_fd(sock.get(), NETLINK_ROUTE, fd.get()); err < 0) throw_nl(err, what + ": set fd");
  fd.release();

  nl_cache* raw = nullptr;
  if (int err = rtnl_link_alloc_cache(sock.get(), AF_UNSPEC, &raw); err < 0) throw_nl(err, what + ": links");
  CachePtr links(raw);
  if (int err = rtnl_addr_alloc_cache(sock.get(), &raw); err < 0) throw_nl(err, what + ": addresses");
  CachePtr addrs(raw);
  if (int err = rtnl_route_alloc_cache(sock.get(), AF_UNSPEC, 0, &raw); err < 0) throw_nl(err, what + ": routes");
  CachePtr routes(raw);

  Snapshot snap;
  for (nl_object* obj = nl_cache_get_first(links.get()); obj != nullptr; obj = nl_cache_get_next(obj)) {
    auto* link = reinterpret_cast<rtnl_link*>(obj);
    Link out;
    out.index = rtnl_link_get_ifindex(link);
    if (const char* name = rtnl_link_get_name(link)) out.name = name;
    if (const char* kind = rtnl_link_get_type(link)) out.kind = kind;
    out.mac = mac_of(link);
    char state[32] = {};
    rtnl_link_operstate2str(rtnl_link_get_operstate(link), state, sizeof state);
    out.state = state;
    out.admin_up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
    out.mtu = rtnl_link_get_mtu(link);
    // IFLA_LINK: for a veth, the peer's index (in the peer's namespace).
    if (out.kind == "veth") out.peer_index = static_cast<int>(rtnl_link_get_link(link));
    out.master = link_name(links.get(), rtnl_link_get_master(link));
    snap.links.push_back(std::move(out));
  }

  for (nl_object* obj = nl_cache_get_first(addrs.get()); obj != nullptr; obj = nl_cache_get_next(obj)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(obj);
    Address out;
    out.ifindex = rtnl_addr_get_ifindex(addr);
    out.ifname = link_name(links.get(), out.ifindex);
    out.family = family_name(rtnl_addr_get_family(addr));
    out.address = cidr(rtnl_addr_get_local(addr));
    char scope[32] = {};
    rtnl_scope2str(rtnl_addr_get_scope(addr), scope, sizeof scope);
    out.scope = scope;
    snap.addresses.push_back(std::move(out));
  }

  for (nl_object* obj = nl_cache_get_first(routes.get()); obj != nullptr; obj = nl_cache_get_next(obj)) {
    auto* route = reinterpret_cast<rtnl_route*>(obj);
    if (rtnl_route_get_table(route) != RT_TABLE_MAIN || rtnl_route_get_type(route) != RTN_UNICAST) continue;
    Route out;
    out.family = family_name(rtnl_route_get_family(route));
    nl_addr* dst = rtnl_route_get_dst(route);
    out.dst = (dst == nullptr || nl_addr_get_prefixlen(dst) == 0) ? "default" : cidr(dst);
    out.table = static_cast<int>(rtnl_route_get_table(route));
    out.metric = rtnl_route_get_priority(route);
    if (rtnl_route_get_nnexthops(route) > 0) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(route, 0);
      out.gateway = bare_address(rtnl_route_nh_get_gateway(nh));
      out.dev = link_name(links.get(), rtnl_route_nh_get_ifindex(nh));
    }
    snap.routes.push_back(std::move(out));
  }
  return snap;
}

}  // namespace sandnet::netns
