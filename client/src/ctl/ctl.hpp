// sandnetctl: command-line parsing, and running a parsed command against the
// daemon. Kept apart from main() so the unit tests can drive it.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sandnet/client/client.hpp"

namespace sandnet::ctl {

using capabilities::PortMapping;

// Each throws Error(invalid_argument) naming what was wrong.
// One --port: [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]; HOSTIP may be an
// IPv6 address in brackets ("[::1]:8080:80/udp").
PortMapping parse_port_spec(std::string_view spec);
// "K=V" (--arg, --label): K must be non-empty.
std::pair<std::string, std::string> parse_key_value(std::string_view spec, std::string_view option);

enum class Command { help, version, setup, teardown, check, get, list, inspect, explain, networks, info, gc, status, cni };

struct Invocation {
  std::string socket_path;  // --socket; empty: $SANDNET_SOCKET or the default
  bool json = false;        // --json: print the raw result
  Command command = Command::help;
  std::string id;                   // teardown/check/get/inspect/setup
  protocol::SetupParams setup;      // setup: id, pid or fd reference, networks, ...
  std::string netns_path;           // setup --netns PATH: passed as a netns fd
  bool force = false;               // teardown --force
  // explain with --pid/--pidfd/--netns/--create: explain that setup (the id
  // optional); without: explain the existing sandbox id.
  bool explain_setup = false;
  std::vector<std::string> cni_args;  // cni: everything after "cni"
};

// Parses argv[1..]. Throws Error(invalid_argument) for bad usage (exit 2).
Invocation parse_command_line(const std::vector<std::string>& args);

std::string usage();

// The `cni` mode (sandnet::ctl::run_cni, in the program that links the CNI
// runtime); empty when the build has none.
using CniRunner = std::function<int(const std::vector<std::string>&)>;

// Runs a parsed command; prints the result to out and a one-line reason to
// err. Returns the exit status: 0 ok, 1 failed (2 from the cni mode's usage).
int run(const Invocation& invocation, std::ostream& out, std::ostream& err, const CniRunner& cni = {});

// The whole program: parse, run, exit status (2 for bad usage).
int main_entry(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
               const CniRunner& cni = {});

}  // namespace sandnet::ctl
