#include "sandnet/netns/loopback.hpp"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <string>
#include <vector>

#include "in_netns.hpp"
#include "sandnet/common/error.hpp"

namespace sandnet::netns {
namespace {

// The kernel gives every network namespace's loopback device this index
// (LOOPBACK_IFINDEX, include/net/net_namespace.h).
constexpr unsigned kLoopbackIndex = 1;

// Receives replies to the request numbered seq until the ACK or the end of a
// dump, handing each data message to cb.
void receive_until_done(int sock, unsigned seq, mnl_cb_t cb, void* data, const std::string& what) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  for (;;) {
    ssize_t n = ::recv(sock, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(what + ": receive");
    // portid 0: the socket is unbound, the kernel assigned one; check seq only.
    int ret = mnl_cb_run(buf.data(), static_cast<std::size_t>(n), seq, 0, cb, data);
    if (ret == MNL_CB_ERROR) throw_errno(what);
    if (ret == MNL_CB_STOP) return;  // the ACK, or NLMSG_DONE
  }
}

void send_request(int sock, nlmsghdr* nlh, const std::string& what) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(sock, nlh, nlh->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    throw_errno(what + ": send");
}

// Sends one RTM_NEWLINK for `lo` that sets or clears IFF_UP, and waits for
// the kernel's ACK (or error).
void set_loopback_up(int sock, bool up, const std::string& what) {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  const auto seq = static_cast<unsigned>(::time(nullptr));
  nlh->nlmsg_seq = seq;
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_change = IFF_UP;
  ifm->ifi_flags = up ? IFF_UP : 0;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, "lo");  // by name: no index assumption
  send_request(sock, nlh, what + ": RTM_NEWLINK lo");
  receive_until_done(sock, seq, nullptr, nullptr, what + ": RTM_NEWLINK lo");
}

int collect_loopback_address(const nlmsghdr* nlh, void* data) {
  auto* out = static_cast<LoopbackAddresses*>(data);
  const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
  if (ifa->ifa_index != kLoopbackIndex) return MNL_CB_OK;
  std::string* into = ifa->ifa_family == AF_INET ? &out->ipv4 : ifa->ifa_family == AF_INET6 ? &out->ipv6 : nullptr;
  if (!into || !into->empty()) return MNL_CB_OK;
  // IPv4 keeps the interface's own address in IFA_LOCAL; IPv6 has only IFA_ADDRESS.
  const nlattr* local = nullptr;
  const nlattr* address = nullptr;
  const char* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  for (auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(*ifa)));
       mnl_attr_ok(attr, static_cast<int>(tail - reinterpret_cast<const char*>(attr))); attr = mnl_attr_next(attr)) {
    if (mnl_attr_get_type(attr) == IFA_LOCAL) local = attr;
    if (mnl_attr_get_type(attr) == IFA_ADDRESS) address = attr;
  }
  const nlattr* chosen = local ? local : address;
  if (!chosen) return MNL_CB_OK;
  char text[INET6_ADDRSTRLEN] = {};
  if (!::inet_ntop(ifa->ifa_family, mnl_attr_get_payload(chosen), text, sizeof text)) return MNL_CB_OK;
  *into = std::string(text) + "/" + std::to_string(ifa->ifa_prefixlen);
  return MNL_CB_OK;
}

// A route socket inside netns_fd with lo set up or down on it.
unique_fd set_loopback_in(int netns_fd, bool up, const std::string& what) {
  unique_fd sock = with_context(what, [&] { return detail::open_route_socket_in(netns_fd); });
  set_loopback_up(sock.get(), up, what);
  return sock;
}

int collect_link_name(const nlmsghdr* nlh, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  const char* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  for (auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(ifinfomsg)));
       mnl_attr_ok(attr, static_cast<int>(tail - reinterpret_cast<const char*>(attr))); attr = mnl_attr_next(attr)) {
    if (mnl_attr_get_type(attr) == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
      out->emplace_back(mnl_attr_get_str(attr));
  }
  return MNL_CB_OK;
}

}  // namespace

std::vector<std::string> list_links(int netns_fd, bool bring_lo_up) {
  const std::string what = "list links";
  unique_fd sock = bring_lo_up ? set_loopback_in(netns_fd, true, what)
                               : with_context(what, [&] { return detail::open_route_socket_in(netns_fd); });
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_GETLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  const auto seq = static_cast<unsigned>(::time(nullptr)) + 2;
  nlh->nlmsg_seq = seq;
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  send_request(sock.get(), nlh, what + ": RTM_GETLINK");
  std::vector<std::string> names;
  receive_until_done(sock.get(), seq, collect_link_name, &names, what + ": RTM_GETLINK");
  return names;
}

void bring_up_loopback(int netns_fd) { set_loopback_in(netns_fd, true, "loopback up"); }

void bring_down_loopback(int netns_fd) { set_loopback_in(netns_fd, false, "loopback down"); }

LoopbackAddresses bring_up_loopback_and_list(int netns_fd) {
  const std::string what = "loopback up";
  unique_fd sock = set_loopback_in(netns_fd, true, what);

  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_GETADDR;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  const auto seq = static_cast<unsigned>(::time(nullptr)) + 1;
  nlh->nlmsg_seq = seq;
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = AF_UNSPEC;
  send_request(sock.get(), nlh, what + ": RTM_GETADDR");
  LoopbackAddresses out;
  receive_until_done(sock.get(), seq, collect_loopback_address, &out, what + ": RTM_GETADDR");
  return out;
}

}  // namespace sandnet::netns
