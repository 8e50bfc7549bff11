#include "sandnet/daemon/config.hpp"

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <optional>
#include <system_error>

#include "config_json.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"
#include "sandnet/common/validate.hpp"
#include "sandnet/hostnet/nft.hpp"

namespace sandnet::daemon {
namespace json = boost::json;
using detail::fail_at;
using detail::index_path;
using detail::ObjectReader;

bool PolicyRule::allows_network(std::string_view network) const noexcept {
  return std::any_of(networks.begin(), networks.end(),
                     [&](const std::string& n) { return n == "*" || n == network; });
}

bool PolicyRule::allows_capability(std::string_view capability) const noexcept {
  return std::any_of(capabilities.begin(), capabilities.end(),
                     [&](const std::string& c) { return c == "*" || c == capability; });
}

bool PolicyRule::allows_arg(std::string_view key) const noexcept {
  return std::any_of(args.begin(), args.end(), [&](const std::string& k) { return k == "*" || k == key; });
}

bool PolicyRule::allows_host_port(std::uint16_t port) const noexcept {
  return std::any_of(host_ports.begin(), host_ports.end(),
                     [&](const PortRange& r) { return r.contains(port); });
}

bool AntiSpoofingSettings::enabled_for(std::string_view network) const noexcept {
  return std::find(disabled_networks.begin(), disabled_networks.end(), network) == disabled_networks.end();
}

namespace {

// Limits on numeric settings: wide enough for any sane deployment, narrow
// enough that a typo (an extra zero, milliseconds for seconds) is caught.
constexpr std::int64_t kMaxTimeoutSeconds = 24 * 3600;
constexpr std::size_t kMaxConcurrency = 4096;
constexpr std::size_t kMaxConnectionsLimit = 1 << 20;
constexpr std::size_t kMinRequestBytes = 4096;

// getpwnam_r/getgrnam_r want a caller buffer; grow it on ERANGE. Returns
// nullopt for an unknown name; a failing lookup (NSS down) throws.
template <class Entry, class Id, class Lookup>
std::optional<Id> lookup_name(const std::string& name, Lookup lookup, Id Entry::*id_member,
                              std::string_view source, const std::string& path,
                              std::string_view what) {
  std::vector<char> buf(16384);
  for (;;) {
    Entry entry{};
    Entry* found = nullptr;
    int rc = lookup(name.c_str(), &entry, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < (1U << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0) {
      throw Error(std::error_code(rc, std::generic_category()),
                  std::string(source) + ": " + path + ": look up " + std::string(what) + " \"" +
                      name + "\"");
    }
    if (!found) return std::nullopt;
    return found->*id_member;
  }
}

std::optional<uid_t> lookup_user(const std::string& name, std::string_view source,
                                 const std::string& path) {
  return lookup_name<struct passwd, uid_t>(name, ::getpwnam_r, &passwd::pw_uid, source, path,
                                           "user");
}

std::optional<gid_t> lookup_group(const std::string& name, std::string_view source,
                                  const std::string& path) {
  return lookup_name<struct group, gid_t>(name, ::getgrnam_r, &group::gr_gid, source, path,
                                          "group");
}

std::optional<std::uint32_t> parse_decimal(std::string_view s) {
  std::uint32_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return n;
}

std::filesystem::path absolute_path(const ObjectReader& r, std::string_view key,
                                    const std::string& value) {
  if (value.empty() || value.front() != '/')
    r.fail(key, "must be an absolute path, got \"" + value + "\"");
  return std::filesystem::path(value).lexically_normal();
}

void read_path(const ObjectReader& r, std::string_view key, std::filesystem::path& out) {
  if (auto s = r.string(key)) out = absolute_path(r, key, *s);
}

void read_seconds(const ObjectReader& r, std::string_view key, std::chrono::seconds& out) {
  if (auto n = r.integer<std::int64_t>(key, 1, kMaxTimeoutSeconds)) out = std::chrono::seconds(*n);
}

void read_count(const ObjectReader& r, std::string_view key, std::size_t min, std::size_t max,
                std::size_t& out) {
  if (auto n = r.integer<std::size_t>(key, min, max)) out = *n;
}

mode_t read_mode(const ObjectReader& r, std::string_view key) {
  const json::value& v = *r.find(key);
  std::uint32_t mode = 0;
  if (v.is_string()) {
    // An octal string such as "0660" or "660".
    std::string_view s = v.get_string();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), mode, 8);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size())
      r.fail(key, "must be an octal mode such as \"0660\", got \"" + std::string(s) + "\"");
  } else if (auto n = detail::as_int64(v)) {
    // JSON has no octal numbers: 432 is 0660. A decimal-looking 660 is the
    // usual mistake, and is out of range here.
    if (*n < 0 || *n > 0777)
      r.fail(key, "must be at most 0777; write the mode as an octal string such as \"0660\"");
    mode = static_cast<std::uint32_t>(*n);
  } else {
    r.fail(key, "must be an octal string such as \"0660\" or a number");
  }
  if (mode > 0777) r.fail(key, "must be at most 0777 (no setuid, setgid or sticky bits)");
  return static_cast<mode_t>(mode);
}

// "30000-32767" or "8080" (a number is accepted too).
PortRange parse_port_range(const json::value& v, std::string_view source, const std::string& path) {
  auto port_of = [&](std::string_view s) -> std::uint16_t {
    auto n = parse_decimal(s);
    if (!n || *n < 1 || *n > 65535)
      fail_at(source, path, "\"" + std::string(s) + "\" is not a port number (1-65535)");
    return static_cast<std::uint16_t>(*n);
  };
  if (auto n = detail::as_int64(v)) {
    if (*n < 1 || *n > 65535) fail_at(source, path, "is not a port number (1-65535)");
    auto port = static_cast<std::uint16_t>(*n);
    return PortRange{port, port};
  }
  if (!v.is_string()) fail_at(source, path, "must be a port or a range such as \"30000-32767\"");
  std::string_view s = v.get_string();
  auto dash = s.find('-');
  if (dash == std::string_view::npos) {
    auto port = port_of(s);
    return PortRange{port, port};
  }
  PortRange range{port_of(s.substr(0, dash)), port_of(s.substr(dash + 1))};
  if (range.first > range.last)
    fail_at(source, path, "range \"" + std::string(s) + "\" is backwards");
  return range;
}

std::string describe_subject(std::string_view kind, std::string_view name, std::uint32_t id) {
  if (kind == "uid") return "uid " + std::to_string(id);
  if (kind == "gid") return "gid " + std::to_string(id);
  if (kind == "user") return "user " + std::string(name) + " (uid " + std::to_string(id) + ")";
  return "group " + std::string(name) + " (gid " + std::to_string(id) + ")";
}

PolicyRule parse_rule(const json::value& v, std::string_view source, const std::string& path) {
  ObjectReader r(v, source, path);
  r.only({"uid", "gid", "user", "group", "networks", "maxSandboxes", "hostPorts", "capabilities", "args"});

  PolicyRule rule;
  int subjects = 0;
  for (std::string_view kind : {"uid", "gid", "user", "group"}) {
    if (!r.find(kind)) continue;
    ++subjects;
    std::string name;
    if (kind == "uid" || kind == "gid") {
      rule.id = *r.integer<std::uint32_t>(kind, 0, 0xfffffffeU);  // (uid_t)-1 means "no ID"
    } else {
      name = *r.string(kind);
      if (name.empty()) r.fail(kind, "must not be empty");
      auto id = kind == "user" ? lookup_user(name, source, r.path_of(kind))
                               : lookup_group(name, source, r.path_of(kind));
      if (!id) r.fail(kind, "unknown " + std::string(kind) + " \"" + name + "\"");
      rule.id = *id;
    }
    rule.subject =
        (kind == "uid" || kind == "user") ? PolicyRule::Subject::uid : PolicyRule::Subject::gid;
    rule.description = describe_subject(kind, name, rule.id);
  }
  if (subjects != 1)
    fail_at(source, path, "must name exactly one of \"uid\", \"gid\", \"user\" or \"group\"");

  if (auto networks = r.strings("networks")) {
    for (std::size_t i = 0; i < networks->size(); ++i) {
      const auto& n = (*networks)[i];
      if (n == "*") continue;
      try {
        validate::network_name(n);
      } catch (const Error& e) {
        fail_at(source, index_path(r.path_of("networks"), i), e.what());
      }
    }
    rule.networks = std::move(*networks);
  }
  if (auto max = r.integer<std::size_t>("maxSandboxes", 0, 1'000'000)) rule.max_sandboxes = *max;
  if (auto* ports = r.array("hostPorts")) {
    for (std::size_t i = 0; i < ports->size(); ++i)
      rule.host_ports.push_back(
          parse_port_range((*ports)[i], source, index_path(r.path_of("hostPorts"), i)));
  }
  if (auto caps = r.strings("capabilities")) {
    for (std::size_t i = 0; i < caps->size(); ++i) {
      if ((*caps)[i].empty())
        fail_at(source, index_path(r.path_of("capabilities"), i), "must not be empty");
    }
    rule.capabilities = std::move(*caps);
  }
  if (auto keys = r.strings("args")) {
    for (std::size_t i = 0; i < keys->size(); ++i) {
      if ((*keys)[i].empty()) fail_at(source, index_path(r.path_of("args"), i), "must not be empty");
    }
    rule.args = std::move(*keys);
  }
  return rule;
}

std::vector<protocol::IdRange> parse_ranges(const ObjectReader& r, std::string_view key,
                                            std::string_view source) {
  std::vector<protocol::IdRange> out;
  if (auto* a = r.array(key)) {
    for (std::size_t i = 0; i < a->size(); ++i) {
      try {
        out.push_back(json::value_to<protocol::IdRange>((*a)[i]));
      } catch (const Error& e) {
        fail_at(source, index_path(r.path_of(key), i), e.what());
      }
    }
  }
  return out;
}

void parse_cni(const json::value& v, std::string_view source, CniSettings& cni) {
  ObjectReader r(v, source, "cni");
  r.only({"confDir", "binDirs", "cacheDir", "pluginTimeoutSeconds", "defaultNetworks",
          "nativeLoopback", "loopbackUp"});
  read_path(r, "confDir", cni.conf_dir);
  read_path(r, "cacheDir", cni.cache_dir);
  if (auto dirs = r.strings("binDirs")) {
    if (dirs->empty()) r.fail("binDirs", "must name at least one directory");
    cni.bin_dirs.clear();
    for (std::size_t i = 0; i < dirs->size(); ++i) {
      const auto& d = (*dirs)[i];
      if (d.empty() || d.front() != '/')
        fail_at(source, index_path(r.path_of("binDirs"), i),
                "must be an absolute path, got \"" + d + "\"");
      cni.bin_dirs.push_back(std::filesystem::path(d).lexically_normal());
    }
  }
  read_seconds(r, "pluginTimeoutSeconds", cni.plugin_timeout);
  if (auto nets = r.strings("defaultNetworks")) {
    for (std::size_t i = 0; i < nets->size(); ++i) {
      try {
        validate::network_name((*nets)[i]);
      } catch (const Error& e) {
        fail_at(source, index_path(r.path_of("defaultNetworks"), i), e.what());
      }
    }
    cni.default_networks = std::move(*nets);
  }
  if (auto b = r.boolean("nativeLoopback")) cni.native_loopback = *b;
  if (auto b = r.boolean("loopbackUp")) cni.loopback_up = *b;
}

void parse_anti_spoofing(const json::value& v, std::string_view source, AntiSpoofingSettings& out) {
  ObjectReader r(v, source, "antiSpoofing");
  r.only({"disabledNetworks", "table"});
  if (auto nets = r.strings("disabledNetworks")) {
    for (std::size_t i = 0; i < nets->size(); ++i) {
      try {
        validate::network_name((*nets)[i]);
      } catch (const Error& e) {
        fail_at(source, index_path(r.path_of("disabledNetworks"), i), e.what());
      }
    }
    out.disabled_networks = std::move(*nets);
  }
  if (auto table = r.string("table")) {
    try {
      out.table = hostnet::NftName::parse(*table).str();
    } catch (const Error& e) {
      r.fail("table", e.what());
    }
  }
}

json::array paths_to_json(const std::vector<std::filesystem::path>& paths) {
  json::array a;
  for (const auto& p : paths) a.emplace_back(p.string());
  return a;
}

std::string port_range_text(const PortRange& r) {
  if (r.first == r.last) return std::to_string(r.first);
  return std::to_string(r.first) + "-" + std::to_string(r.last);
}

std::string mode_text(mode_t mode) {
  char buf[8];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<unsigned>(mode), 8);
  (void)ec;
  std::string digits(buf, end);
  while (digits.size() < 4) digits.insert(digits.begin(), '0');
  return digits;
}

}  // namespace

Config parse_config(std::string_view json_text, std::string source) {
  const json::value doc = detail::parse_json(json_text, source);
  ObjectReader r(doc, source, "");
  r.only({"socket", "socketGroup", "socketMode", "netnsDir", "stateDir", "usernsDir", "cni", "idMappings",
          "policy", "antiSpoofing", "autoTeardown", "maintenance", "maxConcurrentSetups",
          "maxConnections", "maxConnectionsPerUid", "maxConnectionsPerUidWithoutRule",
          "rootReservedConnections", "maxRequestBytes", "idleTimeoutSeconds", "writeTimeoutSeconds"});

  Config c;
  c.source = source;
  read_path(r, "socket", c.socket);
  if (auto group = r.string("socketGroup")) {
    c.socket_group = *group;
    if (!group->empty()) {
      if (auto n = parse_decimal(*group)) {
        c.socket_gid = *n;
      } else {
        c.socket_gid = lookup_group(*group, source, "socketGroup");
        if (!c.socket_gid) r.fail("socketGroup", "unknown group \"" + *group + "\"");
      }
    }
  }
  if (r.find("socketMode")) c.socket_mode = read_mode(r, "socketMode");
  read_path(r, "netnsDir", c.netns_dir);
  read_path(r, "stateDir", c.state_dir);
  read_path(r, "usernsDir", c.userns_dir);
  if (auto* cni = r.find("cni")) parse_cni(*cni, source, c.cni);
  if (auto* maps = r.find("idMappings")) {
    ObjectReader m(*maps, source, "idMappings");
    m.only({"uids", "gids", "subordinate", "subuidFile", "subgidFile"});
    c.id_mappings.uids = parse_ranges(m, "uids", source);
    c.id_mappings.gids = parse_ranges(m, "gids", source);
    if (auto b = m.boolean("subordinate")) c.id_mappings.subordinate = *b;
    read_path(m, "subuidFile", c.id_mappings.subuid_file);
    read_path(m, "subgidFile", c.id_mappings.subgid_file);
  }
  if (auto* rules = r.array("policy")) {
    for (std::size_t i = 0; i < rules->size(); ++i)
      c.policy.push_back(parse_rule((*rules)[i], source, index_path("policy", i)));
  }
  if (auto* as = r.find("antiSpoofing")) parse_anti_spoofing(*as, source, c.anti_spoofing);
  if (auto b = r.boolean("autoTeardown")) c.auto_teardown = *b;
  if (auto* m = r.find("maintenance")) {
    ObjectReader mr(*m, source, "maintenance");
    mr.only({"retrySeconds", "retryMaxSeconds", "gcIntervalSeconds"});
    read_seconds(mr, "retrySeconds", c.maintenance.retry_initial);
    read_seconds(mr, "retryMaxSeconds", c.maintenance.retry_max);
    if (auto n = mr.integer<std::int64_t>("gcIntervalSeconds", 0, kMaxTimeoutSeconds))
      c.maintenance.gc_interval = std::chrono::seconds(*n);
    if (c.maintenance.retry_max < c.maintenance.retry_initial)
      mr.fail("retryMaxSeconds", "must not be less than retrySeconds");
  }
  read_count(r, "maxConcurrentSetups", 1, kMaxConcurrency, c.max_concurrent_setups);
  read_count(r, "maxConnections", 1, kMaxConnectionsLimit, c.max_connections);
  read_count(r, "maxConnectionsPerUid", 1, kMaxConnectionsLimit, c.max_connections_per_uid);
  read_count(r, "maxConnectionsPerUidWithoutRule", 0, kMaxConnectionsLimit, c.max_connections_per_uid_without_rule);
  read_count(r, "rootReservedConnections", 0, kMaxConnectionsLimit, c.root_reserved_connections);
  read_count(r, "maxRequestBytes", kMinRequestBytes, rpc::kMaxLineBytes, c.max_request_bytes);
  read_seconds(r, "idleTimeoutSeconds", c.idle_timeout);
  read_seconds(r, "writeTimeoutSeconds", c.write_timeout);
  return c;
}

Config load_config(const std::filesystem::path& path, bool missing_ok) {
  std::string text;
  try {
    text = fs::read_file(path);
  } catch (const Error& e) {
    if (missing_ok && e.code() == std::errc::no_such_file_or_directory) return Config{};
    Error err = e;
    err.add_context("load config");
    throw err;
  }
  return parse_config(text, path.string());
}

json::object to_json(const Config& c) {
  json::array policy;
  for (const auto& rule : c.policy) {
    json::object o;
    o[rule.subject == PolicyRule::Subject::uid ? "uid" : "gid"] = rule.id;
    o["networks"] = json::value_from(rule.networks);
    if (rule.max_sandboxes) o["maxSandboxes"] = *rule.max_sandboxes;
    json::array ports;
    for (const auto& p : rule.host_ports) ports.emplace_back(port_range_text(p));
    o["hostPorts"] = std::move(ports);
    o["capabilities"] = json::value_from(rule.capabilities);
    o["args"] = json::value_from(rule.args);
    policy.emplace_back(std::move(o));
  }
  return json::object{
      {"socket", c.socket.string()},
      {"socketGroup", c.socket_group},
      {"socketMode", mode_text(c.socket_mode)},
      {"netnsDir", c.netns_dir.string()},
      {"stateDir", c.state_dir.string()},
      {"usernsDir", c.userns_dir.string()},
      {"cni", json::object{{"confDir", c.cni.conf_dir.string()},
                           {"binDirs", paths_to_json(c.cni.bin_dirs)},
                           {"cacheDir", c.cni.cache_dir.string()},
                           {"pluginTimeoutSeconds", c.cni.plugin_timeout.count()},
                           {"defaultNetworks", json::value_from(c.cni.default_networks)},
                           {"nativeLoopback", c.cni.native_loopback},
                           {"loopbackUp", c.cni.loopback_up}}},
      {"idMappings", json::object{{"uids", json::value_from(c.id_mappings.uids)},
                                  {"gids", json::value_from(c.id_mappings.gids)},
                                  {"subordinate", c.id_mappings.subordinate},
                                  {"subuidFile", c.id_mappings.subuid_file.string()},
                                  {"subgidFile", c.id_mappings.subgid_file.string()}}},
      {"policy", std::move(policy)},
      {"antiSpoofing", json::object{{"disabledNetworks", json::value_from(c.anti_spoofing.disabled_networks)},
                                    {"table", c.anti_spoofing.table}}},
      {"autoTeardown", c.auto_teardown},
      {"maintenance", json::object{{"retrySeconds", c.maintenance.retry_initial.count()},
                                   {"retryMaxSeconds", c.maintenance.retry_max.count()},
                                   {"gcIntervalSeconds", c.maintenance.gc_interval.count()}}},
      {"maxConcurrentSetups", c.max_concurrent_setups},
      {"maxConnections", c.max_connections},
      {"maxConnectionsPerUid", c.max_connections_per_uid},
      {"maxConnectionsPerUidWithoutRule", c.max_connections_per_uid_without_rule},
      {"rootReservedConnections", c.root_reserved_connections},
      {"maxRequestBytes", c.max_request_bytes},
      {"idleTimeoutSeconds", c.idle_timeout.count()},
      {"writeTimeoutSeconds", c.write_timeout.count()},
  };
}

std::string_view embedded_default_network() {
  // Teardown note: Debian's bridge plugin, given DEL with an empty CNI_NETNS,
  // frees the IP but leaves its ipMasq chain behind. The daemon's pin keeps
  // the netns alive after the sandbox exits, so DEL always runs against the
  // live pin first and the pin is removed only afterwards.
  static constexpr std::string_view kConflist = R"({
  "cniVersion": "1.0.0",
  "name": "sandnet",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "sandnet0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.89.0.0/16"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {
      "type": "portmap",
      "capabilities": {"portMappings": true},
      "snat": true
    }
  ]
}
)";
  return kConflist;
}

}  // namespace sandnet::daemon
