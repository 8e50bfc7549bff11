#include "sandnet/cni/result.hpp"

#include "sandnet/cni/version.hpp"
#include "sandnet/common/finite_json.hpp"
#include "sandnet/common/validate.hpp"

namespace json = boost::json;

namespace sandnet::cni {
namespace {

// The three result shapes the spec has had.
enum class Family { v020, v040, v100 };

Family family_of(std::string_view version) {
  if (!is_supported_version(version))
    throw_error(errc::invalid_argument, "unsupported result version \"" + std::string(version) + "\"");
  if (compare_versions(version, "0.3.0") < 0) return Family::v020;
  if (compare_versions(version, "1.0.0") < 0) return Family::v040;
  return Family::v100;
}

bool is_ipv6(std::string_view address) { return address.find(':') != std::string_view::npos; }

void require(bool ok, const std::string& what) {
  if (!ok) throw_error(errc::invalid_argument, "malformed result: " + what);
}

const json::array* optional_array(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return nullptr;
  require(v->is_array(), "\"" + std::string(key) + "\" is not an array");
  return &v->as_array();
}

bool is_ip(std::string_view text) { return validate::is_ip_address(text); }
bool is_cidr(std::string_view text) { return validate::is_cidr(text); }

// key, when present and not null, is a string that ok() accepts.
void check_string(const json::object& o, std::string_view key, bool (*ok)(std::string_view),
                  const std::string& where, bool required) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) {
    require(!required, where + " without \"" + std::string(key) + "\"");
    return;
  }
  require(v->is_string() && ok(v->as_string()),
          where + " \"" + std::string(key) + "\" is malformed: " + json::serialize(*v));
}

void check_routes(const json::array* routes, const std::string& where) {
  if (!routes) return;
  for (const auto& r : *routes) {
    require(r.is_object(), where + " route is not an object");
    check_string(r.as_object(), "dst", is_cidr, where + " route", true);
    check_string(r.as_object(), "gw", is_ip, where + " route", false);
  }
}

void check_shape(const json::object& r, Family family) {
  if (const json::value* dns = r.if_contains("dns"); dns && !dns->is_null())
    require(dns->is_object(), "\"dns\" is not an object");
  if (family == Family::v020) {
    for (const char* key : {"ip4", "ip6"}) {
      const json::value* ip = r.if_contains(key);
      if (!ip || ip->is_null()) continue;
      require(ip->is_object(), std::string("\"") + key + "\" is not an object");
      check_string(ip->as_object(), "ip", is_cidr, std::string("\"") + key + "\"", true);
      check_string(ip->as_object(), "gateway", is_ip, std::string("\"") + key + "\"", false);
      check_routes(optional_array(ip->as_object(), "routes"), key);
    }
    return;
  }
  std::size_t interface_count = 0;
  if (const json::array* ifaces = optional_array(r, "interfaces")) {
    for (const auto& i : *ifaces) {
      require(i.is_object(), "interface is not an object");
      const json::value* name = i.as_object().if_contains("name");
      require(name && name->is_string(), "interface without \"name\"");
    }
    interface_count = ifaces->size();
  }
  if (const json::array* ips = optional_array(r, "ips"))
    for (const auto& ip : *ips) {
      require(ip.is_object(), "ip is not an object");
      const json::object& o = ip.as_object();
      check_string(o, "address", is_cidr, "ip", true);
      check_string(o, "gateway", is_ip, "ip", false);
      if (const json::value* idx = o.if_contains("interface"); idx && !idx->is_null()) {
        require(idx->is_int64() || idx->is_uint64(), "ip \"interface\" is not an integer");
        const bool in_range = idx->is_uint64() ? idx->as_uint64() < interface_count
                                               : idx->as_int64() >= 0 &&
                                                     static_cast<std::uint64_t>(idx->as_int64()) < interface_count;
        require(in_range, "ip \"interface\" " + json::serialize(*idx) + " is not an index into the " +
                              std::to_string(interface_count) + " interfaces");
      }
      if (const json::value* version = o.if_contains("version"); version && !version->is_null())
        require(version->is_string() && (version->as_string() == "4" || version->as_string() == "6"),
                "ip \"version\" is not \"4\" or \"6\"");
    }
  check_routes(optional_array(r, "routes"), "top-level");
}

void copy_if(const json::object& from, json::object& to, std::string_view key) {
  if (const json::value* v = from.if_contains(key); v && !v->is_null()) to[key] = *v;
}

json::object route_040(const json::object& route) {
  json::object out;
  copy_if(route, out, "dst");
  copy_if(route, out, "gw");
  return out;
}

// 0.1.0/0.2.0 -> 0.4.0 shape (libcni convertFrom02x).
json::object up_from_020(const json::object& r) {
  json::object out;
  json::array ips;
  json::array routes;
  for (const auto& [key, version] : {std::pair{"ip4", "4"}, std::pair{"ip6", "6"}}) {
    const json::value* ip = r.if_contains(key);
    if (!ip || ip->is_null()) continue;
    const json::object& cfg = ip->as_object();
    json::object entry;
    entry["version"] = version;
    entry["address"] = cfg.at("ip");
    copy_if(cfg, entry, "gateway");
    ips.push_back(std::move(entry));
    if (const json::value* rs = cfg.if_contains("routes"); rs && rs->is_array())
      for (const auto& route : rs->as_array()) routes.push_back(route_040(route.as_object()));
  }
  if (!ips.empty()) out["ips"] = std::move(ips);
  if (!routes.empty()) out["routes"] = std::move(routes);
  copy_if(r, out, "dns");
  return out;
}

// 0.4.0 shape -> 0.2.0 shape (libcni convertTo02x): the first IP of each
// family, routes sorted into ip4/ip6 by their destination.
json::object down_to_020(const json::object& r) {
  json::object ip4, ip6;
  if (const json::value* ips = r.if_contains("ips"); ips && ips->is_array()) {
    for (const auto& v : ips->as_array()) {
      const json::object& ip = v.as_object();
      const bool six = is_ipv6(ip.at("address").as_string());
      json::object& slot = six ? ip6 : ip4;
      if (!slot.empty()) continue;
      slot["ip"] = ip.at("address");
      copy_if(ip, slot, "gateway");
    }
  }
  if (ip4.empty() && ip6.empty())
    throw_error(errc::invalid_argument, "cannot convert result to 0.2.0: no IP addresses");
  if (const json::value* rs = r.if_contains("routes"); rs && rs->is_array()) {
    for (const auto& v : rs->as_array()) {
      const json::object& route = v.as_object();
      json::object& slot = is_ipv6(route.at("dst").as_string()) ? ip6 : ip4;
      if (slot.empty()) continue;
      json::value& list = slot["routes"];
      if (!list.is_array()) list = json::array{};
      list.as_array().push_back(route_040(route));
    }
  }
  json::object out;
  if (!ip4.empty()) out["ip4"] = std::move(ip4);
  if (!ip6.empty()) out["ip6"] = std::move(ip6);
  copy_if(r, out, "dns");
  return out;
}

// 1.x -> 0.4.0: "version" derived from the address, 1.x-only fields dropped.
json::object down_to_040(const json::object& r) {
  json::object out;
  if (const json::value* ifs = r.if_contains("interfaces"); ifs && ifs->is_array()) {
    json::array list;
    for (const auto& v : ifs->as_array()) {
      json::object iface;
      for (const char* key : {"name", "mac", "sandbox"}) copy_if(v.as_object(), iface, key);
      list.push_back(std::move(iface));
    }
    out["interfaces"] = std::move(list);
  }
  if (const json::value* ips = r.if_contains("ips"); ips && ips->is_array()) {
    json::array list;
    for (const auto& v : ips->as_array()) {
      const json::object& ip = v.as_object();
      json::object entry;
      entry["version"] = is_ipv6(ip.at("address").as_string()) ? "6" : "4";
      for (const char* key : {"interface", "address", "gateway"}) copy_if(ip, entry, key);
      list.push_back(std::move(entry));
    }
    out["ips"] = std::move(list);
  }
  if (const json::value* rs = r.if_contains("routes"); rs && rs->is_array()) {
    json::array list;
    for (const auto& v : rs->as_array()) list.push_back(route_040(v.as_object()));
    out["routes"] = std::move(list);
  }
  copy_if(r, out, "dns");
  return out;
}

// 0.4.0 -> 1.x: "version" dropped from each IP, everything else kept.
json::object up_to_100(const json::object& r) {
  json::object out = r;
  if (json::value* ips = out.if_contains("ips"); ips && ips->is_array())
    for (auto& ip : ips->as_array()) ip.as_object().erase("version");
  out.erase("cniVersion");
  return out;
}

// 0.4.0 shape with "version" filled in where a plugin left it out.
json::object normalize_040(const json::object& r) {
  json::object out = r;
  if (json::value* ips = out.if_contains("ips"); ips && ips->is_array())
    for (auto& v : ips->as_array()) {
      json::object& ip = v.as_object();
      if (!ip.contains("version"))
        ip["version"] = is_ipv6(ip.at("address").as_string()) ? "6" : "4";
    }
  out.erase("cniVersion");
  return out;
}

// Puts "cniVersion" first, as libcni's structs marshal it.
json::object with_version(const json::object& body, std::string_view version) {
  json::object out;
  out["cniVersion"] = version;
  for (const auto& [k, v] : body)
    if (k != "cniVersion") out[k] = v;
  return out;
}

}  // namespace

std::string result_version(const json::object& result) {
  const json::value* v = result.if_contains("cniVersion");
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

json::object parse_result(std::string_view stdout_bytes, std::string_view config_version) {
  json::error_code ec;
  json::value v = parse_finite_json(stdout_bytes, ec);
  if (ec) throw_error(errc::invalid_argument, "result is not valid JSON: " + ec.message());
  if (!v.is_object()) throw_error(errc::invalid_argument, "result is not a JSON object");
  json::object& r = v.as_object();
  std::string version = result_version(r);
  if (version.empty()) version = std::string(config_version);
  check_shape(r, family_of(version));
  return with_version(r, version);
}

json::object convert_result(const json::object& result, std::string_view to_version) {
  std::string from_version = result_version(result);
  const Family from = family_of(from_version);
  const Family to = family_of(to_version);
  check_shape(result, from);
  if (from == to) return with_version(result, to_version);

  // Go through the 0.4.0 shape, as libcni's converters do.
  json::object mid = from == Family::v020   ? up_from_020(result)
                     : from == Family::v100 ? down_to_040(result)
                                            : normalize_040(result);
  switch (to) {
    case Family::v020:
      return with_version(down_to_020(mid), to_version);
    case Family::v040:
      return with_version(mid, to_version);
    case Family::v100:
      return with_version(up_to_100(mid), to_version);
  }
  throw_error(errc::internal, "unreachable result family");
}

std::optional<CniErrorInfo> parse_error_object(std::string_view stdout_bytes) {
  std::error_code ec;
  json::value v = json::parse(stdout_bytes, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const json::object& o = v.as_object();
  // A code that is no uint32 is not an error object (libcni's uint field
  // refuses it too): the caller then reports the raw output.
  const json::value* code = o.if_contains("code");
  if (!code || !(code->is_int64() || code->is_uint64())) return std::nullopt;
  json::error_code code_ec;
  const auto code_value = code->to_number<std::uint32_t>(code_ec);
  if (code_ec) return std::nullopt;
  CniErrorInfo info;
  info.code = code_value;
  if (const json::value* m = o.if_contains("msg"); m && m->is_string()) info.msg = m->as_string();
  if (const json::value* d = o.if_contains("details"); d && d->is_string())
    info.details = d->as_string();
  return info;
}

}  // namespace sandnet::cni
