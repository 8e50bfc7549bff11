// Plugin exec without root: the test plugins in the build tree (sncni-*),
// run through exec_plugin and the Runtime on private io_contexts.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sandnet/cni/config.hpp"
#include "sandnet/cni/exec.hpp"
#include "sandnet/cni/runtime.hpp"
#include "sandnet/common/error.hpp"
#include "support/process.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace sandnet;
using namespace sandnet::cni;

namespace {

const std::filesystem::path kPluginDir = SANDNET_TEST_PLUGIN_DIR;

// The tests need SIGPIPE ignored, as sandnetd and sandnetctl do (exec.hpp).
const bool kSigpipeIgnored = [] {
  ::signal(SIGPIPE, SIG_IGN);
  return true;
}();

NetworkConfigList passthrough_list(const std::string& name, int plugins) {
  json::object o;
  o["cniVersion"] = "1.0.0";
  o["name"] = name;
  json::array ps;
  for (int i = 0; i < plugins; ++i) ps.push_back(json::object{{"type", "sncni-passthrough"}});
  o["plugins"] = std::move(ps);
  return parse_network_list(json::serialize(o), "<test>");
}

PluginInvocation invocation(const std::string& plugin, const std::string& command) {
  PluginInvocation inv;
  inv.plugin = kPluginDir / plugin;
  inv.command = command;
  inv.container_id = "exec-test";
  inv.ifname = "eth0";
  inv.cni_path = kPluginDir.string();
  inv.stdin_data = R"({"cniVersion":"1.0.0","name":"exec-test","type":")" + plugin + "\"}";
  inv.timeout = std::chrono::seconds(30);
  return inv;
}

}  // namespace

// Issue 11 bug 5: under load a pidfd wake-up whose WNOHANG reap found nothing
// yet was taken for the deadline and the plugin killed. Hundreds of short
// plugins at once, with a deadline none of them comes near: every one must
// succeed.
TEST(CniExec, HundredsOfConcurrentShortPluginsAllSucceed) {
  asio::io_context io;
  constexpr int kWorkers = 24, kRunsEach = 25;
  int succeeded = 0;
  std::vector<std::string> failures;
  for (int w = 0; w < kWorkers; ++w) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          for (int i = 0; i < kRunsEach; ++i) {
            try {
              PluginInvocation inv = invocation("sncni-passthrough", i % 2 ? "DEL" : "ADD");
              const std::string out = co_await exec_plugin(std::move(inv));
              if (i % 2 == 0 && out.find("\"cniVersion\":\"1.0.0\"") == std::string::npos)
                failures.push_back("ADD output: " + out);
              ++succeeded;
            } catch (const std::exception& e) {
              failures.push_back(e.what());
            }
          }
        },
        asio::detached);
  }
  io.run();
  EXPECT_EQ(succeeded, kWorkers * kRunsEach);
  for (std::size_t i = 0; i < failures.size() && i < 5; ++i) ADD_FAILURE() << failures[i];
}

// The same through the Runtime: concurrent ADD/DEL of different attachments
// of a three-plugin chain, with the result cache in between.
TEST(CniExec, ConcurrentRuntimeAddDelAllSucceed) {
  test::TempDir dir;
  RuntimeOptions options;
  options.plugin_dirs = {kPluginDir};
  options.cache_dir = dir.path() + "/cache";
  options.plugin_timeout = std::chrono::seconds(30);
  Runtime runtime(options);
  const NetworkConfigList list = passthrough_list("stress", 3);
  asio::io_context io;
  constexpr int kWorkers = 16, kRoundsEach = 16;
  int succeeded = 0;
  std::vector<std::string> failures;
  for (int w = 0; w < kWorkers; ++w) {
    asio::co_spawn(
        io,
        [&, w]() -> asio::awaitable<void> {
          for (int i = 0; i < kRoundsEach; ++i) {
            RuntimeConf rt;
            rt.container_id = "stress-" + std::to_string(w) + "-" + std::to_string(i);
            rt.netns = "/nonexistent/netns";
            rt.ifname = "eth0";
            try {
              co_await runtime.add(list, rt);
              co_await runtime.del(list, rt);
              ++succeeded;
            } catch (const std::exception& e) {
              failures.push_back(e.what());
            }
          }
        },
        asio::detached);
  }
  io.run();
  EXPECT_EQ(succeeded, kWorkers * kRoundsEach);
  for (std::size_t i = 0; i < failures.size() && i < 5; ++i) ADD_FAILURE() << failures[i];
}
