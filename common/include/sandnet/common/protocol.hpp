// The sandnetd protocol: method names, defaults, and the typed params and
// results shared by the daemon and libsandnet. Field names on the wire are
// camelCase; the README documents every method.
#pragma once

#include <sys/types.h>

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sandnet/common/capabilities.hpp"

namespace sandnet::protocol {

inline constexpr const char* kDefaultSocketPath = "/run/sandnet/sandnetd.sock";
inline constexpr const char* kSocketEnvVar = "SANDNET_SOCKET";

namespace method {
inline constexpr const char* kSetup = "sandbox.setup";
inline constexpr const char* kTeardown = "sandbox.teardown";
inline constexpr const char* kCheck = "sandbox.check";
inline constexpr const char* kGet = "sandbox.get";
inline constexpr const char* kList = "sandbox.list";
inline constexpr const char* kInspect = "sandbox.inspect";
inline constexpr const char* kExplain = "sandbox.explain";
inline constexpr const char* kNetworksList = "networks.list";
inline constexpr const char* kRuntimeInfo = "runtime.info";
inline constexpr const char* kGc = "gc";
inline constexpr const char* kStatus = "status";
}  // namespace method

// How the sandbox's network namespace is named in a setup request.
enum class SandboxRef {
  pid,    // "pid": N  -- the daemon opens a pidfd for it
  pidfd,  // "fd": "pidfd" -- a pidfd passed with SCM_RIGHTS alongside the request
  netns,  // "fd": "netns" -- a netns fd passed with SCM_RIGHTS
  create, // "create": {...} -- the daemon makes a user and a network namespace
};

// One line of a user namespace's uid_map or gid_map, in the OCI runtime
// spec's names (linux.uidMappings).
struct IdMapping {
  std::uint32_t container_id = 0;  // first ID inside the namespace
  std::uint32_t host_id = 0;       // first ID on the host
  std::uint32_t size = 0;
  bool operator==(const IdMapping&) const = default;
};

// The kernel's limit on lines in one uid_map or gid_map (since Linux 4.15).
inline constexpr std::size_t kMaxIdMappings = 340;

// SandboxRef::create: the user namespace to make, with exactly these maps
// (each non-empty, no overlap inside or on the host: what the kernel would
// refuse is refused when the request is parsed). The network namespace is
// made inside it.
struct CreateNamespaces {
  std::vector<IdMapping> uid_mappings;
  std::vector<IdMapping> gid_mappings;
};

struct NetworkRequest {
  std::string name;
  std::string ifname;  // empty: the daemon picks (eth0 for the first, eth1, ...)
};

struct SetupParams {
  std::string id;
  SandboxRef ref = SandboxRef::pid;
  pid_t pid = 0;                          // for SandboxRef::pid
  CreateNamespaces create;                // for SandboxRef::create
  std::vector<NetworkRequest> networks;   // empty: the configured defaults
  std::string ifname;                     // first network's interface; default eth0
  std::vector<std::pair<std::string, std::string>> args;  // CNI_ARGS pairs
  capabilities::CapabilityArgs capabilities;  // runtimeConfig, parsed and checked
  std::map<std::string, std::string> labels;
};

struct IdParams {
  std::string id;
};

struct TeardownParams {
  std::string id;
  // Root only: forget the sandbox even if a DEL fails (unpin, remove the
  // record); what could not be undone is listed in the result's errors.
  bool force = false;
};

struct Attachment {
  std::string network;
  std::string ifname;
  boost::json::value result;  // the CNI result, in the network's cniVersion
};

struct SandboxInfo {
  std::string id;
  std::string netns;        // the pin path, e.g. /run/netns/sandnet-pod1
  std::string userns;       // the user namespace's pin (created sandboxes only)
  uid_t owner_uid = 0;
  gid_t owner_gid = 0;
  std::string state;        // "setting-up" | "ready" | "tearing-down" | "failed"
  std::optional<pid_t> pid; // the sandbox's PID when known
  std::vector<Attachment> attachments;
  std::map<std::string, std::string> labels;
  std::int64_t created_unix = 0;
};

struct TeardownResult {
  std::string id;
  bool existed = false;
  std::vector<std::string> errors;  // best-effort teardown: what could not be undone
  bool forced = false;              // forgotten despite errors (force)
};

struct IdRange {
  std::uint32_t host_id = 0;
  std::uint32_t size = 0;
};

struct RuntimeInfo {
  std::string version;
  std::vector<std::string> cni_versions;
  std::vector<IdRange> uid_mappings;
  std::vector<IdRange> gid_mappings;
  // The caller's own subordinate ranges (/etc/subuid, /etc/subgid) it may
  // map besides idMappings; empty for root or with the source turned off.
  std::vector<IdRange> subordinate_uids;
  std::vector<IdRange> subordinate_gids;
  std::string netns_dir;
  uid_t caller_uid = 0;
  gid_t caller_gid = 0;
};

struct NetworkInfo {
  std::string name;
  std::string cni_version;
  std::vector<std::string> plugins;  // plugin types, in chain order
  bool is_default = false;
  std::string source;                // file it came from, or "embedded"
};

// Boost.JSON conversions: json::value_from(x) and json::value_to<T>(v).
// value_to throws Error(invalid_argument) naming the bad field.
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const NetworkRequest& x);
NetworkRequest tag_invoke(boost::json::value_to_tag<NetworkRequest>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const IdMapping& x);
IdMapping tag_invoke(boost::json::value_to_tag<IdMapping>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const SetupParams& x);
SetupParams tag_invoke(boost::json::value_to_tag<SetupParams>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const IdParams& x);
IdParams tag_invoke(boost::json::value_to_tag<IdParams>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const Attachment& x);
Attachment tag_invoke(boost::json::value_to_tag<Attachment>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const SandboxInfo& x);
SandboxInfo tag_invoke(boost::json::value_to_tag<SandboxInfo>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const TeardownParams& x);
TeardownParams tag_invoke(boost::json::value_to_tag<TeardownParams>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const TeardownResult& x);
TeardownResult tag_invoke(boost::json::value_to_tag<TeardownResult>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const IdRange& x);
IdRange tag_invoke(boost::json::value_to_tag<IdRange>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const RuntimeInfo& x);
RuntimeInfo tag_invoke(boost::json::value_to_tag<RuntimeInfo>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const NetworkInfo& x);
NetworkInfo tag_invoke(boost::json::value_to_tag<NetworkInfo>, const boost::json::value& v);

}  // namespace sandnet::protocol
