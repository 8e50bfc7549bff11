#include <sys/stat.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <variant>

#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"
#include "sandnet/common/jsonrpc.hpp"
#include "sandnet/common/protocol.hpp"
#include "sandnet/common/validate.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace sandnet;

TEST(Error, ContextChainsOutward) {
  Error e(std::make_error_code(std::errc::file_exists), "add veth");
  e.add_context("bridge").add_context("setup pod1");
  EXPECT_STREQ(e.what(), "setup pod1: bridge: add veth: File exists");
  EXPECT_EQ(e.code(), std::errc::file_exists);
}

TEST(Error, CniInfoReplacesCodeMessage) {
  Error e(errc::plugin_failed, "ADD net1: bridge");
  e.set_cni({7, "failed to allocate", "range full"});
  EXPECT_STREQ(e.what(), "ADD net1: bridge: failed to allocate (range full)");
}

TEST(Validate, ContainerIds) {
  EXPECT_TRUE(validate::is_container_id("pod-1_a.b"));
  EXPECT_FALSE(validate::is_container_id(""));
  EXPECT_FALSE(validate::is_container_id("-pod"));
  EXPECT_FALSE(validate::is_container_id("../etc"));
  EXPECT_FALSE(validate::is_container_id("a/b"));
  EXPECT_FALSE(validate::is_container_id(std::string("a\nb")));
  EXPECT_THROW(validate::container_id("a b"), Error);
}

TEST(Validate, InterfaceNames) {
  EXPECT_TRUE(validate::is_interface_name("eth0"));
  EXPECT_TRUE(validate::is_interface_name("123456789012345"));
  EXPECT_FALSE(validate::is_interface_name("1234567890123456"));
  EXPECT_FALSE(validate::is_interface_name("."));
  EXPECT_FALSE(validate::is_interface_name(".."));
  EXPECT_FALSE(validate::is_interface_name("a:b"));
  EXPECT_FALSE(validate::is_interface_name("a b"));
  EXPECT_FALSE(validate::is_interface_name("a/b"));
  EXPECT_FALSE(validate::is_interface_name(""));
}

TEST(Validate, CniArgs) {
  EXPECT_NO_THROW(validate::cni_arg_key("K8S_POD_NAME"));
  EXPECT_THROW(validate::cni_arg_key("A=B"), Error);
  EXPECT_THROW(validate::cni_arg_key("A;B"), Error);
  EXPECT_THROW(validate::cni_arg_value("x;IgnoreUnknown=1"), Error);
  EXPECT_NO_THROW(validate::cni_arg_value("a=b"));
}

TEST(JsonRpc, ParsesRequest) {
  auto r = rpc::parse_request(R"({"jsonrpc":"2.0","id":7,"method":"sandbox.get","params":{"id":"p"}})");
  ASSERT_TRUE(std::holds_alternative<rpc::Request>(r));
  auto& req = std::get<rpc::Request>(r);
  EXPECT_EQ(req.id, json::value(7));
  EXPECT_EQ(req.method, "sandbox.get");
  EXPECT_FALSE(req.notification);
  EXPECT_EQ(req.params.at("id"), json::value("p"));
}

TEST(JsonRpc, BadInputGivesErrorReplies) {
  auto code = [](std::string_view line) {
    auto r = rpc::parse_request(line);
    return std::holds_alternative<rpc::ErrorReply>(r) ? std::get<rpc::ErrorReply>(r).error.code : 0;
  };
  EXPECT_EQ(code("not json"), rpc::kParseError);
  EXPECT_EQ(code("[1,2]"), rpc::kInvalidRequest);
  EXPECT_EQ(code(R"({"id":1,"method":"x"})"), rpc::kInvalidRequest);
  EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":{},"method":"x"})"), rpc::kInvalidRequest);
  EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1,"method":"x","params":[1]})"), rpc::kInvalidParams);
  EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1,"method":""})"), rpc::kInvalidRequest);
}

// Found by fuzz_jsonrpc: a reply whose data.cni.code was no uint32 made
// to_error throw a boost::system::system_error instead of returning an Error.
TEST(JsonRpc, ToErrorKeepsACniErrorWhoseCodeIsNoUint32) {
  for (const char* code : {"-1", "1.5", "4294967296", "18446744073709551615"}) {
    const std::string line = std::string(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32004,"message":"m",)") +
                             R"("data":{"cni":{"code":)" + code + R"(,"msg":"boom"}}}})";
    Error e = rpc::to_error(*rpc::parse_response(line).error);
    ASSERT_TRUE(e.cni()) << line;
    EXPECT_EQ(e.cni()->code, 0u) << line;
    EXPECT_EQ(e.cni()->msg, "boom");
    EXPECT_TRUE(e.is(errc::plugin_failed));
  }
}

// Found by fuzz_jsonrpc: Boost.JSON reads 1e400 as infinity and writes it
// back as "Infinity" (not JSON). A caller's capabilities holding such a number
// were accepted and then made the sandbox's record and plugin stdin unreadable.
TEST(JsonRpc, NumberBeyondADoubleIsAParseError) {
  auto parsed = rpc::parse_request(
      R"({"jsonrpc":"2.0","id":1,"method":"sandbox.setup","params":{"id":"p","pid":1,"capabilities":{"x":[1e400]}}})");
  ASSERT_TRUE(std::holds_alternative<rpc::ErrorReply>(parsed));
  EXPECT_EQ(std::get<rpc::ErrorReply>(parsed).error.code, rpc::kParseError);
  EXPECT_THROW(rpc::parse_response(R"({"jsonrpc":"2.0","id":1,"result":{"x":-1e999}})"), Error);
  EXPECT_TRUE(std::holds_alternative<rpc::Request>(
      rpc::parse_request(R"({"jsonrpc":"2.0","id":1,"method":"m","params":{"x":1e300}})")));
}

TEST(JsonRpc, ErrorRoundTripsThroughTheWire) {
  Error original(errc::plugin_failed, "setup pod1: net1: bridge");
  original.set_cni({11, "failed to set bridge addr", "busy"});
  auto line = rpc::serialize_error(json::value(3), rpc::error_from(original));
  auto resp = rpc::parse_response(line);
  ASSERT_TRUE(resp.error);
  EXPECT_EQ(resp.error->code, rpc::kPluginFailed);
  Error back = rpc::to_error(*resp.error);
  EXPECT_STREQ(back.what(), original.what());
  ASSERT_TRUE(back.cni());
  EXPECT_EQ(back.cni()->code, 11u);
  EXPECT_TRUE(back.is(errc::plugin_failed));

  Error sys(std::make_error_code(std::errc::no_such_file_or_directory), "open /x");
  Error sys_back = rpc::to_error(*rpc::parse_response(rpc::serialize_error(1, rpc::error_from(sys))).error);
  EXPECT_EQ(sys_back.code(), std::errc::no_such_file_or_directory);
  EXPECT_STREQ(sys_back.what(), sys.what());
}

TEST(Protocol, SetupParamsRoundTrip) {
  protocol::SetupParams p;
  p.id = "pod1";
  p.pid = 42;
  p.networks = {{"net1", "eth0"}, {"net2", ""}};
  p.args = {{"K8S_POD_NAME", "x"}};
  p.capabilities.port_mappings = std::vector<capabilities::PortMapping>{{8080, 80, "tcp", ""}};
  p.labels["app"] = "web";
  auto back = json::value_to<protocol::SetupParams>(json::value_from(p));
  EXPECT_EQ(back.id, "pod1");
  EXPECT_EQ(back.pid, 42);
  ASSERT_EQ(back.networks.size(), 2u);
  EXPECT_EQ(back.networks[0].ifname, "eth0");
  EXPECT_EQ(back.args, p.args);
  EXPECT_EQ(back.capabilities, p.capabilities);
  EXPECT_EQ(back.labels, p.labels);
}

TEST(Protocol, SetupParamsRejectsBadFields) {
  auto parse = [](std::string_view s) { return json::value_to<protocol::SetupParams>(json::parse(s)); };
  EXPECT_THROW(parse(R"({"id":"p"})"), Error);                          // no sandbox reference
  EXPECT_THROW(parse(R"({"id":"p","pid":1,"fd":"pidfd"})"), Error);     // both
  EXPECT_THROW(parse(R"({"id":"p","pid":-4})"), Error);
  EXPECT_THROW(parse(R"({"id":"p","pid":"12"})"), Error);
  EXPECT_THROW(parse(R"({"id":"p","pid":1,"netwrks":[]})"), Error);    // typo
  EXPECT_THROW(parse(R"({"id":"p","fd":"sock"})"), Error);
  EXPECT_THROW(parse(R"({"id":"p","pid":1,"args":{"a":1}})"), Error);
  EXPECT_NO_THROW(parse(R"({"id":"p","fd":"netns","networks":["a",{"name":"b"}]})"));
  try {
    parse(R"({"id":"p","pid":1,"netwrks":[]})");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("netwrks"), std::string::npos);
  }
}

TEST(Protocol, SetupParamsCreateRoundTripAndChecks) {
  protocol::SetupParams p;
  p.id = "pod1";
  p.ref = protocol::SandboxRef::create;
  p.create.uid_mappings = {{0, 100000, 65536}};
  p.create.gid_mappings = {{0, 100000, 1000}, {1000, 5000, 1}};
  auto back = json::value_to<protocol::SetupParams>(json::value_from(p));
  EXPECT_EQ(back.ref, protocol::SandboxRef::create);
  EXPECT_EQ(back.create.uid_mappings, p.create.uid_mappings);
  EXPECT_EQ(back.create.gid_mappings, p.create.gid_mappings);

  auto error_of = [](std::string_view s) -> std::string {
    try {
      json::value_to<protocol::SetupParams>(json::parse(s));
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
      return e.what();
    }
    return "accepted";
  };
  const std::string one = R"({"containerID":0,"hostID":100000,"size":65536})";
  auto with = [&](const std::string& uids, const std::string& gids) {
    return R"({"id":"p","create":{"uidMappings":)" + uids + R"(,"gidMappings":)" + gids + "}}";
  };
  EXPECT_EQ(error_of(with("[" + one + "]", "[" + one + "]")), "accepted");
  EXPECT_NE(error_of(R"({"id":"p","pid":1,"create":{}})").find("one of"), std::string::npos);
  EXPECT_NE(error_of(with("[]", "[" + one + "]")).find("uidMappings"), std::string::npos);
  EXPECT_NE(error_of(R"({"id":"p","create":{"uidMappings":[)" + one + "]}}").find("gidMappings"), std::string::npos);
  EXPECT_NE(error_of(with(R"([{"containerID":0,"hostID":1,"size":0}])", "[" + one + "]")).find("positive"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"([{"containerID":4294967295,"hostID":1,"size":2}])", "[" + one + "]")).find("overflows"),
            std::string::npos);
  EXPECT_NE(error_of(with("[" + one + "," + R"({"containerID":65535,"hostID":1,"size":1}])", "[" + one + "]"))
                .find("overlap inside"),
            std::string::npos);
  EXPECT_NE(error_of(with("[" + one + "," + R"({"containerID":70000,"hostID":100001,"size":1}])", "[" + one + "]"))
                .find("overlap on the host"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"([{"containerID":0,"hostID":1,"size":1,"extra":1}])", "[" + one + "]")).find("extra"),
            std::string::npos);
  std::string many = "[";
  for (int k = 0; k < 341; ++k)
    many += (k ? "," : "") + std::string(R"({"containerID":)") + std::to_string(k) + R"(,"hostID":)" +
            std::to_string(100000 + k) + R"(,"size":1})";
  many += "]";
  EXPECT_NE(error_of(with(many, "[" + one + "]")).find("at most 340"), std::string::npos);
}

TEST(Fs, ReadRegularFileNeverFollowsOrBlocks) {
  test::TempDir dir;
  const auto base = std::filesystem::path(dir.path());
  fs::write_file_atomic(base / "real", "content", 0600);
  EXPECT_EQ(fs::read_regular_file(base / "real"), "content");
  std::filesystem::create_symlink(base / "real", base / "link");
  std::filesystem::create_directory(base / "dir");
  ASSERT_EQ(::mkfifo((base / "fifo").c_str(), 0600), 0);
  for (const char* name : {"link", "dir", "fifo"}) {
    try {
      fs::read_regular_file(base / name);
      ADD_FAILURE() << name << " was read";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument)) << name << ": " << e.what();
    }
  }
}

TEST(Fs, StaleTempFilesOfAtomicWritesAreRemoved) {
  test::TempDir dir;
  const auto base = std::filesystem::path(dir.path());
  fs::write_file_atomic(base / "keep", "x", 0600);
  fs::write_file_atomic(base / ".keep.tmp-0123456789ab", "torn", 0600);   // a dead writer's
  fs::write_file_atomic(base / ".other.tmp-nothexnothex", "x", 0600);     // not our pattern
  EXPECT_TRUE(fs::is_atomic_temp_name(".keep.tmp-0123456789ab"));
  EXPECT_FALSE(fs::is_atomic_temp_name("keep.tmp-0123456789ab"));
  EXPECT_FALSE(fs::is_atomic_temp_name(".keep.tmp-0123456789a"));
  // Written after the cut-off: a live writer's, kept.
  EXPECT_TRUE(fs::remove_stale_temp_files(base, std::filesystem::file_time_type::min()).empty());
  auto removed = fs::remove_stale_temp_files(base, std::filesystem::file_time_type::clock::now() + std::chrono::seconds(1));
  EXPECT_EQ(removed, std::vector<std::string>{".keep.tmp-0123456789ab"});
  EXPECT_TRUE(std::filesystem::exists(base / "keep"));
  EXPECT_TRUE(std::filesystem::exists(base / ".other.tmp-nothexnothex"));
}

TEST(Fs, AtomicWriteReplacesContent) {
  test::TempDir dir;
  auto path = std::filesystem::path(dir.path()) / "f";
  fs::write_file_atomic(path, "one", 0600);
  fs::write_file_atomic(path, "two", 0600);
  EXPECT_EQ(fs::read_file(path), "two");
  EXPECT_EQ(std::filesystem::status(path).permissions(),
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
  fs::remove_file(path);
  fs::remove_file(path);  // missing is fine
  EXPECT_THROW(fs::read_file(path), Error);
}
