// A read-only netlink view of a network namespace (libnl-route): links,
// addresses, routes. The netlink socket is opened inside the namespace by a
// short-lived thread (setns only there) and used from the caller's thread.
// The namespace may belong to a hostile sandbox (60 000 routes): each dump is
// read one message at a time and at most max_entries of a kind are kept.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace sandnet::netns {

struct Link {
  int index = 0;
  std::string name;
  std::string kind;   // "veth", "bridge", ... ; empty for lo / physical
  std::string mac;    // "aa:bb:cc:dd:ee:ff"; empty when none
  std::string state;  // operstate: "up", "down", "unknown", ...
  bool admin_up = false;  // IFF_UP
  unsigned mtu = 0;
  int peer_index = 0;     // veth (or other link-netns) peer ifindex; 0 if none
  std::string master;     // name of the master (bridge) in the same netns
};

struct Address {
  int ifindex = 0;
  std::string ifname;
  std::string family;   // "inet" or "inet6"
  std::string address;  // CIDR: "10.202.0.2/24"
  std::string scope;    // "host", "link", "global", ...
};

struct Route {
  std::string family;   // "inet" or "inet6"
  std::string dst;      // CIDR, "default" for 0/0
  std::string gateway;  // empty when none
  std::string dev;      // output interface name; empty when none
  int table = 0;
  unsigned metric = 0;
};

// What inspect() keeps of each kind by default.
inline constexpr std::size_t kInspectMaxEntries = 1000;

struct Snapshot {
  std::vector<Link> links;
  std::vector<Address> addresses;
  std::vector<Route> routes;  // main table only (unicast routes)
  // How many the namespace holds; more than kept when the view is truncated.
  std::size_t total_links = 0;
  std::size_t total_addresses = 0;
  std::size_t total_routes = 0;

  bool truncated() const noexcept {
    return total_links > links.size() || total_addresses > addresses.size() || total_routes > routes.size();
  }

  const Link* find_link(const std::string& name) const;
};

// Reads the links, addresses and main-table routes of the namespace, the
// first max_entries of each (in the kernel's order) and the count of all.
// Throws Error ("netlink view: ...").
Snapshot inspect(int netns_fd, std::size_t max_entries = kInspectMaxEntries);

}  // namespace sandnet::netns
