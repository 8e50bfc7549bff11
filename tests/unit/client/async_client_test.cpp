// libsandnet's asynchronous API (coroutines on the caller's io_context)
// against a fake daemon.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "fake_server.hpp"
#include "sandnet/client/async_client.hpp"

namespace sandnet::test {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using client::AsyncClient;
using client::ClientOptions;
using namespace boost::asio::experimental::awaitable_operators;

ClientOptions options_for(const FakeServer& server, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  ClientOptions o;
  o.socket_path = server.path();
  o.request_timeout = timeout;
  return o;
}

// Runs a coroutine to completion on a fresh io_context; rethrows its exception.
template <class T>
T run_on_io(std::function<asio::awaitable<T>(asio::io_context&)> body) {
  asio::io_context io;
  auto future = asio::co_spawn(io, body(io), asio::use_future);
  io.run();
  return future.get();
}

TEST(AsyncClient, SetupWithNetnsFdAndGet) {
  json::value sandbox = json::parse(R"({"id":"pod1","netns":"/run/netns/sandnet-pod1","state":"ready",
      "attachments":[{"network":"sandnet","ifname":"eth0","result":{"ips":[{"address":"10.88.0.9/16"}]}}]})");
  FakeServer server({reply_result(sandbox), reply_result(sandbox)});
  unique_fd netns(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(netns);
  auto ids = run_on_io<std::vector<std::string>>([&](asio::io_context& io) -> asio::awaitable<std::vector<std::string>> {
    AsyncClient c(io.get_executor(), options_for(server));
    protocol::SetupParams params;
    params.id = "pod1";
    params.ref = protocol::SandboxRef::netns;
    auto a = co_await c.setup(params, netns.get());
    auto b = co_await c.get("pod1");
    co_return std::vector<std::string>{a.netns, b.attachments.at(0).ifname};
  });
  EXPECT_EQ(ids, (std::vector<std::string>{"/run/netns/sandnet-pod1", "eth0"}));
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].params.at("fd").as_string(), "netns");
  ASSERT_EQ(requests[0].fd_kinds.size(), 1u);
  EXPECT_EQ(requests[0].fd_kinds[0].rfind("net:[", 0), 0u) << requests[0].fd_kinds[0];
  EXPECT_TRUE(requests[1].fd_kinds.empty());
  EXPECT_EQ(server.connections(), 1);
}

TEST(AsyncClient, ConcurrentCallsAreSerialisedOnOneConnection) {
  FakeServer server({reply_result(json::parse(R"({"version":"a"})")),
                     reply_result(json::parse(R"({"networks":[{"name":"sandnet","plugins":["bridge"]}]})")),
                     reply_result(json::parse(R"({"removed":["old1"],"errors":[]})"))});
  auto count = run_on_io<std::size_t>([&](asio::io_context& io) -> asio::awaitable<std::size_t> {
    AsyncClient c(io.get_executor(), options_for(server));
    auto [info, nets, gc] = co_await (c.info() && c.networks() && c.gc());
    EXPECT_EQ(info.version, "a");
    EXPECT_EQ(gc.removed, std::vector<std::string>{"old1"});
    co_return nets.size();
  });
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(server.connections(), 1);
}

TEST(AsyncClient, DaemonErrorWithCniData) {
  rpc::ErrorObject error;
  error.code = rpc::kPluginFailed;
  error.message = "setup pod1: bridge: plugin failed";
  error.data = json::parse(R"({"context":"setup pod1: bridge","cni":{"code":7,"msg":"invalid config"}})");
  FakeServer server({reply_error(error)});
  try {
    run_on_io<int>([&](asio::io_context& io) -> asio::awaitable<int> {
      AsyncClient c(io.get_executor(), options_for(server));
      co_await c.check("pod1");
      co_return 0;
    });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::plugin_failed));
    ASSERT_TRUE(e.cni());
    EXPECT_EQ(e.cni()->code, 7u);
    EXPECT_STREQ(e.what(), "setup pod1: bridge: invalid config");
  }
}

TEST(AsyncClient, TimeoutThenReconnect) {
  FakeServer server({stall(), reply_result(json::parse(R"({"id":"pod1","existed":true,"errors":[]})"))});
  auto existed = run_on_io<bool>([&](asio::io_context& io) -> asio::awaitable<bool> {
    AsyncClient c(io.get_executor(), options_for(server, std::chrono::milliseconds(200)));
    try {
      co_await c.status();
      ADD_FAILURE() << "no timeout";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::timeout)) << e.what();
    }
    auto t = co_await c.teardown("pod1");
    co_return t.existed;
  });
  EXPECT_TRUE(existed);
  EXPECT_EQ(server.connections(), 2);
}

TEST(AsyncClient, ClosedMidReplyAndOversizedReply) {
  FakeServer server({close_mid_reply(), reply_oversized()});
  run_on_io<int>([&](asio::io_context& io) -> asio::awaitable<int> {
    AsyncClient c(io.get_executor(), options_for(server));
    try {
      co_await c.info();
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::unavailable)) << e.what();
    }
    try {
      co_await c.info();
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
    }
    co_return 0;
  });
}

TEST(AsyncClient, NoDaemon) {
  TempDir dir;
  try {
    run_on_io<int>([&](asio::io_context& io) -> asio::awaitable<int> {
      ClientOptions o;
      o.socket_path = dir.path() + "/none.sock";
      AsyncClient c(io.get_executor(), o);
      co_await c.list();
      co_return 0;
    });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), std::error_code(ENOENT, std::generic_category()));
    EXPECT_NE(std::string(e.what()).find("connect "), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sandnet::test
