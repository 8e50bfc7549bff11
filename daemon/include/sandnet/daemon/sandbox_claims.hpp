// What a sandbox holds exclusively: its network namespace (one netns, one
// sandbox) and the names of its CNI cache entries.
#pragma once

#include <sys/types.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sandnet/netns/pin.hpp"

namespace sandnet::daemon {

// A setup claims on a pool thread, after opening the netns and before
// pinning it; the claims go when the sandbox is forgotten (on the loop
// thread). Hence the mutex: the only state of the service shared that way.
class SandboxClaims {
 public:
  struct Holder {
    std::string id;
    uid_t owner_uid = 0;
  };
  // What a claim conflicts with: the other sandbox, and what it holds.
  struct Conflict {
    Holder holder;
    std::string what;  // "netns", or the cache entry's name
  };

  // Claims ns and the cache entry names for sandbox id, all or nothing.
  // libcni names entries "<network>-<id>-<ifname>", which is ambiguous
  // ("web" + "1-eth0" and "web-1" + "eth0"): a name another sandbox uses is
  // refused, so that no sandbox's entry overwrites another's.
  std::optional<Conflict> claim(const netns::NetnsIdentity& ns, const std::vector<std::string>& cache_names,
                                const std::string& id, uid_t owner_uid) {
    std::lock_guard lock(mu_);
    const Key key{ns.device, ns.inode};
    if (auto it = by_netns_.find(key); it != by_netns_.end() && it->second.id != id)
      return Conflict{it->second, "netns"};
    for (const auto& name : cache_names)
      if (auto it = by_cache_name_.find(name); it != by_cache_name_.end() && it->second.id != id)
        return Conflict{it->second, name};
    Holder holder{id, owner_uid};
    by_netns_[key] = holder;
    for (const auto& name : cache_names) by_cache_name_[name] = holder;
    held_[id] = Held{key, cache_names};
    return std::nullopt;
  }

  // The sandbox holding ns, if any (sandbox.explain: asks, claims nothing).
  std::optional<Holder> holder_of(const netns::NetnsIdentity& ns) {
    std::lock_guard lock(mu_);
    if (auto it = by_netns_.find(Key{ns.device, ns.inode}); it != by_netns_.end()) return it->second;
    return std::nullopt;
  }

  // Releases whatever sandbox id holds; a no-op when it holds nothing.
  void release(const std::string& id) {
    std::lock_guard lock(mu_);
    auto it = held_.find(id);
    if (it == held_.end()) return;
    by_netns_.erase(it->second.netns);
    for (const auto& name : it->second.cache_names) by_cache_name_.erase(name);
    held_.erase(it);
  }

 private:
  using Key = std::pair<std::uint64_t, std::uint64_t>;
  struct Held {
    Key netns;
    std::vector<std::string> cache_names;
  };
  std::mutex mu_;
  std::map<Key, Holder> by_netns_;
  std::map<std::string, Holder, std::less<>> by_cache_name_;
  std::map<std::string, Held, std::less<>> held_;
};

}  // namespace sandnet::daemon
