#include "ctl/ctl.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <map>
#include <ostream>

#include "cli/parse.hpp"
#include "ctl/render.hpp"
#include "sandnet/common/unique_fd.hpp"
#include "sandnet/common/validate.hpp"

namespace sandnet::ctl {
namespace json = boost::json;

namespace {

[[noreturn]] void usage_error(std::string message) { throw Error(errc::invalid_argument, std::move(message)); }

const std::map<std::string_view, Command>& commands() {
  static const std::map<std::string_view, Command> table = {
      {"help", Command::help},         {"setup", Command::setup},   {"teardown", Command::teardown},
      {"check", Command::check},       {"get", Command::get},       {"list", Command::list},
      {"inspect", Command::inspect},   {"explain", Command::explain}, {"networks", Command::networks},
      {"info", Command::info},
      {"gc", Command::gc},             {"status", Command::status}, {"cni", Command::cni},
  };
  return table;
}

bool needs_id(Command c) {
  return c == Command::setup || c == Command::teardown || c == Command::check || c == Command::get ||
         c == Command::inspect;
}

// Reads "--name VALUE" or "--name=VALUE" at args[i]; advances i past it.
std::optional<std::string> option_value(const std::vector<std::string>& args, std::size_t& i, std::string_view name) {
  std::string_view arg = args[i];
  if (arg == name) {
    if (i + 1 >= args.size()) usage_error(std::string(name) + " needs a value");
    return args[++i];
  }
  if (arg.size() > name.size() && arg.substr(0, name.size()) == name && arg[name.size()] == '=')
    return std::string(arg.substr(name.size() + 1));
  return std::nullopt;
}

}  // namespace

PortMapping parse_port_spec(std::string_view spec) { return cli::parse_port_spec(spec, "--port"); }

std::pair<std::string, std::string> parse_key_value(std::string_view spec, std::string_view option) {
  return cli::parse_key_value(spec, option);
}

std::string usage() {
  return R"(Usage: sandnetctl [--socket PATH] [--json] COMMAND [ARGS]

Commands:
  setup ID (--pid PID [--pidfd] | --netns PATH | --create --uidmap C:H:N... --gidmap C:H:N...)
        [--network NET]... [--ifname NAME]
        [--port [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]]... [--arg K=V]... [--label K=V]...
                 attach sandbox ID's network namespace to its networks
  teardown ID [--force]
                 detach and forget sandbox ID (succeeds for an unknown ID); --force
                 (root) forgets it even if a DEL fails, listing what was left behind
  check ID       run CNI CHECK on sandbox ID's networks
  get ID         show sandbox ID
  list           list sandboxes
  inspect ID     show the links, addresses and routes inside sandbox ID
  explain ID     why sandbox ID is in its state: pins, process, CNI cache, rules, retries
  explain [ID] (--pid PID [--pidfd] | --netns PATH | --create ...) [setup options]
                 run a setup's checks without changing anything: the netns, its
                 owner and maps, the policy rule, and the verdict with its reason
                 (exit 1 when refused or when the sandbox needs attention)
  networks       list the networks this caller may use
  info           daemon version, CNI versions, ID mappings
  gc             remove leftovers of vanished sandboxes (root)
  status         daemon readiness and network health
  cni ...        cnitool-compatible mode, without the daemon:
                 cni add|check|del|gc|status NET NETNS
  help, --help   this text;  --version  the version

Options:
  --socket PATH  daemon socket (default: $SANDNET_SOCKET, else /run/sandnet/sandnetd.sock)
  --json         print the raw JSON result
  --pidfd        (setup) pass the PID as a pidfd over the socket, closing the PID-reuse window
  --netns PATH   (setup) pass an existing network namespace (e.g. /run/netns/x) as an fd
  --create       (setup) the daemon makes a user namespace with the --uidmap/--gidmap
                 lines (CONTAINERID:HOSTID:SIZE, repeatable) and a network namespace
                 owned by it, and prints both pins for the pod to join

Exit status: 0 success, 1 failure (reason on stderr), 2 bad usage.
)";
}

Invocation parse_command_line(const std::vector<std::string>& args) {
  Invocation inv;
  bool have_command = false;
  bool use_pidfd = false;
  bool create = false;
  std::optional<pid_t> pid;
  std::vector<PortMapping> ports;
  std::vector<std::string> positional;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (have_command && inv.command == Command::cni) {
      inv.cni_args.push_back(arg);  // everything after "cni" is the cnitool's
      continue;
    }
    if (auto v = option_value(args, i, "--socket")) {
      if (v->empty()) usage_error("--socket needs a path");
      inv.socket_path = *v;
    } else if (arg == "--json") {
      inv.json = true;
    } else if (arg == "--help" || arg == "-h") {
      return Invocation{.command = Command::help};
    } else if (arg == "--version") {
      return Invocation{.command = Command::version};
    } else if (have_command && (inv.command == Command::setup || inv.command == Command::explain)) {
      if (auto v = option_value(args, i, "--pid")) {
        pid = cli::parse_number<pid_t>(*v, 1, std::numeric_limits<pid_t>::max(), "--pid");
      } else if (arg == "--pidfd") {
        use_pidfd = true;
      } else if (arg == "--create") {
        create = true;
      } else if (auto v = option_value(args, i, "--uidmap")) {
        inv.setup.create.uid_mappings.push_back(cli::parse_id_mapping(*v, "--uidmap"));
      } else if (auto v = option_value(args, i, "--gidmap")) {
        inv.setup.create.gid_mappings.push_back(cli::parse_id_mapping(*v, "--gidmap"));
      } else if (auto v = option_value(args, i, "--netns")) {
        if (v->empty()) usage_error("--netns needs a path");
        inv.netns_path = *v;
      } else if (auto v = option_value(args, i, "--network")) {
        validate::network_name(*v);
        inv.setup.networks.push_back(protocol::NetworkRequest{*v, {}});
      } else if (auto v = option_value(args, i, "--ifname")) {
        validate::interface_name(*v);
        inv.setup.ifname = *v;
      } else if (auto v = option_value(args, i, "--port")) {
        ports.push_back(parse_port_spec(*v));
      } else if (auto v = option_value(args, i, "--arg")) {
        auto kv = parse_key_value(*v, "--arg");
        validate::cni_arg_key(kv.first);
        validate::cni_arg_value(kv.second);
        inv.setup.args.push_back(std::move(kv));
      } else if (auto v = option_value(args, i, "--label")) {
        auto kv = parse_key_value(*v, "--label");
        inv.setup.labels[kv.first] = kv.second;
      } else if (arg.starts_with("-")) {
        usage_error("setup: unknown option \"" + arg + "\"");
      } else {
        positional.push_back(arg);
      }
    } else if (have_command && inv.command == Command::teardown && arg == "--force") {
      inv.force = true;
    } else if (arg.starts_with("-")) {
      usage_error("unknown option \"" + arg + "\"");
    } else if (!have_command) {
      if (arg == "version") return Invocation{.command = Command::version};
      auto it = commands().find(arg);
      if (it == commands().end()) usage_error("unknown command \"" + arg + "\"");
      inv.command = it->second;
      have_command = true;
    } else {
      positional.push_back(arg);
    }
  }
  if (!have_command) usage_error("no command given");
  if (inv.command == Command::help || inv.command == Command::cni) return inv;

  std::string name;
  for (const auto& [n, c] : commands())
    if (c == inv.command) name = std::string(n);
  const bool has_reference = pid || use_pidfd || create || !inv.netns_path.empty() ||
                             !inv.setup.create.uid_mappings.empty() || !inv.setup.create.gid_mappings.empty();
  if (inv.command == Command::explain) {
    inv.explain_setup = has_reference;
    if (!has_reference && (!inv.setup.networks.empty() || !inv.setup.ifname.empty() || !ports.empty() ||
                           !inv.setup.args.empty() || !inv.setup.labels.empty()))
      usage_error("explain: setup options need --pid, --netns or --create (or give just a sandbox ID)");
  }
  std::size_t wanted = needs_id(inv.command) || (inv.command == Command::explain && !inv.explain_setup) ? 1 : 0;
  if (inv.explain_setup && positional.size() <= 1) wanted = positional.size();
  if (positional.size() != wanted)
    usage_error(name + (wanted ? " takes one sandbox ID" : " takes no arguments") +
                (positional.size() > wanted ? ", got \"" + positional.back() + "\"" : std::string()));
  if (wanted) {
    inv.id = positional[0];
    validate::sandbox_id(inv.id);
  }
  if (inv.command == Command::setup || inv.explain_setup) {
    inv.setup.id = inv.id;
    const bool maps = !inv.setup.create.uid_mappings.empty() || !inv.setup.create.gid_mappings.empty();
    if (maps && !create) usage_error("setup: --uidmap and --gidmap go with --create");
    if (create) {
      if (pid || use_pidfd || !inv.netns_path.empty())
        usage_error("setup: --create makes the namespaces; it takes no --pid or --netns");
      if (inv.setup.create.uid_mappings.empty() || inv.setup.create.gid_mappings.empty())
        usage_error("setup: --create needs at least one --uidmap and one --gidmap");
      inv.setup.ref = protocol::SandboxRef::create;
    } else if (!inv.netns_path.empty()) {
      if (pid || use_pidfd) usage_error("setup: give either --pid or --netns, not both");
      inv.setup.ref = protocol::SandboxRef::netns;
    } else if (pid) {
      inv.setup.ref = use_pidfd ? protocol::SandboxRef::pidfd : protocol::SandboxRef::pid;
      inv.setup.pid = *pid;
    } else {
      usage_error("setup: --pid PID, --netns PATH or --create is required");
    }
    if (!ports.empty()) inv.setup.capabilities.port_mappings = std::move(ports);
  }
  return inv;
}

namespace {

// The fd a setup sends with its request, if any.
unique_fd open_sandbox_fd(const Invocation& inv) {
  if (inv.setup.ref == protocol::SandboxRef::netns) {
    unique_fd fd(::open(inv.netns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("open " + inv.netns_path);
    return fd;
  }
  if (inv.setup.ref == protocol::SandboxRef::pidfd) {
    unique_fd fd(static_cast<int>(::syscall(SYS_pidfd_open, inv.setup.pid, 0)));  // pidfds are O_CLOEXEC
    if (!fd) throw_errno("pidfd_open " + std::to_string(inv.setup.pid));
    return fd;
  }
  return {};
}

// What a failure is about, as the first words of the message: "setup pod1".
std::string subject(const Invocation& inv) {
  for (const auto& [name, c] : commands())
    if (c == inv.command) return inv.id.empty() ? std::string(name) : std::string(name) + " " + inv.id;
  return "sandnetctl";
}

}  // namespace

int run(const Invocation& inv, std::ostream& out, std::ostream& err, const CniRunner& cni) {
  switch (inv.command) {
    case Command::help:
      out << usage();
      return 0;
    case Command::version:
      out << "sandnetctl " << SANDNET_VERSION << "\n";
      return 0;
    case Command::cni:
      if (!cni) {
        err << "sandnetctl: cni: this build has no CNI runtime\n";
        return 1;
      }
      return cni(inv.cni_args);
    default:
      break;
  }
  const std::string what = subject(inv);
  try {
    client::ClientOptions options;
    options.socket_path = inv.socket_path;
    client::Client client(options);
    json::object id{{"id", inv.id}};
    json::value result;
    unique_fd sandbox_fd;
    const char* method = nullptr;
    switch (inv.command) {
      case Command::setup:
        sandbox_fd = open_sandbox_fd(inv);
        method = protocol::method::kSetup;
        result = client.call(method, json::value_from(inv.setup).as_object(), sandbox_fd.get());
        break;
      case Command::teardown:
        method = protocol::method::kTeardown;
        result = client.call(method, json::value_from(protocol::TeardownParams{inv.id, inv.force}).as_object());
        break;
      case Command::check: result = client.call(method = protocol::method::kCheck, id); break;
      case Command::get: result = client.call(method = protocol::method::kGet, id); break;
      case Command::inspect: result = client.call(method = protocol::method::kInspect, id); break;
      case Command::explain:
        method = protocol::method::kExplain;
        if (inv.explain_setup) {
          sandbox_fd = open_sandbox_fd(inv);
          json::object params = json::value_from(inv.setup).as_object();
          if (inv.id.empty()) params.erase("id");
          result = client.call(method, params, sandbox_fd.get());
        } else {
          result = client.call(method, id);
        }
        break;
      case Command::list: result = client.call(method = protocol::method::kList, {}); break;
      case Command::networks: result = client.call(method = protocol::method::kNetworksList, {}); break;
      case Command::info: result = client.call(method = protocol::method::kRuntimeInfo, {}); break;
      case Command::gc: result = client.call(method = protocol::method::kGc, {}); break;
      case Command::status: result = client.call(method = protocol::method::kStatus, {}); break;
      default: throw_error(errc::internal, "unhandled command");
    }
    if (inv.json) {
      out << json::serialize(result) << "\n";
    }
    int status = 0;
    std::string text;
    switch (inv.command) {
      case Command::setup:
      case Command::get: text = render_sandbox(client::decode_sandbox(result, method)); break;
      case Command::teardown: {
        auto t = client::decode_teardown(result);
        text = render_teardown(t);
        if (!t.errors.empty()) {
          err << "sandnetctl: " << what << ": " << t.errors.size() << " step(s) could not be undone\n";
          status = 1;
        }
        break;
      }
      case Command::check: text = inv.id + ": ok\n"; break;
      case Command::inspect: text = render_inspect(client::decode_inspect(result)); break;
      case Command::explain: {
        const auto* verdict = result.is_object() ? result.as_object().if_contains("verdict") : nullptr;
        if (!verdict || !verdict->is_string())
          throw_error(errc::protocol_error, "sandbox.explain reply has no verdict");
        text = render_explanation(result.as_object());
        if (verdict->as_string() != "allowed" && verdict->as_string() != "healthy") status = 1;
        break;
      }
      case Command::list: text = render_sandbox_list(client::decode_sandbox_list(result)); break;
      case Command::networks: text = render_networks(client::decode_networks(result)); break;
      case Command::info: text = render_info(client::decode_runtime_info(result)); break;
      case Command::gc: {
        auto gc = client::decode_gc(result);
        text = render_gc(gc);
        if (!gc.errors.empty()) status = 1;
        break;
      }
      case Command::status: {
        auto s = client::decode_status(result);
        text = render_status(s);
        break;
      }
      default: break;
    }
    if (!inv.json) out << text;
    return status;
  } catch (const Error& e) {
    std::string message = e.what();
    // The daemon's context usually names the operation already.
    if (message.rfind(what, 0) != 0) message = what + ": " + message;
    err << "sandnetctl: " << message << "\n";
    return 1;
  } catch (const std::exception& e) {
    err << "sandnetctl: " << what << ": " << e.what() << "\n";
    return 1;
  }
}

int main_entry(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, const CniRunner& cni) {
  Invocation inv;
  try {
    inv = parse_command_line(args);
  } catch (const Error& e) {
    // The context is the whole story ("get takes one sandbox ID"); the
    // code's own text ("invalid argument") adds nothing for a usage error.
    err << "sandnetctl: " << (e.context().empty() ? std::string(e.what()) : e.context()) << "\n\n" << usage();
    return 2;
  }
  return run(inv, out, err, cni);
}

}  // namespace sandnet::ctl
