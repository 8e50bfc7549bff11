// bench_daemon: what sandnetd costs on top of the CNI plugins it runs.
//
// For each chain, its scenarios run in lockstep: every scenario has its own N
// user-namespaced sandboxes, and pod i is set up in every scenario before pod
// i+1 (who goes first rotates), then torn down the same way, once with 1
// client and once with C concurrent clients; what the machine does meanwhile
// falls on every scenario alike. Prints per-pod median/p99 and throughput:
//   floor    the plugins exec'd directly by a minimal loop (no pin, no state,
//            no cache, no RPC): what the plugins themselves cost;
//   daemon   the same chain through sandnetd via libsandnet.
// Chains: "trivial" (one sncni-passthrough plugin that returns its prevResult),
// "real" (loopback + bridge + host-local + portmap, one bridge and subnet per
// scenario), the daemon also with cni.nativeLoopback (lo brought up over
// netlink instead of exec'ing loopback). Also reports the daemon's RSS with N
// pods attached and sandbox.get throughput on a warm connection. Needs root.
// See docs/benchmarks.md.
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
  [[maybe_unused]] int rc = std::system("for b in snbench0 snbench1 snbench2; do ip link del $b 2>/dev/null; done");
}

namespace {

namespace json = boost::json;
namespace stdfs = std::filesystem;

struct Options {
  std::size_t pods = 100;
  unsigned clients = 8;
  std::size_t get_requests = 20000;
  stdfs::path sandnetd;    // default: <build>/daemon/sandnetd
  stdfs::path plugin_dir;  // default: <build>/tests/plugins (sncni-passthrough)
  std::string only;        // run only scenarios whose name contains this
  bool use_pidfd = false;  // pass a pidfd (SCM_RIGHTS) instead of the PID
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "bench_daemon: " << why << "\n"
            << "usage: bench_daemon [--pods N (1..1000, default 100)] [--clients C (default 8)]\n"

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
// Lane k of the real chain has its own bridge snbench<k> on 10.(205+k).0.0/16
// (the bridge plugin allows one gateway subnet per bridge).
constexpr int kFirstSubnetOctet = 205;

Chain make_chain(bool real, const stdfs::path& data_dir, const Options& o, std::size_t lane) {
  const std::string subnet = "10." + std::to_string(kFirstSubnetOctet + lane) + ".0.0/16";
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
      {"bridge", "snbench" + std::to_string(lane)},
      {"isGateway", true},
      {"ipMasq", true},
      {"ipam", json::object{{"type", "host-local"},
                            {"ranges", json::array{json::array{json::object{{"subnet", subnet}}}}},
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

struct Scenario {
  std::string name;
  bool daemon = false, native_loopback = false;
};

struct DaemonExtras {
  long rss_kib = -1, hwm_kib = -1;
  double get_per_second = 0;
  std::size_t attached = 0;
};

// One scenario of a lockstep run: its scratch dir, chain, sandboxes and, for
// a daemon scenario, its sandnetd and one connection per client.
struct Lane {
  Lane(const Scenario& s, bool real, const Options& o, std::size_t index, std::vector<LightSandbox>& all)
      : scenario(s), chain(make_chain(real, dir.path() / "ipam", o, index)) {
    for (std::size_t i = 0; i < o.pods; ++i) boxes.push_back(&all[index * o.pods + i]);
    results.resize(o.pods);
    if (!s.daemon) return;
    daemon.emplace(o, chain, s.native_loopback, dir.path());
  }
  void connect(unsigned clients) {
    conns.clear();
    if (!daemon) return;
    for (unsigned c = 0; c < clients; ++c) {
      conns.emplace_back(daemon->options());
      conns.back().connect();
    }
  }

  Scenario scenario;
  ScratchDir dir;
  Chain chain;
  std::vector<const LightSandbox*> boxes;
  std::vector<json::value> results;  // the floor's ADD results, for its DEL
  std::optional<DaemonProcess> daemon;
  std::vector<client::Client> conns;
};

std::string ms(double v) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << v;
  return s.str();
}

void print_row(const std::string& scenario, unsigned clients, const RunResult& up_run, const RunResult& down_run) {
  const Stats up = summarize(up_run.samples, up_run.failures, up_run.wall);
  const Stats down = summarize(down_run.samples, down_run.failures, down_run.wall);
  std::cout << "| " << scenario << " | " << clients << " | " << ms(up.median) << " | " << ms(up.p99) << " | "
            << ms(down.median) << " | " << ms(down.p99) << " | " << ms(up.per_second) << " | " << ms(down.per_second)
            << " | " << up.failures + down.failures << " |" << std::endl;
}

std::string container_id(const std::string& scenario, unsigned clients, std::size_t i) {
  return "snb-" + scenario + "-c" + std::to_string(clients) + "-" + std::to_string(i);
}

void setup_one(Lane& lane, unsigned worker, unsigned clients, std::size_t i, const Options& o) {
  const LightSandbox& box = *lane.boxes[i];
  const std::string id = container_id(lane.scenario.name, clients, i);
  if (!lane.daemon) {
    lane.results[i] = floor_add(lane.chain, id, box.netns_path(), "eth0");
    return;
  }
  protocol::SetupParams p;
  p.id = id;
  if (o.use_pidfd) {
    p.ref = protocol::SandboxRef::pidfd;
    lane.conns[worker].setup(p, box.pidfd());
  } else {
    p.ref = protocol::SandboxRef::pid;
    p.pid = box.pid();
    lane.conns[worker].setup(p);
  }
}

void teardown_one(Lane& lane, unsigned worker, unsigned clients, std::size_t i) {
  const std::string id = container_id(lane.scenario.name, clients, i);
  if (!lane.daemon) {
    floor_del(lane.chain, id, lane.boxes[i]->netns_path(), "eth0", lane.results[i]);
    return;
  }
  auto r = lane.conns[worker].teardown(id);
  if (!r.errors.empty()) throw_error(errc::internal, "teardown: " + r.errors.front());
}

// With every pod attached: the daemon's memory and sandbox.get on one warm
// connection, one request at a time.
DaemonExtras measure_attached(Lane& lane, unsigned clients, const Options& o) {
  DaemonExtras e;
  e.attached = lane.conns[0].list().size();
  std::tie(e.rss_kib, e.hwm_kib) = lane.daemon->memory_kib();
  const std::string id = container_id(lane.scenario.name, clients, 0);
  auto start = std::chrono::steady_clock::now();
  for (std::size_t k = 0; k < o.get_requests; ++k) lane.conns[0].get(id);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  e.get_per_second = static_cast<double>(o.get_requests) / secs;
  return e;
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

  auto wanted = [&](const std::string& s) { return o.only.empty() || s.find(o.only) != std::string::npos; };
  auto scenarios_of = [&](bool real) {
    const std::string chain_name = real ? "real" : "trivial";
    std::vector<Scenario> list{{"floor-" + chain_name, false, false}, {"daemon-" + chain_name, true, false}};
    if (real) list.push_back({"daemon-real-nativelo", true, true});
    std::erase_if(list, [&](const Scenario& sc) { return !wanted(sc.name); });
    return list;
  };
  const std::size_t lanes_max = std::max(scenarios_of(false).size(), scenarios_of(true).size());

  std::cerr << "creating " << o.pods * lanes_max << " userns sandboxes...\n";
  std::vector<LightSandbox> boxes;
  boxes.reserve(o.pods * lanes_max);
  for (std::size_t i = 0; i < o.pods * lanes_max; ++i)
    boxes.emplace_back(100000 + static_cast<std::uint32_t>(i % 64) * 65536);

  std::cout << "pods: " << o.pods << " per scenario, scenarios of a chain in lockstep, sandbox ref: "
            << (o.use_pidfd ? "pidfd" : "pid") << ", cores: " << std::thread::hardware_concurrency() << "\n\n";
  std::cout << "| scenario | clients | setup p50 ms | setup p99 ms | teardown p50 ms | teardown p99 ms | setups/s | "
               "teardowns/s | failures |\n|---|---|---|---|---|---|---|---|---|"
            << std::endl;

  std::map<std::string, double> setup_median;  // "<scenario>/<clients>" -> ms
  std::vector<std::pair<std::string, DaemonExtras>> extras_rows;
  for (unsigned clients : {1u, o.clients}) {
    for (bool real : {false, true}) {
      const std::vector<Scenario> scenarios = scenarios_of(real);
      if (scenarios.empty()) continue;
      std::vector<std::unique_ptr<Lane>> lanes;
      for (std::size_t k = 0; k < scenarios.size(); ++k) {
        lanes.push_back(std::make_unique<Lane>(scenarios[k], real, o, k, boxes));
        lanes.back()->connect(clients);
      }
      auto up = run_interleaved(o.pods, lanes.size(), clients, [&](unsigned w, std::size_t k, std::size_t i) {
        setup_one(*lanes[k], w, clients, i, o);
      });
      if (clients == o.clients) {
        for (auto& lane : lanes)
          if (lane->daemon) extras_rows.emplace_back(lane->scenario.name, measure_attached(*lane, clients, o));
      }
      auto down = run_interleaved(o.pods, lanes.size(), clients, [&](unsigned w, std::size_t k, std::size_t i) {
        teardown_one(*lanes[k], w, clients, i);
      });
      for (std::size_t k = 0; k < lanes.size(); ++k) {
        print_row(scenarios[k].name, clients, up[k], down[k]);
        setup_median[scenarios[k].name + "/" + std::to_string(clients)] =
            summarize(up[k].samples, 0, up[k].wall).median;
        if (lanes[k]->daemon && up[k].failures + down[k].failures > 0)
          std::cerr << "sandnetd log tail (" << scenarios[k].name << "):\n" << lanes[k]->daemon->log_tail();
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
