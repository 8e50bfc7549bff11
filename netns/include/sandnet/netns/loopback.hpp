// Native loopback: what the `loopback` CNI plugin does, over netlink (libmnl),
// without exec'ing a plugin.
#pragma once

#include <string>
#include <vector>

namespace sandnet::netns {

// Sets `lo` up (RTM_NEWLINK, IFF_UP) inside the network namespace netns_fd.
// Throws Error with context ("loopback up: ...").
void bring_up_loopback(int netns_fd);

// lo's first IPv4 and first IPv6 address in CIDR form ("127.0.0.1/8",
// "::1/128"); empty when it has none of that family.
struct LoopbackAddresses {
  std::string ipv4, ipv6;
};

// bring_up_loopback, then lo's addresses (what the plugin reports without a
// prevResult), over the same route socket: one thread into the namespace,
// not two. Throws Error.
LoopbackAddresses bring_up_loopback_and_list(int netns_fd);

// The names of the links in the namespace netns_fd, after setting `lo` up
// there if bring_lo_up, over one route socket. Throws Error.
std::vector<std::string> list_links(int netns_fd, bool bring_lo_up);

// Sets `lo` down, as the plugin's DEL does. Throws Error.
void bring_down_loopback(int netns_fd);

}  // namespace sandnet::netns
