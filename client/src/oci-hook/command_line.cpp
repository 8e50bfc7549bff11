#include "oci-hook/command_line.hpp"

#include <string_view>

#include "cli/parse.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/validate.hpp"

namespace sandnet::oci_hook {
namespace {

[[noreturn]] void usage_error(std::string message) { throw_error(errc::invalid_argument, std::move(message)); }

// Reads "--name VALUE" or "--name=VALUE" at args[i]; advances i past it.
std::optional<std::string> option_value(const std::vector<std::string>& args, std::size_t& i, std::string_view name) {
  std::string_view arg = args[i];
  if (arg == name) {
    if (i + 1 >= args.size()) usage_error(std::string(name) + " needs a value");
    return args[++i];
  }
  if (arg.size() > name.size() && arg.starts_with(name) && arg[name.size()] == '=')
    return std::string(arg.substr(name.size() + 1));
  return std::nullopt;
}

// One LXC option at args[i], if it is one.
bool lxc_option(const std::vector<std::string>& args, std::size_t& i, NetworkOptions& o) {
  if (auto v = option_value(args, i, "--network")) {
    for (auto& name : parse_network_list(*v, "--network")) {
      for (const auto& other : o.networks)
        if (other == name) usage_error("--network \"" + name + "\" is given twice");
      o.networks.push_back(std::move(name));
    }
  } else if (auto v = option_value(args, i, "--port")) {
    for (auto& port : parse_port_list(*v, "--port")) o.ports.push_back(std::move(port));
  } else if (auto v = option_value(args, i, "--ifname")) {
    validate::interface_name(*v);
    o.ifname = *v;
  } else if (auto v = option_value(args, i, "--arg")) {
    for (auto& kv : parse_cni_args(*v, "--arg")) o.args.push_back(std::move(kv));
  } else if (auto v = option_value(args, i, "--id")) {
    validate::sandbox_id(*v);
    o.id = *v;
  } else if (auto v = option_value(args, i, "--result")) {
    o.result_path = parse_result_path(*v, "--result");
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::string usage() {
  return R"(Usage: sandnet-oci-hook [--socket PATH] [setup|teardown]
       sandnet-oci-hook [--socket PATH] lxc [--network NET]... [--port SPEC]... [--ifname NAME]
                        [--arg K=V]... [--id ID] [--result FILE]

OCI hook (runc, crun, Podman, CRI-O): reads the container's OCI state on stdin.
  setup     (createRuntime or prestart) attach the container's network namespace
            through sandnetd; a refused or failed setup exits 1, so the runtime
            does not start the container
  teardown  (poststop) detach it; an unknown sandbox is fine
  without either, the state's status decides: creating/created -> setup,
  stopped -> teardown
  Annotations: io.sandnet.networks=NET,NET (none: the daemon's defaults)
    io.sandnet.ports=[HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp],...
    io.sandnet.ifname=NAME  io.sandnet.args=K=V;K=V  io.sandnet.id=ID (default:
    the container ID)  io.sandnet.result=/ABS/FILE (the sandbox JSON, written there)

LXC hook (lxc.hook.start-host and lxc.hook.post-stop): LXC_HOOK_TYPE, LXC_NAME
and LXC_PID come from LXC; the sandbox is named LXC_NAME unless --id is given.
  --network, --port, --arg take one value or a comma list (--arg: K=V;K=V)

Options:
  --socket PATH  daemon socket (default: $SANDNET_SOCKET, else /run/sandnet/sandnetd.sock)
  --help, --version

Exit status: 0 success, 1 failure (one line on stderr), 2 bad usage.
)";
}

Invocation parse_command_line(const std::vector<std::string>& args) {
  Invocation inv;
  bool have_word = false;  // setup, teardown or lxc seen
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") return Invocation{.program = Program::help};
    if (arg == "--version") return Invocation{.program = Program::version};
    if (auto v = option_value(args, i, "--socket")) {
      if (v->empty()) usage_error("--socket needs a path");
      inv.socket_path = *v;
    } else if (inv.program == Program::lxc && lxc_option(args, i, inv.lxc)) {
      continue;
    } else if (arg.starts_with("-")) {
      usage_error("unknown option \"" + arg + "\"");
    } else if (inv.program == Program::lxc) {
      inv.lxc_args.push_back(arg);
    } else if (have_word) {
      usage_error("unexpected argument \"" + arg + "\"");
    } else if (arg == "setup") {
      inv.mode = Mode::setup;
      have_word = true;
    } else if (arg == "teardown") {
      inv.mode = Mode::teardown;
      have_word = true;
    } else if (arg == "lxc") {
      inv.program = Program::lxc;
      have_word = true;
    } else {
      usage_error("unknown command \"" + arg + "\" (setup, teardown or lxc)");
    }
  }
  return inv;
}

}  // namespace sandnet::oci_hook
