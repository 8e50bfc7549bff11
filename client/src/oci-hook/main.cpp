// sandnet-oci-hook: networks OCI containers (runc, crun, Podman, CRI-O hooks)
// and LXC containers through sandnetd, configured by the runtime alone.
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "oci-hook/run.hpp"

int main(int argc, char** argv) {
  // A daemon that closes the socket mid-request must give an error, not SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    return value ? std::optional<std::string>(value) : std::nullopt;
  };
  return sandnet::oci_hook::main_entry(args, std::cin, std::cout, std::cerr, env);
}
