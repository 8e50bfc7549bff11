#include "sandnet/common/protocol.hpp"

#include <initializer_list>
#include <limits>
#include <string_view>

#include "sandnet/common/error.hpp"

namespace sandnet::protocol {
namespace json = boost::json;

namespace {

// Strict reader of one JSON object: typed getters that name the bad field,
// and a check that refuses keys it does not know (a typo is an error, not a
// silently ignored option).
class Reader {
 public:
  Reader(const json::value& v, std::string_view what) : what_(what) {
    obj_ = v.if_object();
    if (!obj_) fail("", "must be an object");
  }
  // For a nested object already checked to be one. Without this overload a
  // json::object would convert to a temporary json::value and obj_ would dangle.
  Reader(const json::object& o, std::string_view what) : what_(what), obj_(&o) {}

  const json::value* find(std::string_view key) const {
    auto* v = obj_->if_contains(key);
    return (v && !v->is_null()) ? v : nullptr;
  }

  std::string string(std::string_view key, bool required) const {
    auto* v = find(key);
    if (!v) {
      if (required) fail(key, "is required");
      return {};
    }
    if (!v->is_string()) fail(key, "must be a string");
    return std::string(v->get_string());
  }

  template <class Int>
  std::optional<Int> integer(std::string_view key, bool required) const {
    auto* v = find(key);
    if (!v) {
      if (required) fail(key, "is required");
      return std::nullopt;
    }
    std::int64_t n = 0;
    if (v->is_int64()) {
      n = v->get_int64();
    } else if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
      n = static_cast<std::int64_t>(v->get_uint64());
    } else {
      fail(key, "must be an integer");
    }
    if (n < static_cast<std::int64_t>(std::numeric_limits<Int>::min()) ||
        static_cast<std::uint64_t>(n) > static_cast<std::uint64_t>(std::numeric_limits<Int>::max()))
      fail(key, "is out of range");
    return static_cast<Int>(n);
  }

  bool boolean(std::string_view key) const {
    auto* v = find(key);
    if (!v) return false;
    if (!v->is_bool()) fail(key, "must be a boolean");
    return v->get_bool();
  }

  const json::array* array(std::string_view key) const {
    auto* v = find(key);
    if (!v) return nullptr;
    if (!v->is_array()) fail(key, "must be an array");
    return &v->get_array();
  }

  const json::object* object(std::string_view key) const {
    auto* v = find(key);
    if (!v) return nullptr;
    if (!v->is_object()) fail(key, "must be an object");
    return &v->get_object();
  }

  std::vector<std::string> strings(std::string_view key) const {
    std::vector<std::string> out;
    if (auto* a = array(key)) {
      for (const auto& s : *a) {
        if (!s.is_string()) fail(key, "must be an array of strings");
        out.emplace_back(s.get_string());
      }
    }
    return out;
  }

  std::map<std::string, std::string> string_map(std::string_view key) const {
    std::map<std::string, std::string> out;
    if (auto* o = object(key)) {
      for (const auto& [k, val] : *o) {
        if (!val.is_string()) fail(key, "values must be strings");
        out.emplace(std::string(k), std::string(val.get_string()));
      }
    }
    return out;
  }

  void only(std::initializer_list<std::string_view> known) const {
    for (const auto& [k, v] : *obj_) {
      bool ok = false;
      for (auto name : known) ok = ok || k == name;
      if (!ok) fail(std::string_view(k), "is not a known field");
    }
  }

  [[noreturn]] void fail(std::string_view key, std::string_view why) const {
    std::string msg(what_);
    if (!key.empty()) msg += ": field \"" + std::string(key) + "\"";
    msg += " ";
    msg += why;
    throw_error(errc::invalid_argument, msg);
  }

 private:
  std::string_view what_;
  const json::object* obj_ = nullptr;
};

json::object string_map_to_json(const std::map<std::string, std::string>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

}  // namespace

void tag_invoke(json::value_from_tag, json::value& v, const NetworkRequest& x) {
  json::object o{{"name", x.name}};
  if (!x.ifname.empty()) o["ifname"] = x.ifname;
  v = std::move(o);
}

NetworkRequest tag_invoke(json::value_to_tag<NetworkRequest>, const json::value& v) {
  if (v.is_string()) return NetworkRequest{std::string(v.get_string()), {}};
  Reader r(v, "network");
  r.only({"name", "ifname"});
  return NetworkRequest{r.string("name", true), r.string("ifname", false)};
}

void tag_invoke(json::value_from_tag, json::value& v, const IdMapping& x) {
  v = json::object{{"containerID", x.container_id}, {"hostID", x.host_id}, {"size", x.size}};
}

IdMapping tag_invoke(json::value_to_tag<IdMapping>, const json::value& v) {
  Reader r(v, "ID mapping");
  r.only({"containerID", "hostID", "size"});
  IdMapping m{*r.integer<std::uint32_t>("containerID", true), *r.integer<std::uint32_t>("hostID", true),
              *r.integer<std::uint32_t>("size", true)};
  if (m.size == 0) r.fail("size", "must be positive");
  if (static_cast<std::uint64_t>(m.container_id) + m.size > (1ULL << 32))
    r.fail("size", "overflows the ID space inside the namespace");
  if (static_cast<std::uint64_t>(m.host_id) + m.size > (1ULL << 32)) r.fail("size", "overflows the host's ID space");
  return m;
}

namespace {

// What the kernel refuses in a uid_map/gid_map write, refused here with the
// lines named: no map, too many lines, ranges that overlap inside or on the host.
std::vector<IdMapping> read_id_map(const Reader& r, std::string_view key) {
  const auto* a = r.array(key);
  if (!a || a->empty()) r.fail(key, "must list at least one mapping");
  if (a->size() > kMaxIdMappings)
    r.fail(key, "has " + std::to_string(a->size()) + " mappings; the kernel takes at most " +
                    std::to_string(kMaxIdMappings));
  std::vector<IdMapping> map;
  for (const auto& m : *a) map.push_back(json::value_to<IdMapping>(m));
  auto overlap = [](std::uint32_t a_first, std::uint32_t b_first, std::uint32_t a_size, std::uint32_t b_size) {
    return static_cast<std::uint64_t>(a_first) < static_cast<std::uint64_t>(b_first) + b_size &&
           static_cast<std::uint64_t>(b_first) < static_cast<std::uint64_t>(a_first) + a_size;
  };
  for (std::size_t i = 0; i < map.size(); ++i)
    for (std::size_t j = i + 1; j < map.size(); ++j) {
      const auto& x = map[i];
      const auto& y = map[j];
      if (overlap(x.container_id, y.container_id, x.size, y.size))
        r.fail(key, "mappings " + std::to_string(i) + " and " + std::to_string(j) + " overlap inside the namespace");
      if (overlap(x.host_id, y.host_id, x.size, y.size))
        r.fail(key, "mappings " + std::to_string(i) + " and " + std::to_string(j) + " overlap on the host");
    }
  return map;
}

}  // namespace

void tag_invoke(json::value_from_tag, json::value& v, const SetupParams& x) {
  json::object o{{"id", x.id}};
  switch (x.ref) {
    case SandboxRef::pid: o["pid"] = x.pid; break;
    case SandboxRef::pidfd: o["fd"] = "pidfd"; break;
    case SandboxRef::netns: o["fd"] = "netns"; break;
    case SandboxRef::create:
      o["create"] = json::object{{"uidMappings", json::value_from(x.create.uid_mappings)},
                                 {"gidMappings", json::value_from(x.create.gid_mappings)}};
      break;
  }
  if (!x.networks.empty()) o["networks"] = json::value_from(x.networks);
  if (!x.ifname.empty()) o["ifname"] = x.ifname;
  if (!x.args.empty()) {
    json::array args;
    for (const auto& [k, val] : x.args) args.push_back(json::array{json::string(k), json::string(val)});
    o["args"] = std::move(args);
  }
  if (!x.capabilities.empty()) o["capabilities"] = capabilities::to_json(x.capabilities);
  if (!x.labels.empty()) o["labels"] = string_map_to_json(x.labels);
  v = std::move(o);
}

SetupParams tag_invoke(json::value_to_tag<SetupParams>, const json::value& v) {
  Reader r(v, "sandbox.setup params");
  r.only({"id", "pid", "fd", "create", "networks", "ifname", "args", "capabilities", "labels"});
  SetupParams p;
  p.id = r.string("id", true);
  auto pid = r.integer<pid_t>("pid", false);
  auto fd = r.string("fd", false);
  const auto* create = r.object("create");
  if ((pid ? 1 : 0) + (fd.empty() ? 0 : 1) + (create ? 1 : 0) > 1)
    r.fail("", "must name the sandbox by one of \"pid\", \"fd\" or \"create\"");
  if (create) {
    Reader cr(*create, "sandbox.setup params: create");
    cr.only({"uidMappings", "gidMappings"});
    p.ref = SandboxRef::create;
    p.create.uid_mappings = read_id_map(cr, "uidMappings");
    p.create.gid_mappings = read_id_map(cr, "gidMappings");
  } else if (pid) {
    if (*pid <= 0) r.fail("pid", "must be a positive process ID");
    p.ref = SandboxRef::pid;
    p.pid = *pid;
  } else if (fd == "pidfd") {
    p.ref = SandboxRef::pidfd;
  } else if (fd == "netns") {
    p.ref = SandboxRef::netns;
  } else if (!fd.empty()) {
    r.fail("fd", "must be \"pidfd\" or \"netns\"");
  } else {
    r.fail("", "must name the sandbox by \"pid\", by \"fd\" or ask to \"create\" its namespaces");
  }
  if (auto* nets = r.array("networks")) {
    for (const auto& n : *nets) p.networks.push_back(json::value_to<NetworkRequest>(n));
  }
  p.ifname = r.string("ifname", false);
  // args: {"K":"V"} or [["K","V"],...]; the order of an array is kept.
  if (auto* a = r.find("args")) {
    if (a->is_object()) {
      for (const auto& [k, val] : a->get_object()) {
        if (!val.is_string()) r.fail("args", "values must be strings");
        p.args.emplace_back(std::string(k), std::string(val.get_string()));
      }
    } else if (a->is_array()) {
      for (const auto& pair : a->get_array()) {
        const auto* kv = pair.if_array();
        if (!kv || kv->size() != 2 || !(*kv)[0].is_string() || !(*kv)[1].is_string())
          r.fail("args", "must be an object or an array of [key, value] string pairs");
        p.args.emplace_back(std::string((*kv)[0].get_string()), std::string((*kv)[1].get_string()));
      }
    } else {
      r.fail("args", "must be an object or an array of [key, value] pairs");
    }
  }
  if (auto* caps = r.find("capabilities")) p.capabilities = capabilities::parse(*caps);
  p.labels = r.string_map("labels");
  return p;
}

void tag_invoke(json::value_from_tag, json::value& v, const IdParams& x) { v = json::object{{"id", x.id}}; }

IdParams tag_invoke(json::value_to_tag<IdParams>, const json::value& v) {
  Reader r(v, "params");
  r.only({"id"});
  return IdParams{r.string("id", true)};
}

void tag_invoke(json::value_from_tag, json::value& v, const Attachment& x) {
  v = json::object{{"network", x.network}, {"ifname", x.ifname}, {"result", x.result}};
}

Attachment tag_invoke(json::value_to_tag<Attachment>, const json::value& v) {
  Reader r(v, "attachment");
  Attachment a{r.string("network", true), r.string("ifname", true), nullptr};
  if (auto* res = r.find("result")) a.result = *res;
  return a;
}

void tag_invoke(json::value_from_tag, json::value& v, const SandboxInfo& x) {
  json::object o{{"id", x.id},
                 {"netns", x.netns},
                 {"ownerUID", x.owner_uid},
                 {"ownerGID", x.owner_gid},
                 {"state", x.state},
                 {"attachments", json::value_from(x.attachments)},
                 {"labels", string_map_to_json(x.labels)},
                 {"createdUnix", x.created_unix}};
  if (x.pid) o["pid"] = *x.pid;
  if (!x.userns.empty()) o["userns"] = x.userns;
  v = std::move(o);
}

SandboxInfo tag_invoke(json::value_to_tag<SandboxInfo>, const json::value& v) {
  Reader r(v, "sandbox");
  SandboxInfo s;
  s.id = r.string("id", true);
  s.netns = r.string("netns", false);
  s.userns = r.string("userns", false);
  s.owner_uid = r.integer<uid_t>("ownerUID", false).value_or(0);
  s.owner_gid = r.integer<gid_t>("ownerGID", false).value_or(0);
  s.state = r.string("state", false);
  s.pid = r.integer<pid_t>("pid", false);
  if (auto* a = r.array("attachments")) {
    for (const auto& att : *a) s.attachments.push_back(json::value_to<Attachment>(att));
  }
  s.labels = r.string_map("labels");
  s.created_unix = r.integer<std::int64_t>("createdUnix", false).value_or(0);
  return s;
}

void tag_invoke(json::value_from_tag, json::value& v, const TeardownParams& x) {
  json::object o{{"id", x.id}};
  if (x.force) o["force"] = true;
  v = std::move(o);
}

TeardownParams tag_invoke(json::value_to_tag<TeardownParams>, const json::value& v) {
  Reader r(v, "params");
  r.only({"id", "force"});
  return TeardownParams{r.string("id", true), r.boolean("force")};
}

void tag_invoke(json::value_from_tag, json::value& v, const TeardownResult& x) {
  json::object o{{"id", x.id}, {"existed", x.existed}, {"errors", json::value_from(x.errors)}};
  if (x.forced) o["forced"] = true;
  v = std::move(o);
}

TeardownResult tag_invoke(json::value_to_tag<TeardownResult>, const json::value& v) {
  Reader r(v, "teardown result");
  return TeardownResult{r.string("id", true), r.boolean("existed"), r.strings("errors"), r.boolean("forced")};
}

void tag_invoke(json::value_from_tag, json::value& v, const IdRange& x) {
  v = json::object{{"hostID", x.host_id}, {"size", x.size}};
}

IdRange tag_invoke(json::value_to_tag<IdRange>, const json::value& v) {
  Reader r(v, "ID range");
  r.only({"hostID", "size"});
  IdRange range{*r.integer<std::uint32_t>("hostID", true), *r.integer<std::uint32_t>("size", true)};
  if (range.size == 0) r.fail("size", "must be positive");
  if (static_cast<std::uint64_t>(range.host_id) + range.size > (1ULL << 32)) r.fail("size", "overflows the ID space");
  return range;
}

void tag_invoke(json::value_from_tag, json::value& v, const RuntimeInfo& x) {
  v = json::object{{"version", x.version},
                   {"cniVersions", json::value_from(x.cni_versions)},
                   {"idMappings", json::object{{"uids", json::value_from(x.uid_mappings)},
                                               {"gids", json::value_from(x.gid_mappings)}}},
                   {"subordinateIds", json::object{{"uids", json::value_from(x.subordinate_uids)},
                                                   {"gids", json::value_from(x.subordinate_gids)}}},
                   {"netnsDir", x.netns_dir},
                   {"caller", json::object{{"uid", x.caller_uid}, {"gid", x.caller_gid}}}};
}

RuntimeInfo tag_invoke(json::value_to_tag<RuntimeInfo>, const json::value& v) {
  Reader r(v, "runtime info");
  RuntimeInfo info;
  info.version = r.string("version", false);
  info.cni_versions = r.strings("cniVersions");
  if (auto* m = r.object("idMappings")) {
    Reader mr(*m, "idMappings");
    if (auto* a = mr.array("uids"))
      for (const auto& x : *a) info.uid_mappings.push_back(json::value_to<IdRange>(x));
    if (auto* a = mr.array("gids"))
      for (const auto& x : *a) info.gid_mappings.push_back(json::value_to<IdRange>(x));
  }
  if (auto* m = r.object("subordinateIds")) {
    Reader mr(*m, "subordinateIds");
    if (auto* a = mr.array("uids"))
      for (const auto& x : *a) info.subordinate_uids.push_back(json::value_to<IdRange>(x));
    if (auto* a = mr.array("gids"))
      for (const auto& x : *a) info.subordinate_gids.push_back(json::value_to<IdRange>(x));
  }
  info.netns_dir = r.string("netnsDir", false);
  if (auto* c = r.object("caller")) {
    Reader cr(*c, "caller");
    info.caller_uid = cr.integer<uid_t>("uid", false).value_or(0);
    info.caller_gid = cr.integer<gid_t>("gid", false).value_or(0);
  }
  return info;
}

void tag_invoke(json::value_from_tag, json::value& v, const NetworkInfo& x) {
  v = json::object{{"name", x.name},
                   {"cniVersion", x.cni_version},
                   {"plugins", json::value_from(x.plugins)},
                   {"default", x.is_default},
                   {"source", x.source}};
}

NetworkInfo tag_invoke(json::value_to_tag<NetworkInfo>, const json::value& v) {
  Reader r(v, "network info");
  return NetworkInfo{r.string("name", true), r.string("cniVersion", false), r.strings("plugins"),
                     r.boolean("default"), r.string("source", false)};
}

}  // namespace sandnet::protocol
