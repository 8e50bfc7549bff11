#include "sandnet/daemon/policy.hpp"

#include <algorithm>
#include <cstdint>

#include "sandnet/common/error.hpp"

namespace sandnet::daemon {
namespace json = boost::json;

namespace {

// The rule for a non-root caller, nullptr when no rule names it; the
// precedence is rule_for's (policy.hpp).
const PolicyRule* find_rule(const Config& config, const Caller& caller) noexcept {
  for (const auto& rule : config.policy) {
    if (rule.subject == PolicyRule::Subject::uid && rule.id == caller.uid) return &rule;
  }
  for (const auto& rule : config.policy) {
    if (rule.subject == PolicyRule::Subject::gid && rule.id == caller.gid) return &rule;
  }
  for (const auto& rule : config.policy) {
    if (rule.subject == PolicyRule::Subject::gid &&
        std::find(caller.groups.begin(), caller.groups.end(), rule.id) != caller.groups.end())
      return &rule;
  }
  return nullptr;
}

// "gid 1501" or "gid 1501, groups 27,100": what find_rule looked at.
std::string describe_groups(const Caller& caller) {
  std::string out = "gid " + std::to_string(caller.gid);
  constexpr std::size_t kShown = 16;  // a refusal line stays short
  for (std::size_t i = 0; i < caller.groups.size() && i < kShown; ++i)
    out += (i == 0 ? ", groups " : ",") + std::to_string(caller.groups[i]);
  if (caller.groups.size() > kShown) out += ",...";
  return out;
}

[[noreturn]] void refuse(std::string why) {
  throw_error(errc::permission_denied, std::move(why));
}

bool inside_ranges(const std::vector<protocol::IdRange>& ranges, const netns::IdMapEntry& e) {
  const std::uint64_t first = e.outside;
  const std::uint64_t end = first + e.count;
  for (const auto& r : ranges) {
    if (first >= r.host_id && end <= static_cast<std::uint64_t>(r.host_id) + r.size) return true;
  }
  return false;
}

// Every entry of the map must lie inside the configured host ranges or map
// exactly the caller's own ID: otherwise a root helper (newuidmap, a
// misconfigured runtime) could have handed the caller's namespace host IDs
// the caller must not control, such as host root.
void check_id_map(const std::vector<netns::IdMapEntry>& map,
                  const std::vector<protocol::IdRange>& ranges,
                  const std::vector<protocol::IdRange>& subordinate, std::uint32_t own_id,
                  std::string_view kind) {
  if (map.empty())
    refuse("the " + std::string(kind) +
           " map of the sandbox's user namespace is unknown; pass the sandbox by pid or pidfd so "
           "it can be read");
  for (const auto& e : map) {
    if (e.count == 0) continue;
    if (e.count == 1 && e.outside == own_id) continue;
    if (inside_ranges(ranges, e) || inside_ranges(subordinate, e)) continue;
    refuse("the sandbox's " + std::string(kind) + " map entry \"" + std::to_string(e.inside) + " " +
           std::to_string(e.outside) + " " + std::to_string(e.count) + "\" maps host " +
           std::string(kind) + "s outside idMappings." + std::string(kind) +
           "s and the caller's subordinate " + std::string(kind) + "s, and is not the caller's own " +
           std::string(kind) + " " + std::to_string(own_id) +
           " (`sandnetctl info` lists the ranges this caller may map)");
  }
}

void check_port_mappings(const PolicyRule& rule, const std::vector<capabilities::PortMapping>& mappings,
                         const Caller& caller) {
  for (const auto& m : mappings) {
    if (!rule.allows_host_port(m.host_port))
      refuse("host port " + std::to_string(m.host_port) + " is not in the hostPorts allowed for uid " +
             std::to_string(caller.uid) + " (policy rule " + rule.description + ")");
  }
}

}  // namespace

bool has_policy_rule(const Config& config, const Caller& caller) noexcept {
  return caller.is_root() || find_rule(config, caller) != nullptr;
}

const PolicyRule* rule_for(const Config& config, const Caller& caller) {
  if (caller.is_root()) return nullptr;
  const PolicyRule* rule = find_rule(config, caller);
  if (!rule)
    refuse("no policy rule for uid " + std::to_string(caller.uid) + " (" + describe_groups(caller) +
           "): an administrator grants one in sandnetd.json's \"policy\"");
  return rule;
}

const PolicyRule* authorize_setup(const Config& config, const Caller& caller,
                                  const netns::NamespaceFacts& facts, const SetupAsk& ask) {
  // Refused for everyone: configuring these would rewire the host itself.
  if (facts.is_host) refuse("the host's network namespace cannot be used as a sandbox: did the container get a network namespace "
           "of its own (OCI linux.namespaces \"network\")?");
  if (facts.is_self) refuse("the daemon's own network namespace cannot be used as a sandbox: pass the sandbox's process or netns, "
           "not the daemon's");
  if (caller.is_root()) return nullptr;

  const PolicyRule* rule = rule_for(config, caller);
  if (facts.owner_is_initial_userns)
    refuse("the network namespace is owned by the host's user namespace; uid " +
           std::to_string(caller.uid) +
           " may only use a network namespace owned by a user namespace it created: create the sandbox's user "
           "namespace first (OCI linux.namespaces \"user\"), or let the daemon make both (\"create\")");
  if (facts.owner_uid != caller.uid)
    refuse("the sandbox's user namespace belongs to uid " + std::to_string(facts.owner_uid) +
           ", not to the caller (uid " + std::to_string(caller.uid) +
           "): a sandbox's user namespace must be made by the runtime of the uid that asks");
  check_id_map(facts.uid_map, config.id_mappings.uids, ask.subordinate_uids, caller.uid, "uid");
  check_id_map(facts.gid_map, config.id_mappings.gids, ask.subordinate_gids, caller.gid, "gid");

  for (const auto& network : ask.networks) {
    if (!rule->allows_network(network))
      refuse("network \"" + network + "\" is not allowed for uid " + std::to_string(caller.uid) +
             " (policy rule " + rule->description + "; `sandnetctl networks` lists the ones it may use)");
  }
  for (const auto& name : ask.capabilities.names()) {
    if (!rule->allows_capability(name))
      refuse("capability \"" + name + "\" is not allowed for uid " + std::to_string(caller.uid) +
             " (policy rule " + rule->description + ")");
  }
  if (ask.capabilities.port_mappings) check_port_mappings(*rule, *ask.capabilities.port_mappings, caller);
  for (const auto& key : ask.arg_keys) {
    if (!rule->allows_arg(key))
      refuse("CNI argument \"" + key + "\" is not allowed for uid " + std::to_string(caller.uid) +
             " (policy rule " + rule->description + ")");
  }
  if (rule->max_sandboxes && ask.sandboxes_owned >= *rule->max_sandboxes)
    refuse("uid " + std::to_string(caller.uid) + " already has " +
           std::to_string(ask.sandboxes_owned) + " sandboxes (maxSandboxes " +
           std::to_string(*rule->max_sandboxes) + " in policy rule " + rule->description + ")");
  return rule;
}

void authorize_access(const Caller& caller, uid_t owner_uid, std::string_view sandbox_id) {
  if (caller.is_root() || caller.uid == owner_uid) return;
  refuse("sandbox " + std::string(sandbox_id) + " belongs to uid " + std::to_string(owner_uid) +
         ", not to uid " + std::to_string(caller.uid));
}

void authorize_root(const Caller& caller, std::string_view what) {
  if (!caller.is_root())
    refuse(std::string(what) + " is for root only (caller is uid " + std::to_string(caller.uid) +
           ")");
}

bool may_use_network(const Config& config, const Caller& caller,
                     std::string_view network) noexcept {
  if (caller.is_root()) return true;
  const PolicyRule* rule = find_rule(config, caller);
  return rule && rule->allows_network(network);
}

std::vector<std::string> filter_networks(const Config& config, const Caller& caller,
                                         const std::vector<std::string>& networks) {
  std::vector<std::string> out;
  for (const auto& n : networks) {
    if (may_use_network(config, caller, n)) out.push_back(n);
  }
  return out;
}

}  // namespace sandnet::daemon
