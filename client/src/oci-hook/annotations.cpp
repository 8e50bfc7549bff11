#include "oci-hook/annotations.hpp"

#include <set>

#include "cli/parse.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/validate.hpp"

namespace sandnet::oci_hook {
namespace {

[[noreturn]] void bad(std::string_view label, std::string_view text, const std::string& problem) {
  throw_error(errc::invalid_argument, std::string(label) + " \"" + std::string(text) + "\": " + problem);
}

// Splits on sep; "" gives no items, an empty item between separators is refused.
std::vector<std::string_view> split_list(std::string_view text, char sep, std::string_view label) {
  std::vector<std::string_view> items;
  if (text.empty()) return items;
  for (std::size_t start = 0;;) {
    auto end = text.find(sep, start);
    std::string_view item = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (item.empty()) bad(label, text, std::string("empty item (two '") + sep + "' in a row, or one at an end)");
    items.push_back(item);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return items;
}

// Runs a validator; its error is prefixed with what was being read.
template <class F>
void checked(std::string_view label, std::string_view text, F&& validate) {
  try {
    validate();
  } catch (const Error& e) {
    bad(label, text, e.context().empty() ? e.what() : e.context());
  }
}

}  // namespace

std::vector<std::string> parse_network_list(std::string_view text, std::string_view label) {
  std::vector<std::string> networks;
  std::set<std::string_view> seen;
  for (auto name : split_list(text, ',', label)) {
    checked(label, text, [&] { validate::network_name(name); });
    if (!seen.insert(name).second) bad(label, text, "network \"" + std::string(name) + "\" is named twice");
    networks.emplace_back(name);
  }
  return networks;
}

std::vector<capabilities::PortMapping> parse_port_list(std::string_view text, std::string_view label) {
  std::vector<capabilities::PortMapping> ports;
  for (auto spec : split_list(text, ',', label)) {
    auto port = cli::parse_port_spec(spec, label);
    for (const auto& other : ports)
      if (other.host_port == port.host_port && other.protocol == port.protocol && other.host_ip == port.host_ip)
        bad(label, text, "host port " + std::to_string(port.host_port) + "/" + port.protocol + " is mapped twice");
    ports.push_back(std::move(port));
  }
  return ports;
}

std::vector<std::pair<std::string, std::string>> parse_cni_args(std::string_view text, std::string_view label) {
  std::vector<std::pair<std::string, std::string>> args;
  for (auto item : split_list(text, ';', label)) {
    auto kv = cli::parse_key_value(item, label);
    checked(label, text, [&] {
      validate::cni_arg_key(kv.first);
      validate::cni_arg_value(kv.second);
    });
    for (const auto& other : args)
      if (other.first == kv.first) bad(label, text, "key \"" + kv.first + "\" is given twice");
    args.push_back(std::move(kv));
  }
  return args;
}

std::string parse_result_path(std::string_view text, std::string_view label) {
  if (text.empty() || text.front() != '/') bad(label, text, "must be an absolute path");
  if (text.back() == '/') bad(label, text, "must name a file, not a directory");
  if (text.find('\0') != std::string_view::npos) bad(label, text, "contains a NUL byte");
  return std::string(text);
}

NetworkOptions parse_annotations(const std::map<std::string, std::string>& annotations) {
  NetworkOptions o;
  for (const auto& [key, value] : annotations) {
    if (!key.starts_with(annotation::kPrefix)) continue;
    if (key == annotation::kId) {
      o.id = parse_id_annotation(annotations);
    } else if (key == annotation::kNetworks) {
      o.networks = parse_network_list(value, key);
    } else if (key == annotation::kPorts) {
      o.ports = parse_port_list(value, key);
    } else if (key == annotation::kIfname) {
      checked(key, value, [&] { validate::interface_name(value); });
      o.ifname = value;
    } else if (key == annotation::kArgs) {
      o.args = parse_cni_args(value, key);
    } else if (key == annotation::kResult) {
      o.result_path = parse_result_path(value, key);
    } else {
      throw_error(errc::invalid_argument,
                  "unknown annotation \"" + key + "\" (sandnet knows io.sandnet.id, .networks, .ports, .ifname, "
                  ".args, .result)");
    }
  }
  return o;
}

std::optional<std::string> parse_id_annotation(const std::map<std::string, std::string>& annotations) {
  auto it = annotations.find(annotation::kId);
  if (it == annotations.end()) return std::nullopt;
  checked(annotation::kId, it->second, [&] { validate::sandbox_id(it->second); });
  return it->second;
}

}  // namespace sandnet::oci_hook
