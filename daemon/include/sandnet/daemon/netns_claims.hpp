// One network namespace, one sandbox: which sandbox holds which namespace.
#pragma once

#include <sys/types.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "sandnet/netns/pin.hpp"

namespace sandnet::daemon {

// A setup claims its namespace on a pool thread, after opening it and before
// pinning it; the claim goes when the sandbox is forgotten (on the loop
// thread). Hence the mutex: the only state of the service shared that way.
class NetnsClaims {
 public:
  struct Holder {
    std::string id;
    uid_t owner_uid = 0;
  };

  // Claims ns for sandbox id. Returns the holder, and claims nothing, if
  // another sandbox holds ns already.
  std::optional<Holder> claim(const netns::NetnsIdentity& ns, const std::string& id, uid_t owner_uid) {
    std::lock_guard lock(mu_);
    const Key key{ns.device, ns.inode};
    if (auto it = by_netns_.find(key); it != by_netns_.end() && it->second.id != id) return it->second;
    by_netns_[key] = Holder{id, owner_uid};
    by_id_[id] = key;
    return std::nullopt;
  }

  // Releases whatever sandbox id holds; a no-op when it holds nothing.
  void release(const std::string& id) {
    std::lock_guard lock(mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    by_netns_.erase(it->second);
    by_id_.erase(it);
  }

 private:
  using Key = std::pair<std::uint64_t, std::uint64_t>;
  std::mutex mu_;
  std::map<Key, Holder> by_netns_;
  std::map<std::string, Key, std::less<>> by_id_;
};

}  // namespace sandnet::daemon
