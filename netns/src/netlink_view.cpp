#include "sandnet/netns/netlink_view.hpp"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/route/rtnl.h>
#include <netlink/socket.h>

#include <exception>
#include <map>
#include <memory>

#include "in_netns.hpp"
#include "sandnet/common/error.hpp"

namespace sandnet::netns {
namespace {

struct SockFree {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
using SockPtr = std::unique_ptr<nl_sock, SockFree>;

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

struct CbFree {
  void operator()(nl_cb* cb) const { nl_cb_put(cb); }
};

// Dumps one kind of object (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE) and hands
// each to visit as its message arrives: only what visit keeps stays in memory
// (a libnl cache would hold all of them at once).
template <class Visit>
void dump(nl_sock* sock, int type, const std::string& what, Visit visit) {
  struct Context {
    Visit* visit;
    std::exception_ptr error;

    static void on_object(nl_object* obj, void* arg) {
      auto* c = static_cast<Context*>(arg);
      if (c->error) return;
      try {
        (*c->visit)(obj);
      } catch (...) {
        c->error = std::current_exception();
      }
    }
    static int on_message(nl_msg* msg, void* arg) {
      // An object libnl cannot parse is skipped, as its cache would.
      nl_msg_parse(msg, &Context::on_object, arg);
      return NL_OK;
    }
  } context{&visit, nullptr};
  std::unique_ptr<nl_cb, CbFree> cb(nl_cb_alloc(NL_CB_DEFAULT));
  if (!cb) throw_error(errc::internal, what + ": nl_cb_alloc");
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, &Context::on_message, &context);
  if (int err = nl_rtgen_request(sock, type, AF_UNSPEC, NLM_F_DUMP); err < 0) throw_nl(err, what);
  if (int err = nl_recvmsgs(sock, cb.get()); err < 0) throw_nl(err, what);
  if (context.error) std::rethrow_exception(context.error);
}

}  // namespace

const Link* Snapshot::find_link(const std::string& name) const {
  for (const Link& link : links)
    if (link.name == name) return &link;
  return nullptr;
}

Snapshot inspect(int netns_fd, std::size_t max_entries) {
  const std::string what = "netlink view";
  unique_fd fd = with_context(what, [&] { return detail::open_route_socket_in(netns_fd); });
  SockPtr sock(nl_socket_alloc());
  if (!sock) throw_error(errc::internal, what + ": nl_socket_alloc");
  // libnl takes the fd over (nl_socket_free closes it) and binds it.
  if (int err = nl_socket_set_fd(sock.get(), NETLINK_ROUTE, fd.get()); err < 0) throw_nl(err, what + ": set fd");
  fd.release();

  Snapshot snap;
  // Every link's name (small), for the addresses' and routes' interfaces.
  std::map<int, std::string> names;
  std::vector<int> masters;  // of the kept links, resolved once all names are known
  dump(sock.get(), RTM_GETLINK, what + ": links", [&](nl_object* obj) {
    auto* link = reinterpret_cast<rtnl_link*>(obj);
    const int index = rtnl_link_get_ifindex(link);
    const char* name = rtnl_link_get_name(link);
    names[index] = name ? name : "";
    if (++snap.total_links > max_entries) return;
    Link out;
    out.index = index;
    out.name = names[index];
    if (const char* kind = rtnl_link_get_type(link)) out.kind = kind;
    out.mac = mac_of(link);
    char state[32] = {};
    rtnl_link_operstate2str(rtnl_link_get_operstate(link), state, sizeof state);
    out.state = state;
    out.admin_up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
    out.mtu = rtnl_link_get_mtu(link);
    // IFLA_LINK: for a veth, the peer's index (in the peer's namespace).
    if (out.kind == "veth") out.peer_index = static_cast<int>(rtnl_link_get_link(link));
    masters.push_back(rtnl_link_get_master(link));
    snap.links.push_back(std::move(out));
  });
  auto name_of = [&](int index) -> std::string {
    auto it = names.find(index);
    return it == names.end() ? std::string() : it->second;
  };
  for (std::size_t i = 0; i < snap.links.size(); ++i) snap.links[i].master = name_of(masters[i]);

  dump(sock.get(), RTM_GETADDR, what + ": addresses", [&](nl_object* obj) {
    if (++snap.total_addresses > max_entries) return;
    auto* addr = reinterpret_cast<rtnl_addr*>(obj);
    Address out;
    out.ifindex = rtnl_addr_get_ifindex(addr);
    out.ifname = name_of(out.ifindex);
    out.family = family_name(rtnl_addr_get_family(addr));
    out.address = cidr(rtnl_addr_get_local(addr));
    char scope[32] = {};
    rtnl_scope2str(rtnl_addr_get_scope(addr), scope, sizeof scope);
    out.scope = scope;
    snap.addresses.push_back(std::move(out));
  });

  dump(sock.get(), RTM_GETROUTE, what + ": routes", [&](nl_object* obj) {
    auto* route = reinterpret_cast<rtnl_route*>(obj);
    if (rtnl_route_get_table(route) != RT_TABLE_MAIN || rtnl_route_get_type(route) != RTN_UNICAST) return;
    if (++snap.total_routes > max_entries) return;
    Route out;
    out.family = family_name(rtnl_route_get_family(route));
    nl_addr* dst = rtnl_route_get_dst(route);
    out.dst = (dst == nullptr || nl_addr_get_prefixlen(dst) == 0) ? "default" : cidr(dst);
    out.table = static_cast<int>(rtnl_route_get_table(route));
    out.metric = rtnl_route_get_priority(route);
    if (rtnl_route_get_nnexthops(route) > 0) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(route, 0);
      out.gateway = bare_address(rtnl_route_nh_get_gateway(nh));
      out.dev = name_of(rtnl_route_nh_get_ifindex(nh));
    }
    snap.routes.push_back(std::move(out));
  });
  return snap;
}

}  // namespace sandnet::netns
