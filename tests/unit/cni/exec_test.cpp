// Plugin exec without root: the test plugins in the build tree (sncni-*),
// run through exec_plugin and the Runtime on private io_contexts.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
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
#include "sandnet/common/fs.hpp"
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

template <class T>
T run_on_private_loop(asio::awaitable<T> op) {
  asio::io_context io;
  std::exception_ptr failure;
  std::optional<T> value;
  asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T v) {
    failure = e;
    if (!e) value = std::move(v);
  });
  io.run();
  if (failure) std::rethrow_exception(failure);
  return std::move(*value);
}

std::string run_plugin(PluginInvocation inv) { return run_on_private_loop(exec_plugin(std::move(inv))); }

// The JSON lines sncni-record appended to file.
std::vector<json::object> records(const std::string& file) {
  std::vector<json::object> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line).as_object());
  return out;
}

PluginInvocation recording(const std::string& record_file, const std::string& extra_conf = "") {
  PluginInvocation inv = invocation("sncni-record", "ADD");
  inv.cni_args = "SNCNI_RECORD=" + record_file;
  inv.stdin_data = R"({"cniVersion":"1.0.0","name":"exec-test","type":"sncni-record")" + extra_conf + "}";
  return inv;
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

// What the plugin starts with, whatever the caller's state: the seven
// variables, fds 0/1/2 only, a process group of its own, no blocked or
// ignored signal, and the caller as its parent.
TEST(CniExec, PluginGetsAFreshEnvironmentFdsAndSignals) {
  test::TempDir dir;
  const std::string file = dir.path() + "/record";
  // A leaked fd, an ignored and a blocked signal in the caller.
  const int leaked = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  struct sigaction ignore {}, old_hup {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGHUP, &ignore, &old_hup);
  sigset_t usr1, old_mask;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &usr1, &old_mask);
  test::Defer restore{[&] {
    ::close(leaked);
    ::sigaction(SIGHUP, &old_hup, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  }};

  run_plugin(recording(file));
  auto recs = records(file);
  ASSERT_EQ(recs.size(), 1u);
  const json::object& r = recs[0];
  std::vector<std::string> names;
  for (const auto& [k, v] : r.at("env").as_object()) names.emplace_back(k);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"CNI_ARGS", "CNI_COMMAND", "CNI_CONTAINERID", "CNI_IFNAME",
                                             "CNI_NETNS", "CNI_PATH", "PATH"}));
  EXPECT_EQ(json::serialize(r.at("fds")), "[0,1,2]");
  EXPECT_EQ(r.at("pgid"), r.at("pid")) << "own process group";
  EXPECT_EQ(r.at("ppid").as_int64(), ::getpid());
  EXPECT_EQ(r.at("sigBlocked").as_string(), "0000000000000000");
  EXPECT_EQ(r.at("sigIgnored").as_string(), "0000000000000000");
}

TEST(CniExec, ExecFailuresAreTheErrnoOfExec) {
  test::TempDir dir;
  PluginInvocation missing = invocation("sncni-passthrough", "ADD");
  missing.plugin = dir.path() + "/nosuch";
  try {
    run_plugin(missing);
    ADD_FAILURE() << "exec of a missing file must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory) << e.what();
    EXPECT_NE(std::string(e.what()).find("exec " + missing.plugin.string()), std::string::npos) << e.what();
  }
  const std::string not_executable = dir.path() + "/plain";
  fs::write_file_atomic(not_executable, "#!/bin/sh\n", 0644);
  PluginInvocation plain = invocation("sncni-passthrough", "ADD");
  plain.plugin = not_executable;
  try {
    run_plugin(plain);
    ADD_FAILURE() << "exec of a non-executable file must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), std::errc::permission_denied) << e.what();
  }
}

// A plugin binary being written right now ("text file busy") is retried.
TEST(CniExec, TextFileBusyIsRetried) {
  test::TempDir dir;
  const std::string copy = dir.path() + "/sncni-passthrough";
  std::filesystem::copy_file(kPluginDir / "sncni-passthrough", copy);
  std::filesystem::permissions(copy, std::filesystem::perms::owner_all);
  int writer = ::open(copy.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(writer, 0);
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
    ::close(writer);
  });
  PluginInvocation inv = invocation("sncni-passthrough", "ADD");
  inv.plugin = copy;
  std::string out;
  EXPECT_NO_THROW(out = run_plugin(inv));
  release.join();
  EXPECT_NE(out.find("cniVersion"), std::string::npos) << out;
}

// Issue 11 bug 7: a plugin must not outlive the process that started it
// (kill -9 of the daemon while a plugin runs).
TEST(CniExec, PluginDiesWithTheProcessThatStartedIt) {
  test::TempDir dir;
  const std::string file = dir.path() + "/record";
  const pid_t starter = ::fork();
  ASSERT_GE(starter, 0);
  if (starter == 0) {
    try {
      PluginInvocation inv = recording(file, R"(,"sncni.sleepMs":30000)");
      inv.timeout = std::chrono::seconds(60);
      run_plugin(inv);
    } catch (...) {
    }
    ::_exit(0);
  }
  pid_t plugin = 0;
  for (int i = 0; i < 500 && plugin == 0; ++i) {
    if (auto recs = records(file); !recs.empty()) plugin = static_cast<pid_t>(recs[0].at("pid").as_int64());
    else std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (plugin == 0) {
    ::kill(starter, SIGKILL);
    ::waitpid(starter, nullptr, 0);
    FAIL() << "the plugin never started";
  }
  const int plugin_fd = pidfd_open(plugin);
  ASSERT_GE(plugin_fd, 0);
  test::Defer close_fd{[&] { ::close(plugin_fd); }};
  ::kill(starter, SIGKILL);
  ::waitpid(starter, nullptr, 0);
  pollfd p{plugin_fd, POLLIN, 0};
  const bool gone = ::poll(&p, 1, 5000) == 1;
  if (!gone) ::kill(plugin, SIGKILL);
  EXPECT_TRUE(gone) << "plugin " << plugin << " outlived the process that started it";
}

// Someone else reaps the plugin (ECHILD for us): an error at once, never a
// wait for the deadline and never a signal to a PID that may be reused.
TEST(CniExec, APluginReapedElsewhereIsAnErrorNotATimeout) {
  test::TempDir dir;
  PluginInvocation inv = recording(dir.path() + "/record", R"(,"sncni.sleepMs":300)");
  inv.timeout = std::chrono::seconds(20);
  std::thread thief([] {
    int status = 0;
    ::waitpid(-1, &status, 0);
  });
  const auto start = std::chrono::steady_clock::now();
  try {
    run_plugin(inv);  // the thief may lose the race: then the plugin succeeds
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::plugin_failed)) << e.what();
    EXPECT_NE(std::string(e.what()).find("exit status lost"), std::string::npos) << e.what();
  }
  thief.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

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
