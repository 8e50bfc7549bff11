// Maps JSON-RPC methods onto the SandboxService: decodes params with the
// protocol types, encodes results. Knows nothing about sockets.
#pragma once

#include "sandnet/daemon/server.hpp"
#include "sandnet/daemon/service.hpp"

namespace sandnet::daemon {

// The server's Handler for service (which must outlive it).
Handler make_handler(SandboxService& service);

}  // namespace sandnet::daemon
