// The CNI runtime against the real plugins in /usr/lib/cni, each test in a
// sandbox (new user + network namespace) whose netns the test pins itself.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <fstream>

#include "sandnet/cni/config.hpp"
#include "sandnet/cni/runtime.hpp"
#include "sandnet/cni/sha512.hpp"
#include "sandnet/common/fs.hpp"
#include "support/process.hpp"
#include "support/sandbox.hpp"

namespace json = boost::json;
using namespace sandnet;
using namespace sandnet::cni;
using sandnet::test::Defer;
using sandnet::test::TempDir;

namespace {

std::string source_dir() {
  const char* s = std::getenv("SANDNET_SOURCE_DIR");
  if (s) return s;
  // Run by hand: this file is <source>/tests/privileged/cni/runtime_test.cpp.
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path().string();
}

// The build tree holds the compiled test plugins (sncni-record).
std::string build_dir() {
  const char* b = std::getenv("SANDNET_BUILD_DIR");
  return b ? b : source_dir() + "/build";
}

// A sandbox with its netns bind-mounted onto <tmp>/netns, unpinned at scope end.
class PinnedSandbox {
 public:
  PinnedSandbox() {
    path_ = dir_.path() + "/netns";
    std::ofstream(path_).close();
    const std::string proc = "/proc/" + std::to_string(sandbox_.pid()) + "/ns/net";
    if (::mount(proc.c_str(), path_.c_str(), nullptr, MS_BIND, nullptr) != 0)
      throw_errno("pin " + proc);
    pinned_ = true;
  }
  ~PinnedSandbox() { unpin(); }
  PinnedSandbox(const PinnedSandbox&) = delete;
  PinnedSandbox& operator=(const PinnedSandbox&) = delete;

  const std::string& path() const { return path_; }
  test::Sandbox& sandbox() { return sandbox_; }
  // The namespace disappears: pin gone, file gone, process gone.
  void destroy() {
    unpin();
    ::unlink(path_.c_str());
    sandbox_.kill();
  }

 private:
  void unpin() {
    if (pinned_) ::umount2(path_.c_str(), MNT_DETACH);
    pinned_ = false;
  }
  test::Sandbox sandbox_;
  TempDir dir_;
  std::string path_;
  bool pinned_ = false;
};

int next_subnet() {
  static std::atomic<int> counter{static_cast<int>(::getpid() % 100) + 10};
  return counter++ % 250;
}

// One test's network: its own bridge, subnet, host-local store and cache dir.
struct TestNetwork {
  TempDir state;
  std::string name = test::unique_name("sncni");
  std::string bridge = test::unique_name("sncnibr");
  std::string subnet_prefix = "10.201." + std::to_string(next_subnet());
  std::string data_dir = state.path() + "/ipam";
  std::string cache_dir = state.path() + "/cache";
  Defer remove_bridge{[b = bridge] { test::run({"ip", "link", "del", b}); }};

  json::object bridge_plugin(bool ip_masq = true) const {
    json::object p = json::parse(R"({"type":"bridge","isGateway":true,"ipam":{"type":"host-local",
        "routes":[{"dst":"0.0.0.0/0"}]}})").as_object();
    p["bridge"] = bridge;
    p["ipMasq"] = ip_masq;
    p["ipam"].as_object()["subnet"] = subnet_prefix + ".0/24";
    p["ipam"].as_object()["dataDir"] = data_dir;
    return p;
  }
  json::object portmap_plugin() const {
    return json::parse(R"({"type":"portmap","capabilities":{"portMappings":true},"snat":true})").as_object();
  }
  NetworkConfigList list(const std::string& version, std::vector<json::object> plugins) const {
    json::object o;
    o["cniVersion"] = version;
    o["name"] = name;
    json::array ps;
    for (auto& p : plugins) ps.push_back(std::move(p));
    o["plugins"] = std::move(ps);
    return parse_network_list(json::serialize(o), "<test>");
  }
  RuntimeOptions options() const {
    RuntimeOptions o;
    o.plugin_dirs = {"/usr/lib/cni", source_dir() + "/tests/plugins", build_dir() + "/tests/plugins"};
    o.cache_dir = cache_dir;
    o.plugin_timeout = std::chrono::seconds(30);
    return o;
  }

  // Nothing of container_id may be left: IPs in host-local's store, cache
  // entries, iptables rules or chains, ports on the bridge.
  void expect_no_leftovers(const std::string& container_id, bool bridge_empty = true) const {
    std::error_code ec;
    for (const auto& f : std::filesystem::recursive_directory_iterator(data_dir, ec)) {
      // host-local's reservation files hold "<container id>\r\n<ifname>".
      if (!f.is_regular_file()) continue;
      EXPECT_EQ(fs::read_file(f.path()).find(container_id), std::string::npos)
          << "host-local kept " << f.path();
    }
    for (const auto& f : std::filesystem::recursive_directory_iterator(cache_dir, ec))
      EXPECT_EQ(f.path().filename().string().find(container_id), std::string::npos)
          << "cache kept " << f.path();
    for (const char* table : {"nat", "filter"}) {
      auto rules = test::run({"iptables-save", "-t", table});
      EXPECT_EQ(rules.out.find(container_id), std::string::npos)
          << table << " still mentions " << container_id << ":\n" << rules.out;
    }
    if (bridge_empty) {
      auto ports = test::run({"ip", "-o", "link", "show", "master", bridge});
      EXPECT_EQ(ports.out, "") << "bridge still has ports";
    }
  }
};

RuntimeConf conf_for(const std::string& id, const std::string& netns) {
  RuntimeConf rt;
  rt.container_id = id;
  rt.netns = netns;
  rt.ifname = "eth0";
  return rt;
}

std::string first_ip(const json::object& result) {
  return std::string(result.at("ips").as_array().at(0).at("address").as_string());
}

}  // namespace

class CniPrivileged : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::is_root()) GTEST_SKIP() << "needs root";
  }
};

TEST_F(CniPrivileged, BridgeHostLocalPortmapChainAddCheckDelTwice) {
  TestNetwork net;
  PinnedSandbox sb;
  Runtime runtime(net.options());
  auto list = net.list("1.0.0", {net.bridge_plugin(), net.portmap_plugin()});
  RuntimeConf rt = conf_for(test::unique_name("sncni-c"), sb.path());
  rt.capability_args = json::parse(R"({"portMappings":[{"hostPort":18080,"containerPort":80,"protocol":"tcp"}]})").as_object();
  Defer cleanup{[&] {
    try { runtime.del_sync(list, rt); } catch (...) {}
  }};

  json::object result = runtime.add_sync(list, rt);
  EXPECT_EQ(result.at("cniVersion").as_string(), "1.0.0");
  const std::string ip = first_ip(result);
  EXPECT_EQ(ip.rfind(net.subnet_prefix + ".", 0), 0u) << ip;
  auto addr = sb.sandbox().exec({"ip", "-o", "addr", "show", "eth0"});
  EXPECT_NE(addr.out.find(ip), std::string::npos) << addr.out << addr.err;
  auto nat = test::run({"iptables-save", "-t", "nat"});
  EXPECT_NE(nat.out.find("18080"), std::string::npos) << "portmap rule missing";
  ASSERT_TRUE(runtime.cached_result(list, rt));
  EXPECT_EQ(first_ip(*runtime.cached_result(list, rt)), ip);

  // CHECK of this chain is covered by the CniVersions tests without portmap:
  // Debian's portmap 1.1.1 CHECK always looks for an IPv6 DNAT chain it never
  // created for an IPv4-only attachment and fails.

  runtime.del_sync(list, rt);
  EXPECT_FALSE(runtime.cached_result(list, rt));
  EXPECT_NO_THROW(runtime.del_sync(list, rt)) << "second DEL must succeed";
  net.expect_no_leftovers(rt.container_id);
}

class CniVersions : public CniPrivileged, public ::testing::WithParamInterface<std::string> {};

TEST_P(CniVersions, AddCheckDelAtConfigVersion) {
  TestNetwork net;
  PinnedSandbox sb;
  Runtime runtime(net.options());
  auto list = net.list(GetParam(), {net.bridge_plugin()});
  RuntimeConf rt = conf_for(test::unique_name("sncni-v"), sb.path());
  Defer cleanup{[&] {
    try { runtime.del_sync(list, rt); } catch (...) {}
  }};
  json::object result = runtime.add_sync(list, rt);
  EXPECT_EQ(result.at("cniVersion").as_string(), GetParam());
  const bool has_version_field = result.at("ips").as_array()[0].as_object().contains("version");
  EXPECT_EQ(has_version_field, GetParam() != "1.0.0");
  if (GetParam() == "0.3.1") {
    try {
      runtime.check_sync(list, rt);
      ADD_FAILURE() << "CHECK at 0.3.1 must be refused";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    }
  } else {
    EXPECT_NO_THROW(runtime.check_sync(list, rt));
  }
  runtime.del_sync(list, rt);
  net.expect_no_leftovers(rt.container_id);
}

INSTANTIATE_TEST_SUITE_P(Spec, CniVersions, ::testing::Values("0.3.1", "0.4.0", "1.0.0"));

TEST_F(CniPrivileged, LoopbackPluginAndNativeLoopbackGiveTheSameResult) {
  TestNetwork net;
  PinnedSandbox sb;
  auto list = net.list("1.0.0", {json::parse(R"({"type":"loopback"})").as_object()});
  RuntimeConf rt = conf_for(test::unique_name("sncni-l"), sb.path());
  rt.ifname = "lo";

  Runtime plugin_runtime(net.options());
  Defer cleanup{[&] {
    try { plugin_runtime.del_sync(list, rt); } catch (...) {}
  }};
  json::object from_plugin = plugin_runtime.add_sync(list, rt);
  EXPECT_NE(sb.sandbox().exec({"ip", "-o", "link", "show", "lo"}).out.find("UP"), std::string::npos);
  EXPECT_EQ(from_plugin.at("interfaces").as_array()[0].at("name").as_string(), "lo");
  EXPECT_EQ(first_ip(from_plugin), "127.0.0.1/8");
  plugin_runtime.del_sync(list, rt);
  EXPECT_EQ(sb.sandbox().exec({"ip", "-o", "link", "show", "lo"}).out.find(",UP"), std::string::npos);

  RuntimeOptions native_options = net.options();
  native_options.native_loopback = true;
  Runtime native(native_options);
  json::object from_native = native.add_sync(list, rt);
  EXPECT_EQ(json::serialize(from_native), json::serialize(from_plugin));
  EXPECT_NE(sb.sandbox().exec({"ip", "-o", "link", "show", "lo"}).out.find("UP"), std::string::npos);
  native.del_sync(list, rt);
  EXPECT_EQ(sb.sandbox().exec({"ip", "-o", "link", "show", "lo"}).out.find(",UP"), std::string::npos);
  net.expect_no_leftovers(rt.container_id);

  // A loopback after another plugin passes its prevResult through, natively too.
  auto chain = net.list("1.0.0", {net.bridge_plugin(), json::parse(R"({"type":"loopback"})").as_object()});
  RuntimeConf rt2 = conf_for(test::unique_name("sncni-l"), sb.path());
  Defer cleanup2{[&] {
    try { native.del_sync(chain, rt2); } catch (...) {}
  }};
  json::object chained = native.add_sync(chain, rt2);
  EXPECT_EQ(first_ip(chained).rfind(net.subnet_prefix, 0), 0u);
  native.del_sync(chain, rt2);
  net.expect_no_leftovers(rt2.container_id);
}

TEST_F(CniPrivileged, SingleConfFileFromConfDir) {
  TestNetwork net;
  PinnedSandbox sb;
  json::object conf = net.bridge_plugin(false);
  conf["cniVersion"] = "0.4.0";
  conf["name"] = net.name;
  const std::string conf_dir = net.state.path() + "/net.d";
  fs::ensure_directory(conf_dir, 0755);
  std::ofstream(conf_dir + "/10-sncni.conf") << json::serialize(conf);
  auto list = find_network(conf_dir, net.name);
  Runtime runtime(net.options());
  RuntimeConf rt = conf_for(test::unique_name("sncni-f"), sb.path());
  Defer cleanup{[&] {
    try { runtime.del_sync(list, rt); } catch (...) {}
  }};
  json::object result = runtime.add_sync(list, rt);
  EXPECT_EQ(result.at("cniVersion").as_string(), "0.4.0");
  // The cache holds the wrapped list, as libcni writes it.
  auto cached = ResultCache(net.cache_dir).read(net.name, rt.container_id, "eth0");
  ASSERT_TRUE(cached);
  EXPECT_EQ(json::parse(cached->config).at("plugins").as_array().size(), 1u);
  EXPECT_EQ(cached->netns, sb.path());
  runtime.del_sync(list, rt);
  net.expect_no_leftovers(rt.container_id);
}

TEST_F(CniPrivileged, DelAfterTheNetnsIsGone) {
  TestNetwork net;
  PinnedSandbox sb;
  Runtime runtime(net.options());
  // ipMasq off: Debian's bridge leaves its masquerade chain behind when DEL
  // has no netns (DESIGN section 8); that is why callers DEL before unpinning.
  auto list = net.list("1.0.0", {net.bridge_plugin(false), net.portmap_plugin()});
  RuntimeConf rt = conf_for(test::unique_name("sncni-g"), sb.path());
  rt.capability_args = json::parse(R"({"portMappings":[{"hostPort":18081,"containerPort":80,"protocol":"tcp"}]})").as_object();
  Defer cleanup{[&] {
    try { runtime.del_sync(list, rt); } catch (...) {}
  }};
  runtime.add_sync(list, rt);
  sb.destroy();
  EXPECT_NO_THROW(runtime.del_sync(list, rt));
  net.expect_no_leftovers(rt.container_id);
}

TEST_F(CniPrivileged, DelWithCorruptCacheStillCleansUp) {
  TestNetwork net;
  PinnedSandbox sb;
  Runtime runtime(net.options());
  auto list = net.list("1.0.0", {net.bridge_plugin()});
  RuntimeConf rt = conf_for(test::unique_name("sncni-k"), sb.path());
  Defer cleanup{[&] {
    try { runtime.del_sync(list, rt); } catch (...) {}
  }};
  runtime.add_sync(list, rt);
  const auto path = ResultCache(net.cache_dir).path_for(net.name, rt.container_id, "eth0");
  std::ofstream(path, std::ios::trunc) << "{\"kind\":\"cniCacheV1\",\"resu";
  EXPECT_FALSE(runtime.cached_result(list, rt));
  EXPECT_NO_THROW(runtime.del_sync(list, rt));
  EXPECT_FALSE(std::filesystem::exists(path));
  net.expect_no_leftovers(rt.container_id);
}

TEST_F(CniPrivileged, GcDeletesAttachmentsNotInTheValidSet) {
  TestNetwork net;
  PinnedSandbox sb1, sb2;
  Runtime runtime(net.options());
  auto list = net.list("1.0.0", {net.bridge_plugin()});
  RuntimeConf keep = conf_for(test::unique_name("sncni-keep"), sb1.path());
  RuntimeConf stale = conf_for(test::unique_name("sncni-stale"), sb2.path());
  Defer cleanup{[&] {
    for (auto* rt : {&keep, &stale}) try { runtime.del_sync(list, *rt); } catch (...) {}
  }};
  runtime.add_sync(list, keep);
  runtime.add_sync(list, stale);
  runtime.gc_sync(list, {GcAttachment{keep.container_id, "eth0"}});
  EXPECT_TRUE(runtime.cached_result(list, keep));
  EXPECT_FALSE(runtime.cached_result(list, stale));
  EXPECT_EQ(sb2.sandbox().exec({"ip", "-o", "link", "show", "eth0"}).exit_code != 0, true)
      << "stale attachment's eth0 survived GC";
  net.expect_no_leftovers(stale.container_id, /*bridge_empty=*/false);
  EXPECT_EQ(test::run({"ip", "-o", "link", "show", "master", net.bridge}).out.find('\n') + 1,
            test::run({"ip", "-o", "link", "show", "master", net.bridge}).out.size())
      << "exactly one port (keep's veth) must remain";
  runtime.del_sync(list, keep);
  net.expect_no_leftovers(keep.container_id);
}

// The process group whose leader wrote pidfile (sncni-hang) is gone. A
// killed `sleep` in it was orphaned: whoever reaps orphans here may take a
// moment, and a zombie still counts as a member.
void expect_process_group_gone(const std::string& pidfile) {
  std::ifstream in(pidfile);
  pid_t pgid = 0;
  in >> pgid;
  ASSERT_GT(pgid, 1);
  bool group_gone = false;
  for (int i = 0; i < 100 && !group_gone; ++i) {
    group_gone = ::kill(-pgid, 0) == -1 && errno == ESRCH;
    if (!group_gone) ::usleep(50 * 1000);
  }
  EXPECT_TRUE(group_gone) << "process group " << pgid << " still has members";
}

TEST_F(CniPrivileged, HangingPluginIsKilledWithItsProcessGroup) {
  TestNetwork net;
  PinnedSandbox sb;
  RuntimeOptions options = net.options();
  options.plugin_timeout = std::chrono::milliseconds(500);
  Runtime runtime(options);
  auto list = net.list("1.0.0", {json::parse(R"({"type":"sncni-hang"})").as_object()});
  RuntimeConf rt = conf_for(test::unique_name("sncni-h"), sb.path());
  const std::string pidfile = net.state.path() + "/hang.pid";
  rt.args = {{"SNCNI_PIDFILE", pidfile}};

  const auto start = std::chrono::steady_clock::now();
  try {
    runtime.add_sync(list, rt);
    ADD_FAILURE() << "a hanging plugin must time out";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::timeout)) << e.what();
    EXPECT_NE(std::string(e.what()).find("sncni-hang ADD"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  expect_process_group_gone(pidfile);
  // DEL is still attempted and times out the same way; nothing is cached.
  EXPECT_THROW(runtime.del_sync(list, rt), Error);
  EXPECT_FALSE(runtime.cached_result(list, rt));
}

// Runs an async add() with a gate on a private io_context; the exception, if any.
std::exception_ptr add_with_gate(Runtime& runtime, const NetworkConfigList& list, const RuntimeConf& rt,
                                 std::function<boost::asio::awaitable<void>()> gate) {
  boost::asio::io_context io;
  std::exception_ptr failure;
  boost::asio::co_spawn(io, runtime.add(list, rt, std::move(gate)),
                        [&](std::exception_ptr e, json::object) { failure = e; });
  io.run();
  return failure;
}

std::string describe(const std::exception_ptr& failure) {
  try {
    if (failure) std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

TEST_F(CniPrivileged, FirstPluginGetsItsInputOnlyOnceTheGateOpens) {
  TestNetwork net;
  PinnedSandbox sb;
  Runtime runtime(net.options());
  auto list = net.list("1.0.0", {json::parse(R"({"type":"loopback"})").as_object(),
                                 json::parse(R"({"type":"loopback"})").as_object()});
  RuntimeConf rt = conf_for(test::unique_name("sncni-g"), sb.path());
  int calls = 0;
  std::chrono::steady_clock::time_point opened;
  auto gate = [&]() -> boost::asio::awaitable<void> {
    ++calls;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(300));
    co_await timer.async_wait(boost::asio::use_awaitable);
    opened = std::chrono::steady_clock::now();
  };
  const auto start = std::chrono::steady_clock::now();
  auto failure = add_with_gate(runtime, list, rt, gate);
  ASSERT_FALSE(failure) << describe(failure);
  EXPECT_EQ(calls, 1);  // the first plugin only
  EXPECT_GE(opened - start, std::chrono::milliseconds(300));
  EXPECT_TRUE(runtime.cached_result(list, rt));
  runtime.del_sync(list, rt);
}

TEST_F(CniPrivileged, AFailingGateKillsTheWaitingPluginAndFailsTheAdd) {
  TestNetwork net;
  PinnedSandbox sb;
  RuntimeOptions options = net.options();
  options.plugin_timeout = std::chrono::seconds(30);
  Runtime runtime(options);
  // sncni-hang writes its pidfile without reading stdin, then waits forever.
  auto list = net.list("1.0.0", {json::parse(R"({"type":"sncni-hang"})").as_object()});
  RuntimeConf rt = conf_for(test::unique_name("sncni-gf"), sb.path());
  const std::string pidfile = net.state.path() + "/hang.pid";
  rt.args = {{"SNCNI_PIDFILE", pidfile}};
  auto gate = [&]() -> boost::asio::awaitable<void> {
    // Fail only once the plugin is running, as a record write that fails would.
    for (int i = 0; i < 200 && !std::filesystem::exists(pidfile); ++i) {
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(10));
      co_await timer.async_wait(boost::asio::use_awaitable);
    }
    throw_errno(ENOSPC, "record: disk full");
  };
  const auto start = std::chrono::steady_clock::now();
  auto failure = add_with_gate(runtime, list, rt, gate);
  ASSERT_TRUE(failure);
  try {
    std::rethrow_exception(failure);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("record: disk full"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));  // not the plugin timeout
  expect_process_group_gone(pidfile);
  EXPECT_FALSE(runtime.cached_result(list, rt));
}

TEST_F(CniPrivileged, PluginErrorSurfacesCodeAndMessage) {
  TestNetwork net;
  PinnedSandbox sb;
  Runtime runtime(net.options());
  auto list = net.list("1.0.0", {net.bridge_plugin(), json::parse(R"({"type":"sncni-error"})").as_object()});
  RuntimeConf rt = conf_for(test::unique_name("sncni-e"), sb.path());
  try {
    runtime.add_sync(list, rt);
    ADD_FAILURE() << "sncni-error must fail";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::plugin_failed)) << e.what();
    ASSERT_TRUE(e.cni());
    EXPECT_EQ(e.cni()->code, 7u);
    EXPECT_EQ(e.cni()->msg, "sncni test failure");
    EXPECT_EQ(e.cni()->details, "ADD requested by test");
    EXPECT_NE(std::string(e.what()).find("sncni test failure"), std::string::npos) << e.what();
    EXPECT_NE(e.context().find("failing ADD on purpose"), std::string::npos) << "stderr kept: " << e.context();
  }
  // Rollback: DEL halts at sncni-error (the last plugin, so the first to
  // DEL, SPEC "Deleting an attachment"): the bridge's veth stays for a retry
  // (nothing was cached: the ADD failed).
  try {
    runtime.del_sync(list, rt);
    ADD_FAILURE() << "DEL must report sncni-error's failure";
  } catch (const Error& e) {
    ASSERT_TRUE(e.cni());
    EXPECT_EQ(e.cni()->details, "DEL requested by test");
  }
  EXPECT_EQ(sb.sandbox().exec({"ip", "-o", "link", "show", "eth0"}).exit_code, 0)
      << "the bridge plugin must not have run its DEL";
  // The retry without the failing plugin finishes the job.
  auto bridge_only = net.list("1.0.0", {net.bridge_plugin()});
  runtime.del_sync(bridge_only, rt);
  net.expect_no_leftovers(rt.container_id);
}

// CNI_NETNS is the caller's path while it refers to a netns: a symlink to a
// pin and /proc/<pid>/ns/net too (they used to get an empty CNI_NETNS, and
// the bridge plugin then left its veth and its ipMasq chain behind).
TEST_F(CniPrivileged, DelThroughASymlinkOrProcPathCleansTheNamespaceSide) {
  TestNetwork net;
  PinnedSandbox sb;
  Runtime runtime(net.options());
  const std::string record = net.state.path() + "/record";
  json::object recorder{{"type", "sncni-record"}};
  auto list = net.list("1.0.0", {net.bridge_plugin(/*ip_masq=*/true), recorder});
  const std::string link = net.state.path() + "/netns-link";
  std::filesystem::create_symlink(sb.path(), link);
  const std::string proc = "/proc/" + std::to_string(sb.sandbox().pid()) + "/ns/net";
  for (const std::string& path : {link, proc}) {
    RuntimeConf rt = conf_for(test::unique_name("sncni-n"), path);
    rt.args = {{"IgnoreUnknown", "1"}, {"SNCNI_RECORD", record}};  // Go plugins refuse unknown keys otherwise
    Defer cleanup{[&] {
      try { runtime.del_sync(list, conf_for(rt.container_id, sb.path())); } catch (...) {}
    }};
    std::filesystem::remove(record);
    runtime.add_sync(list, rt);
    ASSERT_EQ(sb.sandbox().exec({"ip", "-o", "link", "show", "eth0"}).exit_code, 0);
    runtime.del_sync(list, rt);
    EXPECT_NE(sb.sandbox().exec({"ip", "-o", "link", "show", "eth0"}).exit_code, 0)
        << "DEL through " << path << " left eth0 in the sandbox";
    net.expect_no_leftovers(rt.container_id);  // the ipMasq chain and rule included

    std::ifstream in(record);
    std::vector<json::object> runs;
    for (std::string line; std::getline(in, line);) runs.push_back(json::parse(line).as_object());
    ASSERT_EQ(runs.size(), 2u);
    for (const auto& run : runs) {
      EXPECT_EQ(run.at("env").at("CNI_NETNS").as_string(), path);
      // The recorder comes after the bridge: it gets the bridge's result.
      EXPECT_EQ(run.at("stdin").at("prevResult").at("ips").as_array().size(), 1u);
      EXPECT_FALSE(run.at("stdin").as_object().contains("capabilities"));
    }
  }
}

// A plugin's malformed result fails the ADD and is neither passed on nor
// cached; the rollback DEL cleans up what the bridge did.
TEST_F(CniPrivileged, AMalformedResultAfterTheBridgeFailsTheAddAndIsNotCached) {
  TestNetwork net;
  PinnedSandbox sb;
  Runtime runtime(net.options());
  json::object bad{{"type", "sncni-record"},
                   {"sncni.result", json::parse(R"({"cniVersion":"1.0.0","ips":[{"address":"10.201.0.300/24"}]})")}};
  auto list = net.list("1.0.0", {net.bridge_plugin(), bad});
  RuntimeConf rt = conf_for(test::unique_name("sncni-b"), sb.path());
  Defer cleanup{[&] {
    try { runtime.del_sync(list, rt); } catch (...) {}
  }};
  try {
    runtime.add_sync(list, rt);
    ADD_FAILURE() << "a malformed result must fail the ADD";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::plugin_failed)) << e.what();
    EXPECT_NE(std::string(e.what()).find("invalid result"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(runtime.cached_result(list, rt));
  runtime.del_sync(list, rt);
  net.expect_no_leftovers(rt.container_id);
}

TEST_F(CniPrivileged, SandnetctlCniRoundTrip) {
  const char* build = std::getenv("SANDNET_BUILD_DIR");
  const std::string ctl = std::string(build ? build : "") + "/client/sandnetctl";
  if (!build || !std::filesystem::exists(ctl)) GTEST_SKIP() << "sandnetctl not built at " << ctl;
  TestNetwork net;
  PinnedSandbox sb;
  const std::string conf_dir = net.state.path() + "/net.d";
  fs::ensure_directory(conf_dir, 0755);
  json::object list;
  list["cniVersion"] = "1.0.0";
  list["name"] = net.name;
  // No portmap here: its 1.1.1 CHECK fails on IPv4-only attachments (see above).
  list["plugins"] = json::array{net.bridge_plugin()};
  std::ofstream(conf_dir + "/10-sncni.conflist") << json::serialize(list);
  const std::vector<std::string> env = {
      "NETCONFPATH=" + conf_dir, "CNI_PATH=/usr/lib/cni", "CNI_CACHE_DIR=" + net.cache_dir,
      R"(CAP_ARGS={"portMappings":[{"hostPort":18082,"containerPort":80,"protocol":"tcp"}]})",
      "CNI_ARGS=IgnoreUnknown=1"};
  const std::string id = cnitool_container_id(sb.path());
  Defer cleanup{[&] { test::run({ctl, "cni", "del", net.name, sb.path()}, {}, std::chrono::seconds(60), env); }};

  auto add = test::run({ctl, "cni", "add", net.name, sb.path()}, {}, std::chrono::seconds(60), env);
  ASSERT_EQ(add.exit_code, 0) << add.err;
  json::value result = json::parse(add.out);
  EXPECT_EQ(result.at("cniVersion").as_string(), "1.0.0");
  EXPECT_NE(add.out.find("\n    \"cniVersion\": \"1.0.0\""), std::string::npos) << add.out;
  EXPECT_TRUE(std::filesystem::exists(ResultCache(net.cache_dir).path_for(net.name, id, "eth0")));
  auto check = test::run({ctl, "cni", "check", net.name, sb.path()}, {}, std::chrono::seconds(60), env);
  EXPECT_EQ(check.exit_code, 0) << check.err;
  // CAP_ARGS=null is no capability arguments, as cnitool reads it.
  std::vector<std::string> null_caps = env;
  null_caps[3] = "CAP_ARGS=null";
  auto del = test::run({ctl, "cni", "del", net.name, sb.path()}, {}, std::chrono::seconds(60), null_caps);
  EXPECT_EQ(del.exit_code, 0) << del.err;
  std::vector<std::string> bad_caps = env;
  bad_caps[3] = "CAP_ARGS=[1]";
  EXPECT_EQ(test::run({ctl, "cni", "del", net.name, sb.path()}, {}, std::chrono::seconds(60), bad_caps).exit_code, 1);
  net.expect_no_leftovers(id);

  auto missing = test::run({ctl, "cni", "add", "sncni-nosuch", sb.path()}, {}, std::chrono::seconds(60), env);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("not found"), std::string::npos) << missing.err;
  EXPECT_EQ(test::run({ctl, "cni", "add"}, {}, std::chrono::seconds(60), env).exit_code, 2);
}
