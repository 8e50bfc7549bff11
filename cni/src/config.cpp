#include "sandnet/cni/config.hpp"

#include <algorithm>
#include <system_error>

#include "sandnet/cni/version.hpp"
#include "sandnet/common/fs.hpp"
#include "sandnet/common/validate.hpp"
#include "sandnet/common/finite_json.hpp"

namespace json = boost::json;

namespace sandnet::cni {
namespace {

json::object parse_object(std::string_view bytes, const std::string& what) {
  json::error_code ec;
  json::value v = parse_finite_json(bytes, ec);
  if (ec) throw_error(errc::invalid_argument, "invalid JSON in " + what + ": " + ec.message());
  if (!v.is_object()) throw_error(errc::invalid_argument, what + " is not a JSON object");
  return std::move(v.as_object());
}

std::string optional_string(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return {};
  if (!v->is_string())
    throw_error(errc::invalid_argument, "\"" + std::string(key) + "\" is not a string");
  return std::string(v->as_string());
}

// libcni accepts both a JSON bool and the strings "true"/"false".
bool optional_bool(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return false;
  if (v->is_bool()) return v->as_bool();
  if (v->is_string()) {
    if (v->as_string() == "true") return true;
    if (v->as_string() == "false") return false;
  }
  throw_error(errc::invalid_argument,
              "\"" + std::string(key) + "\" must be a boolean, got " + json::serialize(*v));
}

void check_plugin(const json::object& plugin, std::size_t index) {
  const json::value* type = plugin.if_contains("type");
  if (!type || !type->is_string() || type->as_string().empty())
    throw_error(errc::invalid_argument,
                "plugin " + std::to_string(index) + ": missing \"type\"");
}

std::vector<std::filesystem::path> files_with(const std::filesystem::path& dir,
                                              std::initializer_list<std::string_view> exts) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return out;
    throw Error(ec, "read conf dir " + dir.string());
  }
  for (const auto& entry : it) {
    std::error_code type_ec;
    if (!entry.is_regular_file(type_ec)) continue;
    const std::string ext = entry.path().extension().string();
    if (std::find(exts.begin(), exts.end(), ext) != exts.end()) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

NetworkConfigList parse_network_list(std::string_view bytes, std::string source) {
  return with_context(source, [&] {
    json::object raw = parse_object(bytes, "network list");
    NetworkConfigList list;
    list.name = optional_string(raw, "name");
    if (list.name.empty()) throw_error(errc::invalid_argument, "missing \"name\"");
    validate::network_name(list.name);

    const std::string declared = optional_string(raw, "cniVersion");
    if (const json::value* vs = raw.if_contains("cniVersions"); vs && !vs->is_null()) {
      if (!vs->is_array()) throw_error(errc::invalid_argument, "\"cniVersions\" is not an array");
      for (const auto& v : vs->as_array()) {
        if (!v.is_string())
          throw_error(errc::invalid_argument, "\"cniVersions\" holds a non-string");
        list.cni_versions.emplace_back(v.as_string());
      }
    }
    list.cni_version = select_version(declared, list.cni_versions);
    list.disable_check = optional_bool(raw, "disableCheck");
    list.disable_gc = optional_bool(raw, "disableGC");

    const json::value* plugins = raw.if_contains("plugins");
    if (!plugins) throw_error(errc::invalid_argument, "missing \"plugins\"");
    if (!plugins->is_array()) throw_error(errc::invalid_argument, "\"plugins\" is not an array");
    if (plugins->as_array().empty())
      throw_error(errc::invalid_argument, "\"plugins\" is empty");
    for (const auto& p : plugins->as_array()) {
      if (!p.is_object())
        throw_error(errc::invalid_argument,
                    "plugin " + std::to_string(list.plugins.size()) + " is not an object");
      check_plugin(p.as_object(), list.plugins.size());
      list.plugins.push_back(p.as_object());
    }
    list.bytes = std::string(bytes);
    list.source = source;
    return list;
  });
}

NetworkConfigList parse_network_config(std::string_view bytes, std::string source) {
  json::object wrapped = with_context(source, [&] {
    json::object raw = parse_object(bytes, "network config");
    check_plugin(raw, 0);
    const std::string name = optional_string(raw, "name");
    if (name.empty()) throw_error(errc::invalid_argument, "missing \"name\"");
    // The list libcni's ConfListFromConf builds (Go marshals map keys sorted).
    json::object list;
    list["cniVersion"] = optional_string(raw, "cniVersion");
    list["name"] = name;
    list["plugins"] = json::array{std::move(raw)};
    return list;
  });
  return parse_network_list(json::serialize(wrapped), std::move(source));
}

NetworkConfigList load_network_file(const std::filesystem::path& file) {
  std::string bytes = with_context(file.string(), [&] { return fs::read_file(file); });
  if (file.extension() == ".conflist") return parse_network_list(bytes, file.string());
  return parse_network_config(bytes, file.string());
}

LoadedNetworks load_networks(const std::filesystem::path& conf_dir) {
  LoadedNetworks loaded;
  auto load_all = [&](const std::vector<std::filesystem::path>& files) {
    for (const auto& f : files) {
      try {
        loaded.networks.push_back(load_network_file(f));
      } catch (Error& e) {
        loaded.errors.push_back(std::move(e));
      }
    }
  };
  load_all(files_with(conf_dir, {".conflist"}));
  load_all(files_with(conf_dir, {".conf", ".json"}));
  return loaded;
}

NetworkConfigList find_network(const std::filesystem::path& conf_dir, std::string_view name) {
  LoadedNetworks loaded = load_networks(conf_dir);
  for (auto& n : loaded.networks)
    if (n.name == name) return std::move(n);
  std::string msg = "network \"" + std::string(name) + "\" not found in " + conf_dir.string();
  if (!loaded.errors.empty()) {
    msg += " (unreadable:";
    for (const auto& e : loaded.errors) msg += std::string(" ") + e.what() + ";";
    msg.back() = ')';
  }
  throw_error(errc::not_found, msg);
}

json::object build_plugin_stdin(const json::object& plugin, std::string_view name,
                                std::string_view cni_version, const json::value* prev_result,
                                const json::object& capability_args, StdinFor purpose) {
  json::object conf = plugin;
  conf["name"] = name;
  conf["cniVersion"] = cni_version;
  conf.erase("prevResult");
  if (prev_result) conf["prevResult"] = *prev_result;
  if (purpose == StdinFor::attachment) conf.erase("capabilities");

  json::object runtime_config;
  if (const json::value* caps = plugin.if_contains("capabilities"); caps && caps->is_object()) {
    for (const auto& [capability, declared] : caps->as_object()) {
      if (!declared.is_bool() || !declared.as_bool()) continue;
      if (const json::value* arg = capability_args.if_contains(capability))
        runtime_config[capability] = *arg;
    }
  }
  if (!runtime_config.empty()) conf["runtimeConfig"] = std::move(runtime_config);
  return conf;
}

std::string build_cni_args(const std::vector<std::pair<std::string, std::string>>& args) {
  std::string out;
  for (const auto& [key, value] : args) {
    with_context("CNI_ARGS pair \"" + key + "=" + value + "\"", [&] {
      validate::cni_arg_key(key);
      validate::cni_arg_value(value);
    });
    if (!out.empty()) out += ';';
    out += key;
    out += '=';
    out += value;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_cni_args(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  if (text.empty()) return out;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = std::min(text.find(';', start), text.size());
    const std::string_view pair = text.substr(start, end - start);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == pair.size() ||
        pair.find('=', eq + 1) != std::string_view::npos)
      throw_error(errc::invalid_argument, "invalid CNI_ARGS pair \"" + std::string(pair) + "\"");
    out.emplace_back(std::string(pair.substr(0, eq)), std::string(pair.substr(eq + 1)));
    if (end == text.size()) break;
    start = end + 1;
  }
  return out;
}

}  // namespace sandnet::cni
