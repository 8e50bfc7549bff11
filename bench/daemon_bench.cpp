// bench_daemon: what sandnetd costs on top of the CNI plugins it runs.
//
// Creates N user-namespaced sandboxes, then for each scenario sets all of them
// up and tears them down, once with 1 client and once with C concurrent
// clients, and prints per-pod median/p99 and throughput as a markdown table:
//   floor    the plugins exec'd directly by a minimal loop (no pin, no state,
//            no cache, no RPC): what the plugins themselves cost;
//   daemon   the same chain through sandnetd via libsandnet.
// Chains: "trivial" (one sncni-passthrough plugin that returns its prevResult),
// "real" (loopback + bridge + host-local + portmap), the daemon also with
// cni.nativeLoopback (lo brought up over netlink instead of exec'ing loopback).
// Also reports the daemon's peak RSS with N pods attached and sandbox.get
// throughput on a warm connection. Needs root. See docs/benchmarks.md.
#include <fcntl.h>
#include <sys/mount.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "daemon_bench_support.hpp"
#include "sandnet/client/client.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"

extern char** environ;

namespace sandnet::bench {

// The bridge is the one object the plugins keep by design; remove ours.
void remove_bench_bridge() {
  [[maybe_unused]] int rc = std::system("ip link del snbench0 2>/dev/null");
}

namespace {

namespace json = boost::json;
namespace stdfs = std::filesystem;

struct Options {
  std::size_t pods = 100;
  unsigned clients = 8;
  // Each scenario runs this many times, interleaved with the others (order
  // reversed every other round), so that drift on a shared machine falls on
  // every scenario alike; medians are over all rounds' samples.
  std::size_t rounds = 3;
  std::size_t get_requests = 20000;
  stdfs::path sandnetd;    // default: <build>/daemon/sandnetd
  stdfs::path plugin_dir;  // default: <build>/tests/plugins (sncni-passthrough)
  std::string only;        // run only scenarios whose name contains this
  bool use_pidfd = false;  // pass a pidfd (SCM_RIGHTS) instead of the PID
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "bench_daemon: " << why << "\n"
            << "usage: bench_daemon [--pods N (1..1000, default 100)] [--clients C (default 8)]\n"
            << "                    [--rounds R (1..20, default 3)]\n"
            << "                    [--get-requests M] [--sandnetd PATH] [--plugin-dir DIR]\n"
            << "                    [--only SUBSTRING] [--pidfd]\n";
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  const stdfs::path self = stdfs::read_symlink("/proc/self/exe").parent_path();
  o.sandnetd = self.parent_path() / "daemon" / "sandnetd";
  o.plugin_dir = self.parent_path() / "tests" / "plugins";
  auto number = [&](int& i, const char* name, std::size_t lo, std::size_t hi) {
    if (i + 1 >= argc) usage(std::string(name) + " needs a value");
    char* end = nullptr;
    unsigned long long v = std::strtoull(argv[++i], &end, 10);
    if (*end != '\0' || v < lo || v > hi)
      usage(std::string(name) + " must be " + std::to_string(lo) + ".." + std::to_string(hi));
    return static_cast<std::size_t>(v);
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--pods") o.pods = number(i, "--pods", 1, 1000);
    else if (a == "--rounds") o.rounds = number(i, "--rounds", 1, 20);
    else if (a == "--clients") o.clients = static_cast<unsigned>(number(i, "--clients", 1, 64));
    else if (a == "--get-requests") o.get_requests = number(i, "--get-requests", 1, 10000000);
    else if (a == "--sandnetd" && i + 1 < argc) o.sandnetd = argv[++i];
    else if (a == "--plugin-dir" && i + 1 < argc) o.plugin_dir = argv[++i];
    else if (a == "--only" && i + 1 < argc) o.only = argv[++i];
    else if (a == "--pidfd") o.use_pidfd = true;
    else usage("unknown or incomplete argument: " + a);
  }
  return o;
}

// The tests' do-nothing plugin (tests/plugins): ADD echoes its prevResult.
constexpr const char* kTrivialPlugin = "sncni-passthrough";
constexpr const char* kNetwork = "snbench";
constexpr const char* kBridge = "snbench0";
constexpr const char* kSubnet = "10.205.0.0/16";

Chain make_chain(bool real, const stdfs::path& data_dir, const Options& o) {
  Chain c;
  c.name = kNetwork;
  c.cni_version = "1.0.0";
  c.plugin_dirs = {"/usr/lib/cni", o.plugin_dir.string()};
  if (!real) {
    c.plugins.push_back(json::object{{"type", kTrivialPlugin}});
    return c;
  }
  c.plugins.push_back(json::object{{"type", "loopback"}});
  c.plugins.push_back(json::object{
      {"type", "bridge"},
      {"bridge", kBridge},
      {"isGateway", true},
      {"ipMasq", true},
      {"ipam", json::object{{"type", "host-local"},
                            {"ranges", json::array{json::array{json::object{{"subnet", kSubnet}}}}},
                            {"dataDir", data_dir.string()}}}});
  c.plugins.push_back(json::object{{"type", "portmap"}, {"capabilities", json::object{{"portMappings", true}}}});
  return c;
}

std::string conflist_of(const Chain& c) {
  json::array plugins;
  for (const auto& p : c.plugins) plugins.push_back(p);
  return json::serialize(json::object{{"cniVersion", c.cni_version}, {"name", c.name}, {"plugins", plugins}});
}

// A temporary directory removed at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (stdfs::temp_directory_path() / "snbench-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw_errno("mkdtemp");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    stdfs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const stdfs::path& path() const { return path_; }

 private:
  stdfs::path path_;
};

// sandnetd on a private socket and state; SIGTERM at scope exit.
class DaemonProcess {
 public:
  DaemonProcess(const Options& o, const Chain& chain, bool native_loopback, const stdfs::path& dir) {
    socket_ = dir / "sandnetd.sock";
    netns_dir_ = dir / "netns";
    fs::ensure_directory(dir / "conf", 0755);
    fs::write_file_atomic(dir / "conf" / "10-snbench.conflist", conflist_of(chain), 0644);
    json::array bin_dirs;
    for (const auto& d : chain.plugin_dirs) bin_dirs.emplace_back(d);
    json::object config{
        {"socket", socket_.string()},
        {"netnsDir", netns_dir_.string()},
        {"stateDir", (dir / "state").string()},
        {"autoTeardown", false},
        {"maxConcurrentSetups", 8},
        {"cni", json::object{{"confDir", (dir / "conf").string()},
                             {"binDirs", bin_dirs},
                             {"cacheDir", (dir / "cache").string()},
                             {"defaultNetworks", json::array{kNetwork}},
                             {"nativeLoopback", native_loopback}}},
    };
    const stdfs::path config_path = dir / "sandnetd.json";
    fs::write_file_atomic(config_path, json::serialize(config), 0644);
    log_ = dir / "sandnetd.log";

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<std::string> args{o.sandnetd.string(), "--config", config_path.string(), "--log-level", "warn"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw_errno(rc, "start " + o.sandnetd.string());

    client::Client probe(options());
    for (int attempt = 0;; ++attempt) {
      try {
        probe.status();
        return;
      } catch (const Error& e) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          throw_error(errc::unavailable, "sandnetd exited at start: " + log_tail());
        }
        if (attempt > 200) throw_error(errc::timeout, std::string("sandnetd not answering: ") + e.what());
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
    }
  }
  ~DaemonProcess() {
    stop();
    // sandnetd makes its pin dir a shared bind mount (as `ip netns` does)
    // and leaves it: take it away with the scratch dir.
    while (::umount2(netns_dir_.c_str(), MNT_DETACH) == 0) {
    }
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  client::ClientOptions options() const {
    client::ClientOptions co;
    co.socket_path = socket_.string();
    return co;
  }
  pid_t pid() const { return pid_; }

  // {VmRSS, VmHWM} in KiB from /proc/<pid>/status.
  std::pair<long, long> memory_kib() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    long rss = -1, hwm = -1;
    std::string key;
    while (in >> key) {
      if (key == "VmRSS:") in >> rss;
      else if (key == "VmHWM:") in >> hwm;
    }
    return {rss, hwm};
  }

  std::string log_tail() const {
    try {
      std::string s = fs::read_file(log_);
      return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
    } catch (const Error&) {
      return "(no log)";
    }
  }

 private:
  stdfs::path socket_;
  stdfs::path netns_dir_;
  stdfs::path log_;
  pid_t pid_ = -1;
};

// One scenario's samples, pooled over its rounds.
struct Row {
  std::string scenario;
  unsigned clients = 1;
  RunResult setup, teardown;
  std::vector<Millis> setup_round_medians;

  void add(RunResult up, RunResult down) {
    setup_round_medians.push_back(summarize(up.samples, 0, up.wall).median);
    pool(setup, up);
    pool(teardown, down);
  }
  static void pool(RunResult& into, const RunResult& from) {
    into.samples.insert(into.samples.end(), from.samples.begin(), from.samples.end());
    into.failures += from.failures;
    into.wall += from.wall;
  }
  Stats setup_stats() const { return summarize(setup.samples, setup.failures, setup.wall); }
  Stats teardown_stats() const { return summarize(teardown.samples, teardown.failures, teardown.wall); }
};

std::string ms(double v) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << v;
  return s.str();
}

void print_row(const Row& r) {
  const Stats up = r.setup_stats(), down = r.teardown_stats();
  std::string rounds;
  for (Millis m : r.setup_round_medians) rounds += (rounds.empty() ? "" : " / ") + ms(m);
  std::cout << "| " << r.scenario << " | " << r.clients << " | " << ms(up.median) << " | " << ms(up.p99) << " | "
            << rounds << " | " << ms(down.median) << " | " << ms(down.p99) << " | " << ms(up.per_second) << " | "
            << ms(down.per_second) << " | " << up.failures + down.failures << " |" << std::endl;
}

std::string container_id(const std::string& scenario, unsigned clients, std::size_t i) {
  return "snb-" + scenario + "-c" + std::to_string(clients) + "-" + std::to_string(i);
}

void run_floor(Row& row, const Chain& chain, const std::vector<LightSandbox>& boxes) {
  std::vector<json::value> results(boxes.size());
  const std::string& name = row.scenario;
  RunResult up = run_parallel(boxes.size(), row.clients, [&](unsigned, std::size_t i) {
    results[i] = floor_add(chain, container_id(name, row.clients, i), boxes[i].netns_path(), "eth0");
  });
  RunResult down = run_parallel(boxes.size(), row.clients, [&](unsigned, std::size_t i) {
    floor_del(chain, container_id(name, row.clients, i), boxes[i].netns_path(), "eth0", results[i]);
  });
  row.add(std::move(up), std::move(down));
}

struct DaemonExtras {
  long rss_kib = -1, hwm_kib = -1;
  double get_per_second = 0;
  std::size_t attached = 0;
};

void run_daemon(Row& row, const DaemonProcess& daemon, const std::vector<LightSandbox>& boxes, const Options& o,
                DaemonExtras* extras) {
  const std::string& name = row.scenario;
  const unsigned clients = row.clients;
  std::vector<client::Client> conns;
  for (unsigned c = 0; c < clients; ++c) {
    conns.emplace_back(daemon.options());
    conns.back().connect();
  }
  RunResult up = run_parallel(boxes.size(), clients, [&](unsigned w, std::size_t i) {
    protocol::SetupParams p;
    p.id = container_id(name, clients, i);
    if (o.use_pidfd) {
      p.ref = protocol::SandboxRef::pidfd;
      conns[w].setup(p, boxes[i].pidfd());
    } else {
      p.ref = protocol::SandboxRef::pid;
      p.pid = boxes[i].pid();
      conns[w].setup(p);
    }
  });
  if (extras) {
    extras->attached = conns[0].list().size();
    std::tie(extras->rss_kib, extras->hwm_kib) = daemon.memory_kib();
    // sandbox.get on one warm connection, one request at a time.
    const std::string id = container_id(name, clients, 0);
    auto start = std::chrono::steady_clock::now();
    for (std::size_t k = 0; k < o.get_requests; ++k) conns[0].get(id);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    extras->get_per_second = static_cast<double>(o.get_requests) / secs;
  }
  RunResult down = run_parallel(boxes.size(), clients, [&](unsigned w, std::size_t i) {
    auto r = conns[w].teardown(container_id(name, clients, i));
    if (!r.errors.empty()) throw_error(errc::internal, "teardown: " + r.errors.front());
  });
  row.add(std::move(up), std::move(down));
}

int bench_main(int argc, char** argv) {
  if (::geteuid() != 0) {
    std::cerr << "bench_daemon: needs root (it creates namespaces, bridges and iptables rules)\n";
    return 2;
  }
  const Options o = parse_options(argc, argv);
  raise_fd_limit();
  if (::access((o.plugin_dir / kTrivialPlugin).c_str(), X_OK) != 0)
    usage(std::string("no ") + kTrivialPlugin + " in " + o.plugin_dir.string() + " (build target " + kTrivialPlugin + ")");

  std::cerr << "creating " << o.pods << " userns sandboxes...\n";
  std::vector<LightSandbox> boxes;
  boxes.reserve(o.pods);
  for (std::size_t i = 0; i < o.pods; ++i) boxes.emplace_back(100000 + static_cast<std::uint32_t>(i % 64) * 65536);

  std::cout << "pods: " << o.pods << ", rounds: " << o.rounds << " (interleaved), sandbox ref: "
            << (o.use_pidfd ? "pidfd" : "pid") << ", cores: " << std::thread::hardware_concurrency() << "\n\n";
  std::cout << "| scenario | clients | setup p50 ms | setup p99 ms | setup p50 by round | teardown p50 ms | "
               "teardown p99 ms | setups/s | teardowns/s | failures |\n|---|---|---|---|---|---|---|---|---|---|"
            << std::endl;

  std::map<std::string, double> setup_median;  // "<scenario>/<clients>" -> ms
  std::vector<std::pair<std::string, DaemonExtras>> extras_rows;
  auto wanted = [&](const std::string& s) { return o.only.empty() || s.find(o.only) != std::string::npos; };
  struct Scenario {
    std::string name;
    bool daemon = false, native_loopback = false;
  };
  for (unsigned clients : {1u, o.clients}) {
    for (bool real : {false, true}) {
      const std::string chain_name = real ? "real" : "trivial";
      std::vector<Scenario> scenarios{{"floor-" + chain_name, false, false}, {"daemon-" + chain_name, true, false}};
      if (real) scenarios.push_back({"daemon-real-nativelo", true, true});
      std::erase_if(scenarios, [&](const Scenario& sc) { return !wanted(sc.name); });
      std::vector<Row> rows;
      for (const auto& sc : scenarios) rows.push_back(Row{sc.name, clients, {}, {}, {}});
      std::vector<DaemonExtras> extras(scenarios.size());
      for (std::size_t round = 0; round < o.rounds; ++round) {
        for (std::size_t k = 0; k < scenarios.size(); ++k) {
          const std::size_t at = round % 2 == 0 ? k : scenarios.size() - 1 - k;
          const Scenario& sc = scenarios[at];
          ScratchDir dir;
          Chain chain = make_chain(real, dir.path() / "ipam", o);
          if (!sc.daemon) {
            run_floor(rows[at], chain, boxes);
            continue;
          }
          DaemonProcess daemon(o, chain, sc.native_loopback, dir.path());
          const bool last = round + 1 == o.rounds;
          const std::size_t failed_before = rows[at].setup.failures + rows[at].teardown.failures;
          run_daemon(rows[at], daemon, boxes, o, last && clients == o.clients ? &extras[at] : nullptr);
          if (rows[at].setup.failures + rows[at].teardown.failures > failed_before)
            std::cerr << "sandnetd log tail:\n" << daemon.log_tail();
        }
      }
      for (std::size_t k = 0; k < rows.size(); ++k) {
        print_row(rows[k]);
        setup_median[rows[k].scenario + "/" + std::to_string(clients)] = rows[k].setup_stats().median;
        if (scenarios[k].daemon && clients == o.clients) extras_rows.emplace_back(scenarios[k].name, extras[k]);
      }
    }
    if (o.clients == 1) break;
  }

  std::cout << "\n| daemon overhead over the floor (setup median) | clients | ms/pod |\n|---|---|---|\n";
  for (unsigned clients : {1u, o.clients}) {
    auto k = [&](const std::string& s) { return s + "/" + std::to_string(clients); };
    auto line = [&](const std::string& what, const std::string& a, const std::string& b) {
      if (setup_median.count(k(a)) && setup_median.count(k(b)))
        std::cout << "| " << what << " | " << clients << " | " << std::fixed << std::setprecision(2)
                  << setup_median[k(a)] - setup_median[k(b)] << " |\n";
    };
    line("trivial chain: daemon - floor", "daemon-trivial", "floor-trivial");
    line("real chain: daemon (exec loopback) - floor", "daemon-real", "floor-real");
    line("real chain: daemon (native loopback) - floor", "daemon-real-nativelo", "floor-real");
    if (o.clients == 1) break;
  }
  std::cout << "\n| daemon (" << o.clients << " clients run) | pods attached | VmRSS KiB | VmHWM KiB | "
            << "sandbox.get/s (1 warm connection) |\n|---|---|---|---|---|\n";
  for (const auto& [name, e] : extras_rows)
    std::cout << "| " << name << " | " << e.attached << " | " << e.rss_kib << " | " << e.hwm_kib << " | "
              << std::fixed << std::setprecision(0) << e.get_per_second << " |\n";

  remove_bench_bridge();
  return 0;
}

}  // namespace
}  // namespace sandnet::bench

int main(int argc, char** argv) {
  try {
    return sandnet::bench::bench_main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "bench_daemon: " << e.what() << '\n';
    sandnet::bench::remove_bench_bridge();
    return 1;
  }
}
