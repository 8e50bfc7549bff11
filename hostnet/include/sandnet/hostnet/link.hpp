// Facts about a network interface of the host (the calling thread's network
// namespace), read over rtnetlink. Blocking.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sandnet::hostnet {

struct HostLink {
  std::string name;
  std::string kind;         // "veth", "bridge", ... ("" for a physical device)
  std::string master;       // the device it is enslaved to ("" = none)
  std::string master_kind;  // "bridge" for a bridge port
  bool is_bridge_port() const noexcept { return !master.empty() && master_kind == "bridge"; }
};

// nullopt when there is no interface of that name.
std::optional<HostLink> find_host_link(std::string_view name);

}  // namespace sandnet::hostnet
