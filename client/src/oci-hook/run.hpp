// Running sandnet-oci-hook: one request to sandnetd, one line on failure.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "oci-hook/request.hpp"
#include "sandnet/client/client.hpp"

namespace sandnet::oci_hook {

// Carries out request against the daemon. Returns the exit status: 0 done,
// 1 failed, with "sandnet-oci-hook: setup <id>: <reason>" on err.
int execute(const HookRequest& request, const client::ClientOptions& options, std::ostream& err);

// The whole program: parse the command line, read the state from in (OCI
// mode), build the request, execute it. Exit 0 ok, 1 failed, 2 bad usage.
int main_entry(const std::vector<std::string>& args, std::istream& in, std::ostream& out, std::ostream& err,
               const EnvLookup& env);

}  // namespace sandnet::oci_hook
