// sandnetd's configuration: every key of /etc/sandnet/sandnetd.json with its
// default, in one place (the member initialisers below). Parsing is strict: an
// unknown key is an error naming its path ("cni.pluginTimout"), a wrong type
// names the key, user and group names in policy rules are resolved at load
// time. A Config is an immutable value once loaded; SIGHUP builds a new one.
#pragma once

#include <sys/types.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandnet/common/jsonrpc.hpp"
#include "sandnet/common/protocol.hpp"

namespace sandnet::daemon {

inline constexpr const char* kDefaultConfigPath = "/etc/sandnet/sandnetd.json";
// The name of the network embedded_default_network() describes.
inline constexpr const char* kEmbeddedNetworkName = "sandnet";

// An inclusive range of host ports, "30000-32767" or "8080" in the file.
struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  bool contains(std::uint16_t port) const noexcept { return port >= first && port <= last; }
};

// One entry of "policy": what callers with a given uid (or a given group, as
// primary or supplementary gid) may do.
struct PolicyRule {
  enum class Subject { uid, gid };
  Subject subject = Subject::uid;
  std::uint32_t id = 0;               // the uid or gid (user/group names resolved at load)
  std::string description;            // "uid 1501", "user alice (uid 1501)", "group ci (gid 990)"
  std::vector<std::string> networks;  // network names; "*" = any network
  std::optional<std::size_t> max_sandboxes;  // absent = no limit
  std::vector<PortRange> host_ports;         // allowed portMappings host ports; empty = none
  std::vector<std::string> capabilities;     // allowed runtimeConfig capability keys; "*" = any
  // Allowed CNI_ARGS keys; empty = none. CNI_ARGS reach IPAM and other
  // plugins (host-local and static read IP, MAC, ...), so they are as much a
  // privilege as capabilities.
  std::vector<std::string> args;

  bool allows_network(std::string_view network) const noexcept;
  bool allows_capability(std::string_view capability) const noexcept;
  bool allows_arg(std::string_view key) const noexcept;
  bool allows_host_port(std::uint16_t port) const noexcept;
};

struct CniSettings {
  std::filesystem::path conf_dir = "/etc/cni/net.d";
  // Searched in order for plugin binaries (CNI_PATH).
  std::vector<std::filesystem::path> bin_dirs = {"/opt/cni/bin", "/usr/lib/cni"};
  // libcni-compatible result cache (<cacheDir>/results/...).
  std::filesystem::path cache_dir = "/var/lib/cni";
  // Per plugin invocation; a plugin that takes longer is killed.
  std::chrono::seconds plugin_timeout{60};
  // Networks a setup without "networks" attaches to, in order. Empty = the
  // first network in conf_dir (libcni's lexical order), or the embedded
  // "sandnet" network when conf_dir holds none.
  std::vector<std::string> default_networks;
  // Bring "lo" up natively (netlink) instead of exec'ing the loopback plugin.
  bool native_loopback = true;
  // Every sandbox's "lo" is up after setup, whether or not its chain has a
  // loopback plugin (the embedded network has none, LXC's "empty" network
  // type leaves it down).
  bool loopback_up = true;
};

struct IdMappings {
  // Host ID ranges that sandboxes' user namespaces may map to (besides the
  // caller's own single uid/gid). Reported by runtime.info.
  std::vector<protocol::IdRange> uids;
  std::vector<protocol::IdRange> gids;
  // A non-root caller may also map its own subordinate ranges (the user's
  // lines in these files, as newuidmap reads them). Off: only the above.
  bool subordinate = true;
  std::filesystem::path subuid_file = "/etc/subuid";
  std::filesystem::path subgid_file = "/etc/subgid";
};

// Anti-spoofing: the host end of every sandbox veth on a bridge lets through
// only what the CNI result gave the attachment (source MAC and IPs; no router
// advertisements, redirects or DHCP server replies).
struct AntiSpoofingSettings {
  // Networks whose attachments are not guarded (sandboxes that route other
  // addresses, networks without a host-side veth on a bridge).
  std::vector<std::string> disabled_networks;
  // The nftables table (bridge family) this daemon owns: recovery and gc
  // delete every per-sandbox chain in it that belongs to none of its
  // sandboxes, so two daemons on one host need two tables. Fixed at start.
  std::string table = "sandnet";

  bool enabled_for(std::string_view network) const noexcept;
};

struct Config {
  // --- listening socket ---
  std::filesystem::path socket = protocol::kDefaultSocketPath;
  std::string socket_group;         // "" = keep the daemon's group
  std::optional<gid_t> socket_gid;  // socket_group resolved at load (a name or a number)
  mode_t socket_mode = 0660;        // "0660" (octal string) or a number in the file

  // --- paths ---
  std::filesystem::path netns_dir = "/run/netns";        // where pins live
  std::filesystem::path state_dir = "/var/lib/sandnet";  // StateStore root
  // Pins of the user namespaces that sandbox.setup "create" makes; a
  // directory of sandnet's own (everything in it is ours).
  std::filesystem::path userns_dir = "/run/sandnet/userns";

  CniSettings cni;
  IdMappings id_mappings;
  std::vector<PolicyRule> policy;  // uid rules, then primary gid, then supplementary groups (rule_for)
  AntiSpoofingSettings anti_spoofing;

  // Tear a sandbox's networks down when its process exits (pidfd watch).
  bool auto_teardown = true;

  // Background work that makes state converge by itself.
  struct Maintenance {
    // A teardown or rollback whose DEL failed (iptables EBUSY, a plugin that
    // was briefly missing) is retried after retry_initial, doubling up to
    // retry_max between attempts.
    std::chrono::seconds retry_initial{5};
    std::chrono::seconds retry_max{300};
    // CNI GC (records vs pins vs cache, plugins' GC) this often; 0 = never.
    std::chrono::seconds gc_interval{3600};
  } maintenance;

  // --- limits ---
  // sandbox.setup requests running plugin chains at the same time; more wait.
  std::size_t max_concurrent_setups = 8;
  // Open client connections; more are accepted and closed at once (one -32007
  // line). Lowered at start when RLIMIT_NOFILE leaves fewer fds.
  std::size_t max_connections = 512;
  // Connections one non-root uid may hold; far fewer for a uid that no policy
  // rule names (it can use nothing but read-only methods).
  std::size_t max_connections_per_uid = 32;
  std::size_t max_connections_per_uid_without_rule = 4;
  // Root connections accepted beyond max_connections (an operator always gets in).
  std::size_t root_reserved_connections = 8;
  // Longest request line (NDJSON) a client may send; at most the codec's
  // hard limit rpc::kMaxLineBytes.
  std::size_t max_request_bytes = rpc::kMaxLineBytes;
  // (No whole-request deadline: a setup cut short mid-chain would need the
  // rollback it gets anyway; each plugin run is bounded by cni.plugin_timeout.)
  // A connection that sends no complete request for this long is closed
  // (also bounds a client that sends half a line and stalls).
  std::chrono::seconds idle_timeout{60};
  // A reply must be written within this; a client that does not read its
  // replies is closed (so the daemon holds nothing for it, and stops in time).
  std::chrono::seconds write_timeout{10};

  // Where this config came from: a file path, or "built-in defaults".
  std::string source = "built-in defaults";
};

// Parses a config document. source names it in error messages
// ("/etc/sandnet/sandnetd.json: cni.pluginTimout: unknown key"). Keys absent
// from the document keep their defaults. Throws Error(invalid_argument).
Config parse_config(std::string_view json_text, std::string source);

// Loads the file at path. A missing file with missing_ok gives the defaults;
// any other problem throws Error naming the file.
Config load_config(const std::filesystem::path& path, bool missing_ok);

// The effective configuration as JSON (every key, defaults included; policy
// subjects as numeric uid/gid). parse_config(to_json(c)) gives c back.
boost::json::object to_json(const Config& config);

// The conflist text of the embedded default network "sandnet": cniVersion
// 1.0.0, bridge "sandnet0" (gateway, ipMasq, hairpin) with host-local IPAM on
// 10.89.0.0/16 and a default route, then portmap (portMappings, snat).
std::string_view embedded_default_network();

}  // namespace sandnet::daemon
