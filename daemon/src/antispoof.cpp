#include "antispoof.hpp"

#include <algorithm>
#include <set>

#include "sandnet/cni/result.hpp"
#include "sandnet/cni/sha512.hpp"
#include "sandnet/common/error.hpp"

namespace sandnet::daemon {
namespace json = boost::json;

namespace {

constexpr std::size_t kKeyHexDigits = 24;

hostnet::SpoofGuardTable table_of(const AntiSpoofingSettings& settings) {
  return hostnet::SpoofGuardTable(hostnet::NftName::parse(settings.table));
}

std::string string_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

bool in_sandbox(const json::object& iface) { return !string_field(iface, "sandbox").empty(); }

}  // namespace

hostnet::SandboxGuard GuardPlan::guard() const {
  hostnet::SandboxGuard g{key, {}};
  for (const auto& a : attachments)
    if (a.allowance) g.ports.push_back(*a.allowance);
  return g;
}

hostnet::GuardKey guard_key_for(std::string_view sandbox_id) {
  return hostnet::GuardKey::parse(cni::sha512_hex(sandbox_id).substr(0, kKeyHexDigits));
}

AttachmentGuard describe_attachment(const AntiSpoofingSettings& settings, const AttachmentRecord& att,
                                    const HostLinkLookup& lookup) {
  AttachmentGuard out{att.network, att.ifname, std::nullopt, {}};
  if (!settings.enabled_for(att.network)) {
    out.why_not = "off for network " + att.network;
    return out;
  }
  if (!att.result.is_object()) {
    out.why_not = "no CNI result";
    return out;
  }
  const std::string context = "anti-spoofing for " + att.network + " " + att.ifname;
  const json::object result = with_context(context, [&] { return cni::convert_result(att.result.get_object(), "1.0.0"); });
  const json::array empty;
  const auto* ifaces_value = result.if_contains("interfaces");
  const json::array& ifaces = ifaces_value && ifaces_value->is_array() ? ifaces_value->get_array() : empty;

  // The host end: a host-side interface of the result that is a veth on a bridge.
  std::vector<std::string> bridge_veths;
  for (const auto& v : ifaces) {
    if (!v.is_object() || in_sandbox(v.get_object())) continue;
    std::string name = string_field(v.get_object(), "name");
    if (name.empty()) continue;
    auto link = lookup(name);
    if (link && link->kind == "veth" && link->is_bridge_port()) bridge_veths.push_back(std::move(name));
  }
  if (bridge_veths.empty()) {
    out.why_not = "not enforced: the CNI result has no host-side veth on a bridge";
    return out;
  }
  if (bridge_veths.size() > 1)
    throw_error(errc::invalid_argument, context + ": the CNI result has " + std::to_string(bridge_veths.size()) +
                                            " host-side veths on bridges; cannot tell which one is " + att.ifname +
                                            "'s (turn anti-spoofing off for this network)");

  // The sandbox end: the interface named ifname inside the sandbox.
  std::optional<std::size_t> sandbox_index;
  for (std::size_t i = 0; i < ifaces.size(); ++i) {
    const auto* o = ifaces[i].if_object();
    if (o && in_sandbox(*o) && string_field(*o, "name") == att.ifname) sandbox_index = i;
  }
  if (!sandbox_index)
    throw_error(errc::invalid_argument, context + ": the CNI result names no sandbox interface " + att.ifname);
  const std::string mac_text = string_field(ifaces[*sandbox_index].get_object(), "mac");
  if (mac_text.empty())
    throw_error(errc::invalid_argument, context + ": the CNI result gives no MAC address for " + att.ifname);

  return with_context(context, [&] {
    auto mac = hostnet::MacAddress::parse(mac_text);
    std::vector<hostnet::Ipv4Address> v4;
    std::vector<hostnet::Ipv6Address> v6;
    if (const auto* ips = result.if_contains("ips"); ips && ips->is_array()) {
      for (const auto& ip : ips->get_array()) {
        const auto* o = ip.if_object();
        if (!o) continue;
        // An address on another interface (the host side) is not the sandbox's.
        if (const auto* idx = o->if_contains("interface"); idx && idx->is_number() &&
                                                            idx->to_number<std::int64_t>() != static_cast<std::int64_t>(*sandbox_index))
          continue;
        std::string address = string_field(*o, "address");
        if (address.empty()) continue;
        if (hostnet::looks_like_ipv6(address)) v6.push_back(hostnet::Ipv6Address::parse(address));
        else v4.push_back(hostnet::Ipv4Address::parse(address));
      }
    }
    out.allowance = hostnet::make_port_allowance(bridge_veths.front(), mac, std::move(v4), std::move(v6));
    return out;
  });
}

GuardPlan plan_guard(const AntiSpoofingSettings& settings, const SandboxRecord& record) {
  GuardPlan plan{guard_key_for(record.id), {}};
  HostLinkLookup lookup = [](std::string_view name) { return hostnet::find_host_link(name); };
  for (const auto& att : record.attachments) {
    if (att.phase != AttachmentPhase::added) continue;
    plan.attachments.push_back(describe_attachment(settings, att, lookup));
  }
  return plan;
}

void apply_guard(const AntiSpoofingSettings& settings, const GuardPlan& plan) {
  auto guard = plan.guard();
  if (guard.ports.empty()) return;
  table_of(settings).apply(guard);
}

void remove_guard(const AntiSpoofingSettings& settings, std::string_view sandbox_id) {
  table_of(settings).remove(guard_key_for(sandbox_id));
}

ReconciledGuards reconcile_guards(const AntiSpoofingSettings& settings, const std::vector<std::string>& live_ids,
                                  const std::vector<SandboxRecord>& served) {
  ReconciledGuards out;
  auto table = table_of(settings);
  std::set<hostnet::GuardKey> live;
  for (const auto& id : live_ids) live.insert(guard_key_for(id));
  const auto present = table.keys();
  for (const auto& key : present) {
    if (live.count(key)) continue;
    try {
      table.remove(key);
      out.removed.push_back(key.str());
    } catch (const std::exception& e) {
      out.errors.emplace_back(e.what());
    }
  }
  // A sandbox's rules are applied in one batch: present means complete.
  for (const auto& record : served) {
    if (std::find(present.begin(), present.end(), guard_key_for(record.id)) != present.end()) continue;
    try {
      apply_guard(settings, plan_guard(settings, record));
    } catch (const std::exception& e) {
      out.errors.push_back(record.id + ": " + e.what());
    }
  }
  return out;
}

json::array inspect_guard(const AntiSpoofingSettings& settings, const SandboxRecord& record) {
  // What the table holds now; a table that cannot be read is reported per
  // attachment rather than failing the whole inspect.
  std::vector<hostnet::GuardedPort> present;
  std::string unreadable;
  try {
    present = table_of(settings).ports_of(guard_key_for(record.id));
  } catch (const std::exception& e) {
    unreadable = e.what();
  }
  HostLinkLookup lookup = [](std::string_view name) { return hostnet::find_host_link(name); };
  json::array out;
  for (const auto& att : record.attachments) {
    json::object o{{"network", att.network}, {"ifname", att.ifname}};
    AttachmentGuard g;
    try {
      g = describe_attachment(settings, att, lookup);
    } catch (const std::exception& e) {
      g.why_not = e.what();
    }
    bool enforced = g.allowance && std::any_of(present.begin(), present.end(), [&](const hostnet::GuardedPort& p) {
                      return p.host_port == g.allowance->host_port;
                    });
    o["enforced"] = enforced;
    if (g.allowance) {
      o["hostInterface"] = g.allowance->host_port;
      o["mac"] = g.allowance->mac.str();
      json::array ips;
      for (const auto& a : g.allowance->ipv4) ips.emplace_back(a.str());
      for (const auto& a : g.allowance->ipv6) ips.emplace_back(a.str());
      o["ips"] = std::move(ips);
      if (!enforced)
        o["reason"] = !unreadable.empty() ? unreadable
                                          : "no rules in table bridge " + settings.table +
                                                " (set up before anti-spoofing was on for this network?)";
    } else {
      o["reason"] = g.why_not;
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace sandnet::daemon
