// sandnetctl: operate and debug sandnetd from the command line.
#include <iostream>

#include "ctl/ctl.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return sandnet::ctl::main_entry(args, std::cout, std::cerr);
}
