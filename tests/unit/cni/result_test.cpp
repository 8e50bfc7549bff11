#include <gtest/gtest.h>

#include "sandnet/cni/result.hpp"
#include "sandnet/cni/version.hpp"

namespace json = boost::json;
using namespace sandnet;
using namespace sandnet::cni;

namespace {

const char* kV020 = R"({"cniVersion":"0.2.0",
  "ip4":{"ip":"10.201.0.5/24","gateway":"10.201.0.1","routes":[{"dst":"0.0.0.0/0","gw":"10.201.0.1"}]},
  "ip6":{"ip":"fd00::5/64","routes":[{"dst":"::/0"}]},
  "dns":{"nameservers":["10.201.0.1"]}})";

const char* kV040 = R"({"cniVersion":"0.4.0",
  "interfaces":[{"name":"eth0","mac":"aa:bb:cc:dd:ee:ff","sandbox":"/run/netns/x"}],
  "ips":[{"version":"4","interface":0,"address":"10.201.0.5/24","gateway":"10.201.0.1"},
         {"version":"4","interface":0,"address":"10.201.0.6/24"},
         {"version":"6","interface":0,"address":"fd00::5/64"}],
  "routes":[{"dst":"0.0.0.0/0","gw":"10.201.0.1"},{"dst":"::/0"}],
  "dns":{"nameservers":["10.201.0.1"]}})";

const char* kV110 = R"({"cniVersion":"1.1.0",
  "interfaces":[{"name":"eth0","mac":"aa:bb:cc:dd:ee:ff","mtu":1400,"sandbox":"/run/netns/x"}],
  "ips":[{"interface":0,"address":"10.201.0.5/24","gateway":"10.201.0.1"}],
  "routes":[{"dst":"0.0.0.0/0","gw":"10.201.0.1","mtu":1400,"table":100}],
  "dns":{}})";

json::object obj(const char* text) { return json::parse(text).as_object(); }

}  // namespace

TEST(CniResult, ParseFillsVersionFromConfigAndChecksShape) {
  auto r = parse_result(R"({"ips":[{"address":"10.201.0.2/24"}]})", "1.0.0");
  EXPECT_EQ(result_version(r), "1.0.0");
  EXPECT_EQ(r.begin()->key(), "cniVersion");
  EXPECT_THROW(parse_result("nope", "1.0.0"), Error);
  EXPECT_THROW(parse_result("[]", "1.0.0"), Error);
  EXPECT_THROW(parse_result(R"({"cniVersion":"1.0.0","ips":{}})", "1.0.0"), Error);
  EXPECT_THROW(parse_result(R"({"cniVersion":"1.0.0","ips":[{"gateway":"1.2.3.4"}]})", "1.0.0"), Error);
  EXPECT_THROW(parse_result(R"({"cniVersion":"0.2.0","ip4":{"gateway":"1.2.3.4"}})", "1.0.0"), Error);
  EXPECT_THROW(parse_result(R"({"cniVersion":"0.9.0"})", "1.0.0"), Error);
}

TEST(CniResult, From020UpTo040And100) {
  auto r = convert_result(obj(kV020), "0.4.0");
  EXPECT_EQ(r.at("cniVersion").as_string(), "0.4.0");
  const auto& ips = r.at("ips").as_array();
  ASSERT_EQ(ips.size(), 2u);
  EXPECT_EQ(ips[0].at("version").as_string(), "4");
  EXPECT_EQ(ips[0].at("address").as_string(), "10.201.0.5/24");
  EXPECT_EQ(ips[0].at("gateway").as_string(), "10.201.0.1");
  EXPECT_FALSE(ips[0].as_object().contains("interface"));
  EXPECT_EQ(ips[1].at("version").as_string(), "6");
  EXPECT_EQ(r.at("routes").as_array().size(), 2u);
  EXPECT_EQ(r.at("dns").at("nameservers").as_array()[0].as_string(), "10.201.0.1");

  auto r1 = convert_result(obj(kV020), "1.0.0");
  EXPECT_EQ(r1.at("cniVersion").as_string(), "1.0.0");
  EXPECT_FALSE(r1.at("ips").as_array()[0].as_object().contains("version"));
  EXPECT_EQ(r1.at("routes").as_array()[1].at("dst").as_string(), "::/0");
}

TEST(CniResult, From040DownTo020TakesFirstIpOfEachFamily) {
  auto r = convert_result(obj(kV040), "0.2.0");
  EXPECT_EQ(r.at("cniVersion").as_string(), "0.2.0");
  EXPECT_EQ(r.at("ip4").at("ip").as_string(), "10.201.0.5/24");
  EXPECT_EQ(r.at("ip4").at("gateway").as_string(), "10.201.0.1");
  EXPECT_EQ(r.at("ip4").at("routes").as_array().size(), 1u);
  EXPECT_EQ(r.at("ip6").at("ip").as_string(), "fd00::5/64");
  EXPECT_EQ(r.at("ip6").at("routes").as_array()[0].at("dst").as_string(), "::/0");
  EXPECT_FALSE(r.contains("ips"));
  EXPECT_FALSE(r.contains("interfaces"));
  EXPECT_THROW(convert_result(obj(R"({"cniVersion":"1.0.0","interfaces":[{"name":"lo"}]})"), "0.1.0"), Error);
}

TEST(CniResult, Between040And1xAndBack) {
  auto up = convert_result(obj(kV040), "1.1.0");
  EXPECT_EQ(up.at("cniVersion").as_string(), "1.1.0");
  for (const auto& ip : up.at("ips").as_array()) EXPECT_FALSE(ip.as_object().contains("version"));
  EXPECT_EQ(up.at("ips").as_array()[2].at("interface").as_int64(), 0);

  auto down = convert_result(obj(kV110), "0.3.1");
  EXPECT_EQ(down.at("cniVersion").as_string(), "0.3.1");
  EXPECT_EQ(down.at("ips").as_array()[0].at("version").as_string(), "4");
  EXPECT_FALSE(down.at("interfaces").as_array()[0].as_object().contains("mtu"));
  EXPECT_FALSE(down.at("routes").as_array()[0].as_object().contains("table"));
  EXPECT_EQ(down.at("routes").as_array()[0].at("gw").as_string(), "10.201.0.1");
}

TEST(CniResult, EveryVersionPairConvertsAndRoundTripsIps) {
  const json::object sources[] = {obj(kV020), obj(kV040), obj(kV110)};
  for (const auto& src : sources) {
    for (auto to : kSupportedVersions) {
      auto r = convert_result(src, to);
      EXPECT_EQ(result_version(r), to);
      // Converting back to the source family keeps the first IPv4 address.
      auto back = convert_result(r, result_version(src));
      const std::string first4 = back.contains("ip4") ? std::string(back.at("ip4").at("ip").as_string())
                                                      : std::string(back.at("ips").as_array()[0].at("address").as_string());
      EXPECT_EQ(first4, "10.201.0.5/24") << result_version(src) << " -> " << to;
    }
  }
  // Same family: only the version changes.
  auto same = convert_result(obj(kV110), "1.0.0");
  EXPECT_EQ(same.at("interfaces").as_array()[0].at("mtu").as_int64(), 1400);
}

TEST(CniResult, ErrorObjectsAreRecognized) {
  auto e = parse_error_object(R"({"cniVersion":"1.0.0","code":7,"msg":"boom","details":"more"})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, 7u);
  EXPECT_EQ(e->msg, "boom");
  EXPECT_EQ(e->details, "more");
  EXPECT_FALSE(parse_error_object(R"({"cniVersion":"1.0.0","ips":[]})"));
  EXPECT_FALSE(parse_error_object("garbage"));
}

// Found by fuzz_cni_result: a code above INT64_MAX made to_number throw a
// boost::system::system_error (not an Error) out of the plugin runner, and
// codes outside uint32 were truncated (4294967296 became 0).
TEST(CniResult, ErrorObjectWithACodeOutsideUint32IsNotOne) {
  for (const char* code : {"18446744073709551615", "4294967296", "-1"}) {
    const std::string out = std::string(R"({"code":)") + code + R"(,"msg":"boom"})";
    EXPECT_FALSE(parse_error_object(out)) << out;
  }
  auto top = parse_error_object(R"({"code":4294967295,"msg":"boom"})");
  ASSERT_TRUE(top);
  EXPECT_EQ(top->code, 4294967295u);
}

// Found by fuzz_cni_result: Boost.JSON reads 1e400 as infinity and writes it
// back as "Infinity", so a plugin's result with such a number was accepted
// and then made the record, the cache entry and the reply unreadable JSON.
TEST(CniResult, NumberBeyondADoubleIsRefused) {
  EXPECT_THROW(parse_result(R"({"cniVersion":"1.0.0","ips":[],"x":{"mtu":1e400}})", "1.0.0"), Error);
  EXPECT_THROW(parse_result(R"({"cniVersion":"1.0.0","dns":{"n":[-1e999]}})", "1.0.0"), Error);
  EXPECT_NO_THROW(parse_result(R"({"cniVersion":"1.0.0","x":1e300})", "1.0.0"));
}
