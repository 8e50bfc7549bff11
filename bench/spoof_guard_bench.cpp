// The cost per setup and teardown of anti-spoofing: applying one sandbox's
// rules (one libnftables batch) and removing them (list chains, list the
// ports map, one batch), with `background` other sandboxes already in the
// table (teardown lists the table's chains and map, so it grows with them).
// Uses a table of its own ("sndbench<pid>"), deleted at the end.
//
//   bench_spoof_guard [iterations=100] [background=0]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sandnet/common/error.hpp"
#include "sandnet/hostnet/nft.hpp"
#include "sandnet/hostnet/spoof_guard.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace sandnet::hostnet;

SandboxGuard guard_for(int n) {
  char key[32], port[16], ip[32];
  std::snprintf(key, sizeof key, "bench%019d", n);
  std::snprintf(port, sizeof port, "sndbv%d", n);
  std::snprintf(ip, sizeof ip, "10.%d.%d.%d", 100 + (n >> 16) % 100, (n >> 8) & 0xff, n & 0xff);
  return SandboxGuard{GuardKey::parse(key),
                      {make_port_allowance(port, MacAddress::parse("02:00:00:00:00:01"), {Ipv4Address::parse(ip)},
                                           {Ipv6Address::parse("fd00::2")})}};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 100;
  const int background = argc > 2 ? std::atoi(argv[2]) : 0;
  const std::string name = "sndbench" + std::to_string(::getpid());
  SpoofGuardTable table(NftName::parse(name));
  int rc = 0;
  try {
    for (int i = 0; i < background; ++i) table.apply(guard_for(1'000'000 + i));
    std::vector<double> apply_ms, remove_ms;
    for (int i = 0; i < iterations; ++i) {
      auto g = guard_for(i);
      auto t0 = Clock::now();
      table.apply(g);
      auto t1 = Clock::now();
      table.remove(g.key);
      auto t2 = Clock::now();
      apply_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      remove_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    std::printf("anti-spoofing, %d runs, %d other sandboxes in the table (ms): apply median %.3f p90 %.3f; "
                "remove median %.3f p90 %.3f\n",
                iterations, background, median(apply_ms), percentile(apply_ms, 0.9), median(remove_ms),
                percentile(remove_ms, 0.9));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_spoof_guard: %s\n", e.what());
    rc = 1;
  }
  try {
    run_nft_batch("delete table bridge " + name + "\n", "delete the bench table");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_spoof_guard: %s\n", e.what());
    rc = 1;
  }
  return rc;
}
