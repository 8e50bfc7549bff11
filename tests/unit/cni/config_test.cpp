#include <gtest/gtest.h>

#include <fstream>

#include "sandnet/cni/config.hpp"
#include "sandnet/cni/version.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace sandnet;
using namespace sandnet::cni;

namespace {

void write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(CniConfig, ParsesListWithVersionSelectionAndFlags) {
  auto list = parse_network_list(
      R"({"cniVersion":"0.4.0","cniVersions":["1.0.0","9.9.9","0.3.1"],"name":"sncni-a",
          "disableCheck":true,"disableGC":"true","plugins":[{"type":"bridge"},{"type":"portmap"}]})",
      "a.conflist");
  EXPECT_EQ(list.name, "sncni-a");
  EXPECT_EQ(list.cni_version, "1.0.0");
  EXPECT_TRUE(list.disable_check);
  EXPECT_TRUE(list.disable_gc);
  ASSERT_EQ(list.plugins.size(), 2u);
  EXPECT_EQ(list.plugins[1].at("type").as_string(), "portmap");
  EXPECT_EQ(list.source, "a.conflist");
}

TEST(CniConfig, BadListsNameTheFileAndTheProblem) {
  EXPECT_NE(error_of([] { parse_network_list("{not json", "bad.conflist"); }).find("bad.conflist: invalid JSON"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_network_list(R"({"cniVersion":"1.0.0","plugins":[]})", "f1"); })
                .find("f1: missing \"name\""),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_network_list(R"({"cniVersion":"1.0.0","name":"n"})", "f2"); })
                .find("f2: missing \"plugins\""),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_network_list(R"({"cniVersion":"1.0.0","name":"n","plugins":[{"x":1}]})", "f3");
            }).find("f3: plugin 0: missing \"type\""),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_network_list(R"({"cniVersion":"7.0.0","name":"n","plugins":[{"type":"a"}]})", "f4");
            }).find("f4: no supported CNI version"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_network_list(R"({"cniVersion":"1.0.0","name":"bad name","plugins":[{"type":"a"}]})", "f5");
            }).find("f5:"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_network_config(R"({"cniVersion":"1.0.0","name":"n"})", "x.conf"); })
                .find("x.conf: plugin 0: missing \"type\""),
            std::string::npos);
}

TEST(CniConfig, SingleConfIsWrappedLikeLibcni) {
  auto list = parse_network_config(R"({"cniVersion":"0.3.1","name":"sncni-s","type":"bridge","bridge":"b0"})",
                                   "s.conf");
  EXPECT_EQ(list.name, "sncni-s");
  EXPECT_EQ(list.cni_version, "0.3.1");
  ASSERT_EQ(list.plugins.size(), 1u);
  EXPECT_EQ(list.plugins[0].at("bridge").as_string(), "b0");
  json::value wrapped = json::parse(list.bytes);
  EXPECT_EQ(wrapped.at("name").as_string(), "sncni-s");
  EXPECT_EQ(wrapped.at("cniVersion").as_string(), "0.3.1");
  EXPECT_EQ(wrapped.at("plugins").as_array().size(), 1u);
}

TEST(CniConfig, LoadsDirInOrderConflistFirstAndReportsBadFiles) {
  test::TempDir dir;
  const auto& d = dir.path();
  write(d + "/20-b.conflist", R"({"cniVersion":"1.0.0","name":"sncni-b","plugins":[{"type":"bridge"}]})");
  write(d + "/10-a.conflist", R"({"cniVersion":"1.0.0","name":"sncni-a","plugins":[{"type":"bridge"}]})");
  write(d + "/05-c.conf", R"({"cniVersion":"1.0.0","name":"sncni-c","type":"ptp"})");
  write(d + "/06-d.json", R"({"cniVersion":"1.0.0","name":"sncni-d","type":"ptp"})");
  write(d + "/07-dup.conf", R"({"cniVersion":"1.0.0","name":"sncni-a","type":"ptp"})");
  write(d + "/30-bad.conflist", "{");
  write(d + "/README.txt", "not a config");

  auto loaded = load_networks(d);
  ASSERT_EQ(loaded.networks.size(), 5u);
  EXPECT_EQ(loaded.networks[0].name, "sncni-a");
  EXPECT_EQ(loaded.networks[1].name, "sncni-b");
  EXPECT_EQ(loaded.networks[2].name, "sncni-c");
  EXPECT_EQ(loaded.networks[3].name, "sncni-d");
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_NE(std::string(loaded.errors[0].what()).find("30-bad.conflist"), std::string::npos);

  // .conflist wins over a .conf of the same name.
  EXPECT_EQ(find_network(d, "sncni-a").plugins[0].at("type").as_string(), "bridge");
  EXPECT_EQ(find_network(d, "sncni-d").source, d + "/06-d.json");
  const std::string missing = error_of([&] { find_network(d, "sncni-zz"); });
  EXPECT_NE(missing.find("\"sncni-zz\" not found"), std::string::npos);
  EXPECT_NE(missing.find("30-bad.conflist"), std::string::npos);
  EXPECT_TRUE(load_networks(d + "/nonexistent").networks.empty());
}

TEST(CniConfig, PluginStdinInjectsNameVersionPrevResultAndDeclaredCapabilities) {
  json::object plugin = json::parse(R"({"type":"portmap","capabilities":{"portMappings":true,"bandwidth":false,"ips":true},
                                        "snat":true,"name":"ignored","cniVersion":"0.1.0"})")
                            .as_object();
  json::object caps = json::parse(R"({"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}],
                                      "bandwidth":{"ingressRate":1},"mac":"aa:bb:cc:dd:ee:ff"})")
                          .as_object();
  json::value prev = json::parse(R"({"cniVersion":"1.0.0","ips":[]})");
  json::object conf = build_plugin_stdin(plugin, "sncni-net", "1.0.0", &prev, caps);
  EXPECT_EQ(conf.at("name").as_string(), "sncni-net");
  EXPECT_EQ(conf.at("cniVersion").as_string(), "1.0.0");
  EXPECT_EQ(conf.at("prevResult"), prev);
  EXPECT_TRUE(conf.at("snat").as_bool());
  const auto& rc = conf.at("runtimeConfig").as_object();
  EXPECT_EQ(rc.size(), 1u);  // bandwidth not declared, ips not supplied, mac neither
  EXPECT_EQ(rc.at("portMappings").as_array()[0].at("hostPort").as_int64(), 8080);

  json::object bare = build_plugin_stdin(json::parse(R"({"type":"bridge"})").as_object(), "n", "0.4.0", nullptr, caps);
  EXPECT_FALSE(bare.contains("prevResult"));
  EXPECT_FALSE(bare.contains("runtimeConfig"));
}

// SPEC "Deriving request configuration": no "capabilities" for an
// attachment, no "prevResult" but the one given; GC/STATUS pass the plugin
// object through.
TEST(CniConfig, PluginStdinDropsCapabilitiesAndTheFilesPrevResult) {
  json::object plugin = json::parse(R"({"type":"portmap","capabilities":{"portMappings":true},
                                        "prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.9.9.9/24"}]}})")
                            .as_object();
  json::object caps = json::parse(R"({"portMappings":[]})").as_object();
  json::object first = build_plugin_stdin(plugin, "n", "1.0.0", nullptr, caps);
  EXPECT_FALSE(first.contains("capabilities"));
  EXPECT_FALSE(first.contains("prevResult"));
  EXPECT_TRUE(first.at("runtimeConfig").as_object().contains("portMappings"));
  json::value prev = json::parse(R"({"cniVersion":"1.0.0"})");
  json::object chained = build_plugin_stdin(plugin, "n", "1.0.0", &prev, caps);
  EXPECT_EQ(chained.at("prevResult"), prev);
  json::object gc = build_plugin_stdin(plugin, "n", "1.1.0", nullptr, {}, StdinFor::network);
  EXPECT_TRUE(gc.contains("capabilities"));
  EXPECT_FALSE(gc.contains("prevResult"));
  EXPECT_FALSE(gc.contains("runtimeConfig"));
}

TEST(CniConfig, CniArgsAreBuiltFromValidatedPairs) {
  EXPECT_EQ(build_cni_args({}), "");
  EXPECT_EQ(build_cni_args({{"IgnoreUnknown", "1"}, {"K8S_POD_NAME", "web-0"}}),
            "IgnoreUnknown=1;K8S_POD_NAME=web-0");
  EXPECT_THROW(build_cni_args({{"A;B", "1"}}), Error);
  EXPECT_THROW(build_cni_args({{"A", "x;B=2"}}), Error);
  EXPECT_THROW(build_cni_args({{"", "1"}}), Error);
  EXPECT_THROW(build_cni_args({{"A=", "1"}}), Error);
}

TEST(CniConfig, CniArgsParsedAsCnitoolDoes) {
  auto args = parse_cni_args("A=1;B=two");
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[1].first, "B");
  EXPECT_EQ(args[1].second, "two");
  EXPECT_TRUE(parse_cni_args("").empty());
  EXPECT_NE(error_of([] { parse_cni_args("A=1;B"); }).find("invalid CNI_ARGS pair \"B\""), std::string::npos);
  EXPECT_THROW(parse_cni_args("A=1=2"), Error);
  EXPECT_THROW(parse_cni_args("=1"), Error);
  EXPECT_THROW(parse_cni_args("A="), Error);
}

TEST(CniVersion, SelectionAndComparison) {
  EXPECT_EQ(select_version("0.3.1", {}), "0.3.1");
  EXPECT_EQ(select_version("", {}), "0.1.0");
  EXPECT_EQ(select_version("0.4.0", {"1.1.0", "2.0.0"}), "1.1.0");
  EXPECT_EQ(select_version("1.0.0", {"0.3.1"}), "1.0.0");
  EXPECT_EQ(select_version("3.0.0", {"0.4.0"}), "0.4.0");
  EXPECT_THROW(select_version("3.0.0", {"4.0.0"}), Error);
  EXPECT_LT(compare_versions("0.3.1", "0.4.0"), 0);
  EXPECT_GT(compare_versions("1.10.0", "1.9.0"), 0);
  EXPECT_EQ(compare_versions("1.0.0", "1.0.0"), 0);
  EXPECT_TRUE(version_at_least("1.1.0", "1.1.0"));
  EXPECT_FALSE(version_at_least("0.3.1", "0.4.0"));
  EXPECT_THROW(compare_versions("1.0", "1.0.0"), Error);
  EXPECT_THROW(compare_versions("1.0.x", "1.0.0"), Error);
  for (auto v : kSupportedVersions) EXPECT_TRUE(is_supported_version(v));
  EXPECT_FALSE(is_supported_version("0.5.0"));
}

// Found with fuzz_cni_result (the same parse): a number beyond a double in a
// network list would reach plugins' stdin as "Infinity", which is not JSON.
TEST(CniConfig, NumberBeyondADoubleIsRefused) {
  EXPECT_THROW(parse_network_list(R"({"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","mtu":1e400}]})", "f"),
               Error);
  EXPECT_THROW(parse_network_config(R"({"cniVersion":"1.0.0","name":"n","type":"bridge","x":-1e400})", "f.conf"),
               Error);
}
