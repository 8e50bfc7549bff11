#include "sandnet/netns/loopback.hpp"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <string>
#include <vector>

#include "in_netns.hpp"
#include "sandnet/common/error.hpp"

namespace sandnet::netns {
namespace {

// Sends one RTM_NEWLINK for `lo` that sets or clears IFF_UP, and waits for
// the kernel's ACK (or error).
void set_loopback_up(int netns_fd, bool up, const std::string& what) {
  unique_fd sock = with_context(what, [&] { return detail::open_route_socket_in(netns_fd); });

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

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(sock.get(), nlh, nlh->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    throw_errno(what + ": send RTM_NEWLINK");

  for (;;) {
    ssize_t n = ::recv(sock.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(what + ": receive ACK");
    // portid 0: the socket is unbound, the kernel assigned one; check seq only.
    int ret = mnl_cb_run(buf.data(), static_cast<std::size_t>(n), seq, 0, nullptr, nullptr);
    if (ret == MNL_CB_ERROR) throw_errno(what + ": RTM_NEWLINK lo");
    if (ret == MNL_CB_STOP) return;  // the ACK
  }
}

}  // namespace

void bring_up_loopback(int netns_fd) { set_loopback_up(netns_fd, true, "loopback up"); }

void bring_down_loopback(int netns_fd) { set_loopback_up(netns_fd, false, "loopback down"); }

}  // namespace sandnet::netns
