// sandnet-oci-hook's command line.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "oci-hook/annotations.hpp"
#include "oci-hook/request.hpp"

namespace sandnet::oci_hook {

enum class Program {
  help,
  version,
  oci,  // OCI hook: the state on stdin; mode from the command line or the state's status
  lxc,  // LXC hook: LXC_HOOK_TYPE, LXC_NAME, LXC_PID; networks and ports from options
};

struct Invocation {
  Program program = Program::oci;
  std::string socket_path;          // --socket; empty: $SANDNET_SOCKET or the default
  std::optional<Mode> mode;         // oci: "setup" / "teardown"; none: by the state's status
  NetworkOptions lxc;               // lxc: --network, --port, --ifname, --arg, --id, --result
  std::vector<std::string> lxc_args;  // lxc: what LXC appended (NAME SECTION HOOKTYPE ...)
};

// Parses argv[1..]. Throws Error(invalid_argument) for bad usage (exit 2).
// After "lxc", words that are not options are LXC's own hook arguments
// (container name, section, hook type: lxc.hook.version 0, the default).
Invocation parse_command_line(const std::vector<std::string>& args);

std::string usage();

}  // namespace sandnet::oci_hook
