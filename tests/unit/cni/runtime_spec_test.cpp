// The runtime against SPEC.md, without root: chains of the recording test
// plugin (sncni-record) whose log shows what each plugin was given.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sandnet/cni/config.hpp"
#include "sandnet/cni/runtime.hpp"
#include "sandnet/common/error.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace sandnet;
using namespace sandnet::cni;

namespace {

const std::filesystem::path kPluginDir = SANDNET_TEST_PLUGIN_DIR;

const bool kSigpipeIgnored = [] {
  ::signal(SIGPIPE, SIG_IGN);
  return true;
}();

// A runtime over the test plugins with a private cache, and a record file.
struct Fixture {
  test::TempDir dir;
  std::string record_file = dir.path() + "/record";
  Runtime runtime{[this] {
    RuntimeOptions o;
    o.plugin_dirs = {kPluginDir};
    o.cache_dir = dir.path() + "/cache";
    o.plugin_timeout = std::chrono::seconds(20);
    return o;
  }()};

  // plugins: JSON objects (each gets "type":"sncni-record" unless it has one).
  NetworkConfigList list(const std::string& plugins_json, const std::string& version = "1.0.0") const {
    json::array plugins = json::parse(plugins_json).as_array();
    for (auto& p : plugins)
      if (!p.as_object().contains("type")) p.as_object()["type"] = "sncni-record";
    json::object o{{"cniVersion", version}, {"name", "specnet"}, {"plugins", std::move(plugins)}};
    return parse_network_list(json::serialize(o), "<test>");
  }
  RuntimeConf conf(const std::string& netns = "/nonexistent/netns") const {
    RuntimeConf rt;
    rt.container_id = "spec-test";
    rt.netns = netns;
    rt.ifname = "eth0";
    rt.args = {{"SNCNI_RECORD", record_file}};
    return rt;
  }
  std::vector<json::object> records() const {
    std::vector<json::object> out;
    std::ifstream in(record_file);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(json::parse(line).as_object());
    return out;
  }
  void clear_records() const { std::filesystem::remove(record_file); }
  // The "tag" each recorded run's stdin carried, in run order.
  std::vector<std::string> tags() const {
    std::vector<std::string> out;
    for (const auto& r : records()) out.emplace_back(r.at("stdin").at("tag").as_string());
    return out;
  }
};

std::string env_of(const json::object& record, const char* name) {
  return std::string(record.at("env").at(name).as_string());
}

}  // namespace

// SPEC "Deleting an attachment" step 4: halt at the first error and return
// it; the cache entry stays for a retry.
TEST(CniSpec, DelHaltsAtTheFirstPluginErrorAndKeepsTheCacheEntry) {
  Fixture f;
  const auto list = f.list(R"([{"tag":"a"},{"tag":"b","sncni.failOn":"DEL"},{"tag":"c"}])");
  const RuntimeConf rt = f.conf();
  f.runtime.add_sync(list, rt);
  f.clear_records();
  try {
    f.runtime.del_sync(list, rt);
    ADD_FAILURE() << "DEL must fail at b";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::plugin_failed)) << e.what();
    ASSERT_TRUE(e.cni());
    EXPECT_EQ(e.cni()->code, 11u);
  }
  EXPECT_EQ(f.tags(), (std::vector<std::string>{"c", "b"})) << "a must not run after b failed";
  EXPECT_TRUE(f.runtime.cached_result(list, rt)) << "the cache entry stays for a retry";

  // The retry with b fixed finishes the job and removes the entry.
  f.clear_records();
  const auto fixed = f.list(R"([{"tag":"a"},{"tag":"b"},{"tag":"c"}])");
  f.runtime.del_sync(fixed, rt);
  EXPECT_EQ(f.tags(), (std::vector<std::string>{"c", "b", "a"}));
  EXPECT_FALSE(f.runtime.cached_result(fixed, rt));
}

TEST(CniSpec, DelWithAMissingPluginIsAnErrorAndRunsNothingBeforeIt) {
  Fixture f;
  const auto list = f.list(R"([{"tag":"a"},{"tag":"b"}])");
  const RuntimeConf rt = f.conf();
  f.runtime.add_sync(list, rt);
  f.clear_records();
  const auto missing = f.list(R"([{"tag":"a"},{"type":"sncni-nosuch"}])");
  try {
    f.runtime.del_sync(missing, rt);
    ADD_FAILURE() << "a missing plugin must fail DEL";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::not_found)) << e.what();
    EXPECT_NE(std::string(e.what()).find("sncni-nosuch"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(f.records().empty()) << "DEL halts before a";
  EXPECT_TRUE(f.runtime.cached_result(list, rt));
  f.runtime.del_sync(list, rt);
}

// CNI_NETNS is the caller's path whenever it refers to a network namespace:
// a /proc/<pid>/ns/net (a magic symlink) and a symlink to one included.
// Empty only when the namespace is gone.
TEST(CniSpec, DelGetsTheCallersNetnsPathWhileItIsANamespace) {
  Fixture f;
  const auto list = f.list(R"([{"tag":"a"}])");
  const std::string proc = "/proc/" + std::to_string(::getpid()) + "/ns/net";
  const std::string link = f.dir.path() + "/netns-link";
  std::filesystem::create_symlink(proc, link);
  const std::string not_netns = f.dir.path() + "/plain-file";
  std::ofstream(not_netns).close();
  for (const std::string& given : {proc, link, std::string("/proc/self/ns/net")}) {
    f.clear_records();
    f.runtime.add_sync(list, f.conf(given));
    f.runtime.del_sync(list, f.conf(given));
    auto recs = f.records();
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(env_of(recs[0], "CNI_NETNS"), given) << "ADD";
    EXPECT_EQ(env_of(recs[1], "CNI_NETNS"), given) << "DEL";
  }
  for (const std::string& gone : {f.dir.path() + "/nosuch", not_netns, std::string("/proc/self/ns/uts")}) {
    f.clear_records();
    f.runtime.add_sync(list, f.conf(gone));
    f.runtime.del_sync(list, f.conf(gone));
    auto recs = f.records();
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(env_of(recs[1], "CNI_NETNS"), "") << gone << " is no network namespace";
  }
}

// SPEC "Deriving request configuration": "capabilities" must not be set,
// and the first plugin of an ADD gets no prevResult, even from the file.
TEST(CniSpec, StdinHasNoCapabilitiesAndTheFirstAddHasNoPrevResult) {
  Fixture f;
  const auto list = f.list(R"([
      {"tag":"a","capabilities":{"portMappings":true},"prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.9.9.9/24"}]}},
      {"tag":"b","capabilities":{"portMappings":true,"bandwidth":false}}])");
  RuntimeConf rt = f.conf();
  rt.capability_args = json::parse(R"({"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}],"bandwidth":{}})").as_object();
  const json::object result = f.runtime.add_sync(list, rt);
  EXPECT_FALSE(result.contains("ips")) << "the file's prevResult leaked into the chain: " << json::serialize(result);
  f.runtime.check_sync(list, rt);
  f.runtime.del_sync(list, rt);
  const auto recs = f.records();
  ASSERT_EQ(recs.size(), 6u);  // ADD a b, CHECK a b, DEL b a
  for (std::size_t i = 0; i < recs.size(); ++i) {
    const json::object& in = recs[i].at("stdin").as_object();
    EXPECT_FALSE(in.contains("capabilities")) << i << ": " << json::serialize(in);
    EXPECT_EQ(json::serialize(in.at("runtimeConfig")),
              R"({"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]})")
        << i;
  }
  EXPECT_FALSE(recs[0].at("stdin").as_object().contains("prevResult")) << "first ADD";
  EXPECT_TRUE(recs[1].at("stdin").as_object().contains("prevResult")) << "second ADD";
  EXPECT_TRUE(recs[5].at("stdin").as_object().contains("prevResult")) << "DEL of a";
}

// A malformed result is the plugin's failure: never cached or passed on.
class CniSpecBadResult : public ::testing::TestWithParam<const char*> {};

TEST_P(CniSpecBadResult, IsAPluginErrorAndNotCached) {
  Fixture f;
  json::object plugin{{"tag", "bad"}, {"sncni.result", json::parse(GetParam())}};
  json::array plugins{plugin, json::object{{"tag", "next"}}};
  const auto list = f.list(json::serialize(plugins));
  const RuntimeConf rt = f.conf();
  try {
    f.runtime.add_sync(list, rt);
    ADD_FAILURE() << "accepted " << GetParam();
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::plugin_failed)) << e.what();
    EXPECT_NE(std::string(e.what()).find("invalid result"), std::string::npos) << e.what();
  }
  EXPECT_EQ(f.tags(), std::vector<std::string>{"bad"}) << "the bad result was passed on";
  EXPECT_FALSE(f.runtime.cached_result(list, rt));
  EXPECT_FALSE(std::filesystem::exists(f.dir.path() + "/cache/results"))
      << "nothing may be cached";
}

INSTANTIATE_TEST_SUITE_P(
    Spec, CniSpecBadResult,
    ::testing::Values(
        R"({"cniVersion":"1.0.0","ips":[{"address":"10.1.2.3"}]})",                   // no prefix
        R"({"cniVersion":"1.0.0","ips":[{"address":"10.1.2.300/24"}]})",              // bad octet
        R"({"cniVersion":"1.0.0","ips":[{"address":"10.1.2.3/33"}]})",                // prefix too long
        R"({"cniVersion":"1.0.0","ips":[{"address":"fd00::5/129"}]})",
        R"({"cniVersion":"1.0.0","ips":[{"address":"10.1.2.3/24","gateway":"10.1.2"}]})",
        R"({"cniVersion":"1.0.0","ips":[{"address":"10.1.2.3/24","gateway":7}]})",
        R"({"cniVersion":"1.0.0","routes":[{"dst":"0.0.0.0"}]})",                       // dst not CIDR
        R"({"cniVersion":"1.0.0","routes":[{"dst":"0.0.0.0/0","gw":"nope"}]})",
        R"({"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.1.2.3/24","interface":1}]})",
        R"({"cniVersion":"1.0.0","ips":[{"address":"10.1.2.3/24","interface":0}]})",  // no interfaces
        R"({"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.1.2.3/24","interface":-1}]})",
        R"({"cniVersion":"0.4.0","ips":[{"version":"5","address":"10.1.2.3/24"}]})",
        R"({"cniVersion":"0.2.0","ip4":{"ip":"10.1.2.3"}})",
        R"({"cniVersion":"0.2.0","ip4":{"ip":"10.1.2.3/24","routes":[{"dst":"default"}]}})"));

TEST(CniSpec, AWellFormedResultWithEveryFieldIsAccepted) {
  Fixture f;
  const char* good = R"({"cniVersion":"1.0.0",
      "interfaces":[{"name":"br0","mac":"aa:bb:cc:dd:ee:01"},{"name":"eth0","sandbox":"/x"}],
      "ips":[{"address":"10.1.2.3/24","gateway":"10.1.2.1","interface":1},{"address":"fd00::3/64","interface":1}],
      "routes":[{"dst":"0.0.0.0/0","gw":"10.1.2.1"},{"dst":"::/0"}],"dns":{"nameservers":["10.1.2.1"]}})";
  json::object plugin{{"tag", "good"}, {"sncni.result", json::parse(good)}};
  const auto list = f.list(json::serialize(json::array{plugin}));
  const RuntimeConf rt = f.conf();
  const json::object result = f.runtime.add_sync(list, rt);
  EXPECT_EQ(result.at("ips").as_array().size(), 2u);
  EXPECT_TRUE(f.runtime.cached_result(list, rt));
  f.runtime.del_sync(list, rt);
}
