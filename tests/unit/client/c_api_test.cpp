// The C ABI against a fake daemon: JSON in/out, fd passing, error getters.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>

#include "fake_server.hpp"
#include "sandnet/sandnet.h"

namespace sandnet::test {
namespace {
namespace json = boost::json;

struct ClientDeleter {
  void operator()(sandnet_client* c) const { sandnet_client_free(c); }
};
struct ErrorDeleter {
  void operator()(sandnet_error* e) const { sandnet_error_free(e); }
};
struct StringDeleter {
  void operator()(char* s) const { sandnet_free_string(s); }
};
using ClientPtr = std::unique_ptr<sandnet_client, ClientDeleter>;
using ErrorPtr = std::unique_ptr<sandnet_error, ErrorDeleter>;
using StringPtr = std::unique_ptr<char, StringDeleter>;

ClientPtr make_client(const std::string& path) {
  sandnet_client* c = nullptr;
  sandnet_error* err = nullptr;
  EXPECT_EQ(sandnet_client_new(path.c_str(), &c, &err), SANDNET_OK);
  EXPECT_EQ(err, nullptr);
  return ClientPtr(c);
}

TEST(CApi, SetupJsonPassesTheFdAndReturnsTheSandbox) {
  FakeServer server({reply_result(json::parse(
      R"({"id":"pod1","netns":"/run/netns/sandnet-pod1","state":"ready","attachments":[]})"))});
  auto client = make_client(server.path());
  unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
  ASSERT_TRUE(pidfd);
  char* result = nullptr;
  sandnet_error* err = nullptr;
  int rc = sandnet_setup_json(client.get(), R"({"id":"pod1","fd":"pidfd","networks":["sandnet"]})", pidfd.get(),
                              &result, &err);
  ErrorPtr err_owner(err);
  StringPtr result_owner(result);
  ASSERT_EQ(rc, SANDNET_OK) << (err ? sandnet_error_message(err) : "");
  EXPECT_EQ(json::parse(result).at("netns").as_string(), "/run/netns/sandnet-pod1");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  ASSERT_EQ(requests[0].fd_kinds.size(), 1u);
  EXPECT_EQ(requests[0].fd_kinds[0], "anon_inode:[pidfd]");
  EXPECT_EQ(requests[0].params.at("networks").as_array().at(0).at("name").as_string(), "sandnet");
}

TEST(CApi, TypedSetupPidfdHelperGivesThePin) {
  FakeServer server({reply_result(json::parse(R"({"id":"pod9","netns":"/run/netns/sandnet-pod9"})")),
                     reply_result(json::parse(R"({"id":"pod9","existed":true,"errors":["bridge: gone"]})"))});
  auto client = make_client(server.path());
  unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
  char* netns = nullptr;
  ASSERT_EQ(sandnet_setup_pidfd(client.get(), "pod9", pidfd.get(), &netns, nullptr), SANDNET_OK);
  StringPtr netns_owner(netns);
  EXPECT_STREQ(netns, "/run/netns/sandnet-pod9");
  // A teardown that could not undo everything is reported as a failure.
  sandnet_error* err = nullptr;
  EXPECT_EQ(sandnet_teardown(client.get(), "pod9", &err), SANDNET_E_INTERNAL);
  ErrorPtr err_owner(err);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(sandnet_error_message(err)).find("bridge: gone"), std::string::npos);
}

TEST(CApi, DaemonErrorGetters) {
  rpc::ErrorObject error;
  error.code = rpc::kPluginFailed;
  error.message = "setup pod1: bridge: failed";
  error.data = json::parse(R"({"context":"setup pod1: bridge","cni":{"code":11,"msg":"no addresses","details":"pool full"}})");
  FakeServer server({reply_error(error)});
  auto client = make_client(server.path());
  char* result = nullptr;
  sandnet_error* err = nullptr;
  int rc = sandnet_get_json(client.get(), "pod1", &result, &err);
  ErrorPtr err_owner(err);
  EXPECT_EQ(rc, SANDNET_E_PLUGIN_FAILED);
  EXPECT_EQ(result, nullptr);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(sandnet_error_code(err), SANDNET_E_PLUGIN_FAILED);
  EXPECT_EQ(sandnet_error_has_cni(err), 1);
  EXPECT_EQ(sandnet_error_cni_code(err), 11u);
  EXPECT_STREQ(sandnet_error_cni_msg(err), "no addresses");
  EXPECT_STREQ(sandnet_error_cni_details(err), "pool full");
  EXPECT_STREQ(sandnet_error_message(err), "setup pod1: bridge: no addresses (pool full)");
}

TEST(CApi, BadInputIsRefusedBeforeSending) {
  FakeServer server({});
  auto client = make_client(server.path());
  char* result = nullptr;
  sandnet_error* err = nullptr;
  EXPECT_EQ(sandnet_setup_json(client.get(), "{not json", -1, &result, &err), SANDNET_E_INVALID_PARAMS);
  ErrorPtr e1(err);
  EXPECT_NE(std::string(sandnet_error_message(err)).find("not JSON"), std::string::npos);
  EXPECT_EQ(sandnet_setup_json(client.get(), R"({"id":"p","pid":"12"})", -1, &result, &err), SANDNET_E_INVALID_PARAMS);
  ErrorPtr e2(err);
  EXPECT_NE(std::string(sandnet_error_message(err)).find("\"pid\""), std::string::npos) << sandnet_error_message(err);
  EXPECT_EQ(sandnet_get_json(client.get(), nullptr, &result, nullptr), SANDNET_E_INVALID_PARAMS);
  EXPECT_EQ(sandnet_call_json(nullptr, "status", nullptr, -1, &result, nullptr), SANDNET_E_INVALID_PARAMS);
  EXPECT_TRUE(server.requests().empty());
}

TEST(CApi, TimeoutsAndSystemErrors) {
  FakeServer server({stall()});
  auto client = make_client(server.path());
  ASSERT_EQ(sandnet_client_set_timeouts(client.get(), 0, 150), SANDNET_OK);
  char* result = nullptr;
  sandnet_error* err = nullptr;
  EXPECT_EQ(sandnet_status_json(client.get(), &result, &err), SANDNET_E_TIMEOUT);
  ErrorPtr e1(err);

  TempDir dir;
  auto missing = make_client(dir.path() + "/none.sock");
  EXPECT_EQ(sandnet_list_json(missing.get(), &result, &err), SANDNET_E_SYSTEM);
  ErrorPtr e2(err);
  EXPECT_EQ(sandnet_error_errno(err), ENOENT);
  EXPECT_EQ(sandnet_error_has_cni(err), 0);
}

TEST(CApi, RawCallAndVersion) {
  FakeServer server({reply_result(json::parse(R"({"ready":true,"sandboxes":0,"inFlight":0,"networks":[]})"))});
  auto client = make_client(server.path());
  char* result = nullptr;
  ASSERT_EQ(sandnet_call_json(client.get(), "status", "{}", -1, &result, nullptr), SANDNET_OK);
  StringPtr owner(result);
  EXPECT_TRUE(json::parse(result).at("ready").as_bool());
  EXPECT_STRNE(sandnet_version(), "");
}

}  // namespace
}  // namespace sandnet::test
