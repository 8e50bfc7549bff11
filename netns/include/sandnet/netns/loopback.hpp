// Native loopback: what the `loopback` CNI plugin does, over netlink (libmnl),
// without exec'ing a plugin.
#pragma once

namespace sandnet::netns {

// Sets `lo` up (RTM_NEWLINK, IFF_UP) inside the network namespace netns_fd.
// Throws Error with context ("loopback up: ...").
void bring_up_loopback(int netns_fd);

// Sets `lo` down, as the plugin's DEL does. Throws Error.
void bring_down_loopback(int netns_fd);

}  // namespace sandnet::netns
