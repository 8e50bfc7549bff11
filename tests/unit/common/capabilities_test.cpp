#include "sandnet/common/capabilities.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "sandnet/common/error.hpp"
#include "sandnet/common/json_strict.hpp"
#include "sandnet/common/jsonrpc.hpp"

namespace sandnet {
namespace {
namespace json = boost::json;

capabilities::CapabilityArgs parse(std::string_view text) { return capabilities::parse(json::parse(text)); }

// The message of the invalid_argument that parsing text throws.
std::string refusal(std::string_view text) {
  try {
    parse(text);
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << text;
  return {};
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TEST(Capabilities, EveryKnownCapabilityRoundTripsCanonically) {
  const std::string text =
      R"({"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},)"
      R"({"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"::1"}],)"
      R"("ipRanges":[[{"subnet":"10.1.0.0/16","rangeStart":"10.1.0.10","rangeEnd":"10.1.0.20","gateway":"10.1.0.1"}],)"
      R"([{"subnet":"fd00::/64"}]],)"
      R"("bandwidth":{"ingressRate":1000,"ingressBurst":2000,"egressRate":3000,"egressBurst":4000},)"
      R"("dns":{"servers":["10.0.0.1","fd00::53"],"searches":["svc.cluster.local"],"options":["ndots:5"]},)"
      R"("ips":["10.1.0.5/16","fd00::5"],"mac":"02:42:ac:11:00:02","aliases":["web","web.default"],)"
      R"("cgroupPath":"/kubepods/pod1","infinibandGUID":"00:11:22:33:44:55:66:77","deviceID":"0000:03:00.1"})";
  auto args = parse(text);
  EXPECT_EQ(args.names().size(), capabilities::known_names().size());
  EXPECT_EQ(json::serialize(capabilities::to_json(args)), text);
  EXPECT_EQ(capabilities::parse(capabilities::to_json(args)), args);
}

TEST(Capabilities, NormalisesWhatPluginsWouldReadAlike) {
  // Protocols are case-insensitive to portmap: stored lower case, tcp by default.
  auto args = parse(R"({"portMappings":[{"hostPort":1,"containerPort":2,"protocol":"UDP"},{"hostPort":3,"containerPort":4}]})");
  ASSERT_TRUE(args.port_mappings);
  EXPECT_EQ((*args.port_mappings)[0].protocol, "udp");
  EXPECT_EQ((*args.port_mappings)[1].protocol, "tcp");
  EXPECT_TRUE(parse("null").empty());
  EXPECT_TRUE(parse(R"({"portMappings":null})").empty());
}

TEST(Capabilities, RefusesCaseVariantsAndUnknownKeysNamingThem) {
  EXPECT_TRUE(contains(refusal(R"({"portMappings":[{"hostPort":30080,"HostPort":22,"containerPort":80}]})"),
                       "capabilities.portMappings[0].HostPort differs from \"hostPort\" only in case"));
  EXPECT_TRUE(contains(refusal(R"({"portmappings":[]})"), "differs from \"portMappings\" only in case"));
  EXPECT_TRUE(contains(refusal(R"({"bandwidth":{"IngressRate":1}})"), "capabilities.bandwidth.IngressRate differs"));
  EXPECT_TRUE(contains(refusal(R"({"portMappings":[{"hostPort":1,"containerPort":2,"hostIp":"1.2.3.4"}]})"),
                       "differs from \"hostIP\" only in case"));
  EXPECT_TRUE(contains(refusal(R"({"teleport":true})"), "capabilities.teleport is not a capability sandnet knows"));
  EXPECT_TRUE(contains(refusal(R"({"portMappings":[{"hostPort":1,"containerPort":2,"extra":1}]})"),
                       "capabilities.portMappings[0].extra is not a known field"));
}

TEST(Capabilities, RefusesOutOfRangeAndMalformedValuesNamingTheField) {
  EXPECT_TRUE(contains(refusal(R"({"portMappings":[{"hostPort":0,"containerPort":80}]})"),
                       "capabilities.portMappings[0].hostPort must be a port number (1-65535)"));
  EXPECT_TRUE(contains(refusal(R"({"portMappings":[{"hostPort":8080,"containerPort":0}]})"),
                       "capabilities.portMappings[0].containerPort must be a port number"));
  EXPECT_TRUE(contains(refusal(R"({"portMappings":[{"hostPort":70000,"containerPort":80}]})"), "at most 65535"));
  EXPECT_TRUE(contains(refusal(R"({"portMappings":[{"hostPort":-1,"containerPort":80}]})"), "must not be negative"));
  EXPECT_TRUE(contains(refusal(R"({"portMappings":[{"hostPort":"80","containerPort":80}]})"), "must be an integer"));
  EXPECT_TRUE(contains(refusal(R"({"portMappings":[{"hostPort":80.5,"containerPort":80}]})"), "must be an integer"));
  EXPECT_TRUE(contains(refusal(R"({"portMappings":[{"containerPort":80}]})"), "hostPort is required"));
  EXPECT_TRUE(contains(refusal(R"({"portMappings":[{"hostPort":1,"containerPort":2,"protocol":"icmp"}]})"),
                       "must be tcp, udp or sctp"));
  EXPECT_TRUE(contains(refusal(R"({"portMappings":[{"hostPort":1,"containerPort":2,"hostIP":"1.2.3"}]})"),
                       "hostIP must be an IPv4 or IPv6 address"));
  EXPECT_TRUE(contains(refusal(R"({"portMappings":[{"hostPort":1,"containerPort":2},{"hostPort":1,"containerPort":3}]})"),
                       "maps host port 1/tcp again"));
  EXPECT_TRUE(contains(refusal(R"({"portMappings":{}})"), "capabilities.portMappings must be an array"));
  EXPECT_TRUE(contains(refusal(R"({"portMappings":[42]})"), "capabilities.portMappings[0] must be an object"));
  EXPECT_TRUE(contains(refusal(R"({"ipRanges":[[{"subnet":"10.1.0.0/33"}]]})"), "must be a CIDR"));
  EXPECT_TRUE(contains(refusal(R"({"ipRanges":[[{"gateway":"10.1.0.1"}]]})"), "subnet is required"));
  EXPECT_TRUE(contains(refusal(R"({"ips":["10.1.0.300"]})"), "capabilities.ips[0] must be an IP address or CIDR"));
  EXPECT_TRUE(contains(refusal(R"({"mac":"02:42:ac:11:00"})"), "capabilities.mac must be a MAC address"));
  EXPECT_TRUE(contains(refusal(R"({"dns":{"servers":["dns.example"]}})"), "capabilities.dns.servers[0] must be an IPv4"));
  EXPECT_TRUE(contains(refusal(R"({"dns":{"searches":["a b"]}})"), "must be a domain name"));
  EXPECT_TRUE(contains(refusal(R"({"aliases":["x;y"]})"), "capabilities.aliases[0] must be a domain name"));
  EXPECT_TRUE(contains(refusal(R"({"cgroupPath":"relative/path"})"), "must be an absolute path"));
  EXPECT_TRUE(contains(refusal(R"({"cgroupPath":"/a/../b"})"), "without .."));
  EXPECT_TRUE(contains(refusal(R"({"bandwidth":{"ingressRate":-5}})"), "must not be negative"));
  EXPECT_TRUE(contains(refusal(R"({"deviceID":"0000:03:00.1;rm"})"), "must be a device ID"));
  EXPECT_TRUE(contains(refusal(R"({"mac":"02:42:ac:11:00:0\n"})"), "control characters"));
  std::string many = R"({"ips":[)";
  for (int i = 0; i < 300; ++i) many += std::string(i ? "," : "") + "\"10.0.0.1\"";
  EXPECT_TRUE(contains(refusal(many + "]}"), "has more than 256 entries"));
  EXPECT_TRUE(contains(refusal(R"({"mac":")" + std::string(2000, 'a') + "\"}"), "longer than 1024 bytes"));
}

TEST(JsonStrict, FindsDuplicateKeysAtAnyDepth) {
  EXPECT_EQ(json_strict::find_duplicate_key(R"({"a":1,"b":2})"), std::nullopt);
  EXPECT_EQ(json_strict::find_duplicate_key(R"({"a":1,"a":2})"), "a");
  EXPECT_EQ(json_strict::find_duplicate_key(R"({"x":[{"k":1},{"k":2}],"y":{"hostPort":1,"hostPort":22}})"),
            "hostPort");
  // Same key in sibling objects is fine; case variants are the typed readers' job.
  EXPECT_EQ(json_strict::find_duplicate_key(R"([{"k":1},{"k":1,"K":2}])"), std::nullopt);
  EXPECT_EQ(json_strict::find_duplicate_key("not json"), std::nullopt);
}

TEST(JsonStrict, RequestWithADuplicateKeyIsRefused) {
  auto reply = rpc::parse_request(
      R"({"jsonrpc":"2.0","id":7,"method":"sandbox.setup","params":{"id":"a","pid":1,)"
      R"("capabilities":{"portMappings":[{"hostPort":30080,"containerPort":80,"hostPort":22}]}}})");
  ASSERT_TRUE(std::holds_alternative<rpc::ErrorReply>(reply));
  const auto& err = std::get<rpc::ErrorReply>(reply);
  EXPECT_EQ(err.error.code, rpc::kInvalidParams);
  EXPECT_EQ(err.id, json::value(7));
  EXPECT_TRUE(contains(err.error.message, "\"hostPort\" appears twice")) << err.error.message;
}

}  // namespace
}  // namespace sandnet
