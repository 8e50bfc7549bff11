// Anti-spoofing for the daemon: turns a sandbox's CNI results into what each
// attachment may send from its host-side veth (hostnet::PortAllowance) and
// applies, removes and reconciles the sandbox's rules in the daemon's table.
// The blocking functions (netlink, libnftables) run on the blocking pool.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandnet/daemon/config.hpp"
#include "sandnet/daemon/state.hpp"
#include "sandnet/hostnet/link.hpp"
#include "sandnet/hostnet/spoof_guard.hpp"

namespace sandnet::daemon {

// What anti-spoofing does for one attachment: the allowance it enforces, or
// why it enforces nothing.
struct AttachmentGuard {
  std::string network;
  std::string ifname;
  std::optional<hostnet::PortAllowance> allowance;
  std::string why_not;  // set when there is no allowance
};

// A sandbox's rules: the key of its chains and one entry per attachment.
struct GuardPlan {
  hostnet::GuardKey key;
  std::vector<AttachmentGuard> attachments;
  // The allowances, in attachment order (empty: nothing to apply).
  hostnet::SandboxGuard guard() const;
};

// The key of a sandbox's chains: the first 24 hex digits of the SHA-512 of
// its ID (IDs may be longer than nft names and hold characters nft text
// would need quoted).
hostnet::GuardKey guard_key_for(std::string_view sandbox_id);

using HostLinkLookup = std::function<std::optional<hostnet::HostLink>(std::string_view name)>;

// One attachment's CNI result (any version; read as 1.0.0) to its guard.
// Guarded: the result names exactly one host-side interface (no "sandbox")
// that lookup finds to be a veth on a bridge; the sandbox-side interface
// named ifname gives the MAC, and the IPs on it (or on no interface) the
// addresses. No such host veth (macvlan, ipvlan, host-device, ptp): not
// guarded, why_not says so. A network in antiSpoofing.disabledNetworks: not
// guarded, "off for network X". Throws Error(invalid_argument) when a bridge
// veth is there but the result cannot be turned into an allowance (two
// bridge veths, no MAC, a bad address): such a sandbox must not be handed
// out unguarded.
AttachmentGuard describe_attachment(const AntiSpoofingSettings& settings, const AttachmentRecord& attachment,
                                    const HostLinkLookup& lookup);

// Blocking: every added attachment of record, host links looked up over
// netlink.
GuardPlan plan_guard(const AntiSpoofingSettings& settings, const SandboxRecord& record);

// Blocking: applies the plan's allowances in one batch (nothing when it has none).
void apply_guard(const AntiSpoofingSettings& settings, const GuardPlan& plan);
// Blocking: removes the sandbox's rules, if any (one batch).
void remove_guard(const AntiSpoofingSettings& settings, std::string_view sandbox_id);
// Blocking: removes the rules of every key that is not the key of one of
// live_ids, and applies the rules of each of served that has none (a crash
// between a setup's last ADD and its rules). Returns the removed keys and
// one line per failure.
struct ReconciledGuards {
  std::vector<std::string> removed;  // keys
  std::vector<std::string> errors;
};
ReconciledGuards reconcile_guards(const AntiSpoofingSettings& settings, const std::vector<std::string>& live_ids,
                                  const std::vector<SandboxRecord>& served = {});

// Blocking: sandbox.inspect's "antiSpoofing": per attachment what is
// enforced now (read back from the table) or why nothing is.
boost::json::array inspect_guard(const AntiSpoofingSettings& settings, const SandboxRecord& record);

}  // namespace sandnet::daemon
