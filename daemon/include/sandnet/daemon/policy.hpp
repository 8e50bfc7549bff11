// Who may do what. Pure decisions over a Config, the caller's SO_PEERCRED
// identity and facts about the sandbox's netns: no I/O, no root needed to test.
// A refusal throws Error(errc::permission_denied, "<why>"); bad shapes in the
// request (a portMappings entry without a hostPort) throw invalid_argument.
#pragma once

#include <sys/types.h>

#include <boost/json.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "sandnet/common/capabilities.hpp"
#include "sandnet/daemon/config.hpp"
#include "sandnet/netns/facts.hpp"

namespace sandnet::daemon {

// The peer of a connection, from SO_PEERCRED and SO_PEERGROUPS (never from
// the request body): the credentials of the process that called connect(),
// as they were then.
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  std::vector<gid_t> groups;  // supplementary groups (may include gid)
  bool is_root() const noexcept { return uid == 0; }
};

// The rule that governs caller. Root is unrestricted: returns nullptr. For
// anyone else, in this order:
//   1. the first rule (config order) naming the caller's uid (uid/user);
//   2. else the first naming its primary gid (gid/group);
//   3. else the first gid/group rule, in config order, naming any of its
//      supplementary groups (the order of the caller's groups plays no part).
// None -> permission_denied ("no policy rule for uid 1501 (gid 1501, ...)").
const PolicyRule* rule_for(const Config& config, const Caller& caller);

// Whether rule_for would find a rule (root: always), without throwing; the
// server gives callers without one fewer connections.
bool has_policy_rule(const Config& config, const Caller& caller) noexcept;

// What a sandbox.setup asks for, as far as policy cares.
struct SetupAsk {
  std::vector<std::string> networks;  // resolved names (defaults already applied)
  capabilities::CapabilityArgs capabilities;  // runtimeConfig, already parsed and checked
  std::vector<std::string> arg_keys;  // CNI_ARGS keys asked for
  std::size_t sandboxes_owned = 0;    // sandboxes the caller has now, this one excluded
  // The caller's own subordinate ranges (/etc/subuid, /etc/subgid), when
  // idMappings.subordinate is on: allowed besides idMappings.
  std::vector<protocol::IdRange> subordinate_uids, subordinate_gids;
};

// Decides a setup. Always refused (root too): the host's or the daemon's own
// netns. For non-root callers additionally: the netns must be owned by a
// non-initial user namespace whose owner uid is the caller's; every uid/gid
// map entry must lie inside idMappings or map only the caller's own uid/gid
// (unknown maps are refused); every network, capability key and portMappings
// hostPort must be allowed by the caller's rule; maxSandboxes must not be
// reached. Returns the rule applied (nullptr for root).
const PolicyRule* authorize_setup(const Config& config, const Caller& caller,
                                  const netns::NamespaceFacts& facts, const SetupAsk& ask);

// teardown/check/get/inspect of an existing sandbox: its owner or root.
// Deliberately needs no policy rule, so a user whose rule was removed by a
// reload can still clean up. Refusal: "sandbox pod1 belongs to uid 1502".
void authorize_access(const Caller& caller, uid_t owner_uid, std::string_view sandbox_id);

// Root-only operations (gc). what names the operation in the refusal.
void authorize_root(const Caller& caller, std::string_view what);

// Whether caller may attach to network (root: always; no rule: never).
bool may_use_network(const Config& config, const Caller& caller, std::string_view network) noexcept;

// The subset of networks the caller may use, order kept (for networks.list).
std::vector<std::string> filter_networks(const Config& config, const Caller& caller,
                                         const std::vector<std::string>& networks);

}  // namespace sandnet::daemon
