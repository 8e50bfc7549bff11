// sandnetctl cni: cnitool's command line and environment over the in-process
// CNI runtime, sharing cnitool's container IDs and libcni's result cache.
#include "cnitool.hpp"

#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>

#include "sandnet/cni/config.hpp"
#include "sandnet/cni/runtime.hpp"
#include "sandnet/cni/sha512.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/finite_json.hpp"

namespace json = boost::json;

namespace sandnet::ctl {
namespace {

constexpr const char* kUsage =
    "usage: sandnetctl cni add|check|del|gc|status NET NETNS [--container-id ID]\n"
    "environment (as cnitool): NETCONFPATH (/etc/cni/net.d), CNI_PATH (/opt/cni/bin:/usr/lib/cni),\n"
    "  CNI_IFNAME (eth0), CNI_ARGS (K=V;K=V), CAP_ARGS (JSON object), CNI_CACHE_DIR (/var/lib/cni)\n";

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : std::move(fallback);
}

std::vector<std::filesystem::path> split_path_list(const std::string& list) {
  std::vector<std::filesystem::path> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t end = std::min(list.find(':', start), list.size());
    if (end > start) out.emplace_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Go's json.MarshalIndent(v, "", "    "), which cnitool uses to print results.
void print_indented(std::ostream& os, const json::value& v, int depth) {
  const std::string pad(static_cast<std::size_t>(depth + 1) * 4, ' ');
  const std::string close_pad(static_cast<std::size_t>(depth) * 4, ' ');
  if (v.is_object()) {
    const auto& o = v.as_object();
    if (o.empty()) {
      os << "{}";
      return;
    }
    os << "{\n";
    bool first = true;
    for (const auto& [k, item] : o) {
      os << (first ? "" : ",\n") << pad << json::serialize(json::string(k)) << ": ";
      print_indented(os, item, depth + 1);
      first = false;
    }
    os << "\n" << close_pad << "}";
  } else if (v.is_array()) {
    const auto& a = v.as_array();
    if (a.empty()) {
      os << "[]";
      return;
    }
    os << "[\n";
    bool first = true;
    for (const auto& item : a) {
      os << (first ? "" : ",\n") << pad;
      print_indented(os, item, depth + 1);
      first = false;
    }
    os << "\n" << close_pad << "]";
  } else {
    os << json::serialize(v);
  }
}

void report(const std::string& command, const Error& e) {
  std::cerr << "sandnetctl cni " << command << ": " << e.what() << "\n";
  if (const auto& cni = e.cni()) {
    std::cerr << "CNI error code " << cni->code << ": " << cni->msg << "\n";
    if (!cni->details.empty()) std::cerr << "details: " << cni->details << "\n";
  }
}

}  // namespace

int run_cni(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  std::optional<std::string> container_id;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--container-id") {
      if (i + 1 == args.size()) {
        std::cerr << "sandnetctl cni: --container-id needs a value\n" << kUsage;
        return 2;
      }
      container_id = args[++i];
    } else if (args[i] == "-h" || args[i] == "--help") {
      std::cout << kUsage;
      return 0;
    } else {
      positional.push_back(args[i]);
    }
  }
  static const std::vector<std::string> kCommands = {"add", "check", "del", "gc", "status"};
  if (positional.empty() ||
      std::find(kCommands.begin(), kCommands.end(), positional[0]) == kCommands.end()) {
    std::cerr << "sandnetctl cni: unknown or missing command\n" << kUsage;
    return 2;
  }
  const std::string& command = positional[0];
  // gc and status act on the network only; cnitool still takes a netns there.
  const bool needs_netns = command != "gc" && command != "status";
  if (positional.size() > 3 || positional.size() < (needs_netns ? 3u : 2u)) {
    std::cerr << "sandnetctl cni " << command << ": wrong number of arguments\n" << kUsage;
    return 2;
  }

  try {
    cni::NetworkConfigList list =
        cni::find_network(env_or("NETCONFPATH", "/etc/cni/net.d"), positional[1]);

    cni::RuntimeOptions options;
    options.plugin_dirs = split_path_list(env_or("CNI_PATH", "/opt/cni/bin:/usr/lib/cni"));
    options.cache_dir = env_or("CNI_CACHE_DIR", "/var/lib/cni");
    cni::Runtime runtime(options);

    if (command == "gc") {
      // cnitool passes no valid attachments: every cached one is deleted.
      runtime.gc_sync(list, {});
      return 0;
    }
    if (command == "status") {
      runtime.status_sync(list);
      return 0;
    }

    cni::RuntimeConf rt;
    std::string netns = positional[2];
    if (netns.front() != '/') netns = (std::filesystem::current_path() / netns).lexically_normal().string();
    rt.netns = netns;
    rt.container_id = container_id ? *container_id : cni::cnitool_container_id(positional[2]);
    // cnitool: CNI_IFNAME unset means eth0; set (even empty) is used as is.
    const char* ifname = std::getenv("CNI_IFNAME");
    rt.ifname = ifname ? ifname : "eth0";
    rt.args = cni::parse_cni_args(env_or("CNI_ARGS", ""));
    if (const std::string caps = env_or("CAP_ARGS", ""); !caps.empty()) {
      boost::json::error_code ec;
      json::value v = parse_finite_json(caps, ec);
      // cnitool unmarshals into a map: JSON null is no capability arguments.
      if (ec || !(v.is_object() || v.is_null()))
        throw_error(errc::invalid_argument, "CAP_ARGS is not a JSON object");
      if (v.is_object()) rt.capability_args = std::move(v.as_object());
    }

    if (command == "add") {
      json::object result = runtime.add_sync(list, rt);
      print_indented(std::cout, result, 0);
      std::cout << std::endl;
    } else if (command == "check") {
      runtime.check_sync(list, rt);
    } else {
      runtime.del_sync(list, rt);
    }
    return 0;
  } catch (const Error& e) {
    report(command, e);
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "sandnetctl cni " << command << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace sandnet::ctl
