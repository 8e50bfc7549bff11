// sandnetctl: operate and debug sandnetd from the command line.
#include <csignal>
#include <iostream>

#include "ctl/ctl.hpp"

#ifdef SANDNET_HAVE_CNITOOL
#include "cnitool.hpp"
#endif

int main(int argc, char** argv) {
  // A CNI plugin that exits without reading its stdin must give an error
  // (EPIPE), not kill us with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  sandnet::ctl::CniRunner cni;
#ifdef SANDNET_HAVE_CNITOOL
  cni = sandnet::ctl::run_cni;
#endif
  return sandnet::ctl::main_entry(args, std::cout, std::cerr, cni);
}
