// libsandnet's synchronous API against a fake daemon.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fake_server.hpp"
#include "sandnet/client/client.hpp"

namespace sandnet::test {
namespace {
namespace json = boost::json;
using client::Client;
using client::ClientOptions;

ClientOptions options_for(const FakeServer& server, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  ClientOptions o;
  o.socket_path = server.path();
  o.request_timeout = timeout;
  o.connect_timeout = std::chrono::seconds(2);
  return o;
}

json::value sandbox_json(const std::string& id) {
  return json::parse(R"({"id":")" + id + R"(","netns":"/run/netns/sandnet-)" + id +
                     R"(","ownerUID":1501,"ownerGID":1501,"state":"ready","pid":4242,
      "attachments":[{"network":"sandnet","ifname":"eth0",
                      "result":{"cniVersion":"1.0.0","ips":[{"address":"10.88.0.5/16"}]}}],
      "labels":{"app":"web"},"createdUnix":1700000000})");
}

unique_fd own_pidfd() {
  unique_fd fd(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
  if (!fd) throw_errno("pidfd_open");
  return fd;
}

TEST(Client, InfoRoundTripAndManyRequestsOnOneConnection) {
  FakeServer server({
      reply_result(json::parse(R"({"version":"0.1.0","cniVersions":["0.4.0","1.0.0"],
          "idMappings":{"uids":[{"hostID":100000,"size":65536}],"gids":[]},"netnsDir":"/run/netns",
          "caller":{"uid":1501,"gid":1502}})")),
      reply_result(json::parse(R"({"sandboxes":[]})")),
      reply_result(json::parse(R"({"ready":true,"sandboxes":3,"inFlight":1,
          "networks":[{"name":"sandnet","ok":true},{"name":"broken","ok":false,"error":"no plugin"}]})")),
  });
  Client c(options_for(server));
  auto info = c.info();
  EXPECT_EQ(info.version, "0.1.0");
  ASSERT_EQ(info.uid_mappings.size(), 1u);
  EXPECT_EQ(info.uid_mappings[0].host_id, 100000u);
  EXPECT_EQ(info.caller_gid, 1502u);
  EXPECT_TRUE(c.list().empty());
  auto status = c.status();
  EXPECT_TRUE(status.ready);
  EXPECT_EQ(status.sandboxes, 3);
  EXPECT_EQ(status.in_flight, 1);
  ASSERT_EQ(status.networks.size(), 2u);
  EXPECT_FALSE(status.networks[1].ok);
  EXPECT_EQ(status.networks[1].error, "no plugin");

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].method, "runtime.info");
  EXPECT_EQ(requests[1].method, "sandbox.list");
  EXPECT_EQ(requests[2].method, "status");
  EXPECT_EQ(server.connections(), 1);
}

TEST(Client, SetupPassesPidfdWithTheRequest) {
  FakeServer server({reply_result(sandbox_json("pod1"))});
  Client c(options_for(server));
  unique_fd pidfd = own_pidfd();
  protocol::SetupParams params;
  params.id = "pod1";
  params.ref = protocol::SandboxRef::pidfd;
  params.networks = {{"sandnet", ""}};
  params.args = {{"K8S_POD_NAME", "web"}};
  auto info = c.setup(params, pidfd.get());
  EXPECT_EQ(info.id, "pod1");
  EXPECT_EQ(info.netns, "/run/netns/sandnet-pod1");
  ASSERT_EQ(info.attachments.size(), 1u);
  EXPECT_EQ(info.labels.at("app"), "web");

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "sandbox.setup");
  EXPECT_EQ(requests[0].params.at("id").as_string(), "pod1");
  EXPECT_EQ(requests[0].params.at("fd").as_string(), "pidfd");
  EXPECT_FALSE(requests[0].params.contains("pid"));
  ASSERT_EQ(requests[0].fd_kinds.size(), 1u);
  EXPECT_EQ(requests[0].fd_kinds[0], "anon_inode:[pidfd]");
}

TEST(Client, SetupByPidSendsNoFd) {
  FakeServer server({reply_result(sandbox_json("pod2"))});
  Client c(options_for(server));
  protocol::SetupParams params;
  params.id = "pod2";
  params.pid = 4242;
  c.setup(params);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].params.at("pid").as_int64(), 4242);
  EXPECT_TRUE(requests[0].fd_kinds.empty());
}

TEST(Client, SetupRefusesAMismatchedFdBeforeSending) {
  FakeServer server({});
  Client c(options_for(server));
  protocol::SetupParams params;
  params.id = "pod3";
  params.ref = protocol::SandboxRef::netns;
  try {
    c.setup(params);
    FAIL() << "setup without an fd succeeded";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument));
    EXPECT_NE(std::string(e.what()).find("setup pod3"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(server.requests().empty());
}

TEST(Client, DaemonErrorKeepsCodeContextAndCniError) {
  rpc::ErrorObject error;
  error.code = rpc::kPluginFailed;
  error.message = "setup pod1: bridge: failed to allocate";
  error.data = json::parse(R"({"context":"setup pod1: bridge",
      "cni":{"code":11,"msg":"no IP addresses available","details":"range 10.88.0.0/16 full"}})");
  FakeServer server({reply_error(error), reply_result(json::parse(R"({"sandboxes":[]})"))});
  Client c(options_for(server));
  try {
    c.get("pod1");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::plugin_failed));
    EXPECT_EQ(e.context(), "setup pod1: bridge");
    ASSERT_TRUE(e.cni().has_value());
    EXPECT_EQ(e.cni()->code, 11u);
    EXPECT_EQ(e.cni()->msg, "no IP addresses available");
    EXPECT_STREQ(e.what(), "setup pod1: bridge: no IP addresses available (range 10.88.0.0/16 full)");
  }
  // An error reply leaves the connection usable.
  EXPECT_TRUE(c.list().empty());
  EXPECT_EQ(server.connections(), 1);
}

TEST(Client, SystemErrorCarriesErrno) {
  rpc::ErrorObject error;
  error.code = rpc::kSystemError;
  error.message = "pin pod1: File exists";
  error.data = json::parse(R"({"context":"pin pod1","errno":17})");
  FakeServer server({reply_error(error)});
  Client c(options_for(server));
  try {
    c.check("pod1");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), std::error_code(EEXIST, std::generic_category()));
    EXPECT_EQ(e.context(), "pin pod1");
  }
}

TEST(Client, ConnectionClosedMidReplyIsAnErrorAndTheNextRequestReconnects) {
  FakeServer server({close_mid_reply(), reply_result(json::parse(R"({"version":"0.1.0"})"))});
  Client c(options_for(server));
  try {
    c.info();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::unavailable));
    EXPECT_NE(std::string(e.what()).find("middle of a reply"), std::string::npos) << e.what();
  }
  EXPECT_EQ(c.info().version, "0.1.0");
  EXPECT_EQ(server.connections(), 2);
}

TEST(Client, ReplyOverTheLineLimitIsRefused) {
  FakeServer server({reply_oversized()});
  Client c(options_for(server));
  try {
    c.info();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::protocol_error));
    EXPECT_NE(std::string(e.what()).find("longer than"), std::string::npos) << e.what();
  }
}

TEST(Client, StalledDaemonTimesOut) {
  FakeServer server({stall(), reply_result(json::parse(R"({"version":"0.1.0"})"))});
  Client c(options_for(server, std::chrono::milliseconds(200)));
  auto start = std::chrono::steady_clock::now();
  try {
    c.info();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::timeout));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  // The stalled connection is dropped; a fresh one serves the next request.
  EXPECT_EQ(c.info().version, "0.1.0");
}

TEST(Client, ReplyWithTheWrongIdIsRefused) {
  FakeServer server({reply_raw("{\"jsonrpc\":\"2.0\",\"id\":999,\"result\":{}}\n")});
  Client c(options_for(server));
  try {
    c.info();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::protocol_error));
    EXPECT_NE(std::string(e.what()).find("expected 1"), std::string::npos) << e.what();
  }
}

TEST(Client, MalformedResultNamesTheMethod) {
  FakeServer server({reply_result(json::parse(R"({"sandboxes":[{"netns":"x"}]})"))});
  Client c(options_for(server));
  try {
    c.list();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::protocol_error));
    EXPECT_NE(std::string(e.what()).find("sandbox.list"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("\"id\""), std::string::npos) << e.what();
  }
}

TEST(Client, NoDaemonIsASystemErrorNamingTheSocket) {
  TempDir dir;
  ClientOptions o;
  o.socket_path = dir.path() + "/missing.sock";
  Client c(o);
  try {
    c.status();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), std::error_code(ENOENT, std::generic_category()));
    EXPECT_NE(std::string(e.what()).find("connect " + o.socket_path), std::string::npos) << e.what();
  }
}

TEST(Client, SocketPathComesFromOptionsThenEnvironmentThenDefault) {
  ClientOptions o;
  o.socket_path = "/tmp/explicit.sock";
  EXPECT_EQ(client::resolve_socket_path(o), "/tmp/explicit.sock");
  o.socket_path.clear();
  ::setenv("SANDNET_SOCKET", "/tmp/from-env.sock", 1);
  EXPECT_EQ(client::resolve_socket_path(o), "/tmp/from-env.sock");
  ::unsetenv("SANDNET_SOCKET");
  EXPECT_EQ(client::resolve_socket_path(o), "/run/sandnet/sandnetd.sock");
}

}  // namespace
}  // namespace sandnet::test
