// sandnetctl's cnitool-compatible mode: `sandnetctl cni add|check|del|gc|status NET NETNS`,
// run in-process with the cni library (no daemon).
#pragma once

#include <string>
#include <vector>

namespace sandnet::ctl {

// args: what follows "cni" on the command line. Returns the process exit
// status: 0 ok, 1 operation failed (CNI code and message on stderr), 2 bad usage.
int run_cni(const std::vector<std::string>& args);

}  // namespace sandnet::ctl
