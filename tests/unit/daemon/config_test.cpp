#include "sandnet/daemon/config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <string>

#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"
#include "support/process.hpp"

namespace sandnet::daemon {
namespace {
namespace json = boost::json;

// The message of the Error that parsing text throws (fails the test if none).
std::string parse_error(std::string_view text) {
  try {
    parse_config(text, "test.json");
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "parse_config accepted: " << text;
  return {};
}

TEST(Config, EmptyDocumentGivesDefaults) {
  Config c = parse_config("{}", "test.json");
  EXPECT_EQ(c.socket, "/run/sandnet/sandnetd.sock");
  EXPECT_EQ(c.socket_group, "");
  EXPECT_FALSE(c.socket_gid);
  EXPECT_EQ(c.socket_mode, 0660U);
  EXPECT_EQ(c.netns_dir, "/run/netns");
  EXPECT_EQ(c.state_dir, "/var/lib/sandnet");
  EXPECT_EQ(c.cni.conf_dir, "/etc/cni/net.d");
  ASSERT_EQ(c.cni.bin_dirs.size(), 2U);
  EXPECT_EQ(c.cni.bin_dirs[0], "/opt/cni/bin");
  EXPECT_EQ(c.cni.bin_dirs[1], "/usr/lib/cni");
  EXPECT_EQ(c.cni.cache_dir, "/var/lib/cni");
  EXPECT_EQ(c.cni.plugin_timeout.count(), 60);
  EXPECT_TRUE(c.cni.default_networks.empty());
  EXPECT_TRUE(c.cni.native_loopback);
  EXPECT_TRUE(c.id_mappings.uids.empty());
  EXPECT_TRUE(c.policy.empty());
  EXPECT_TRUE(c.auto_teardown);
  EXPECT_EQ(c.max_concurrent_setups, 8U);
  EXPECT_EQ(c.source, "test.json");
}

TEST(Config, EveryKeyIsRead) {
  Config c = parse_config(R"({
    "socket": "/tmp/x/s.sock", "socketGroup": "root", "socketMode": "0600",
    "netnsDir": "/tmp/x/netns", "stateDir": "/tmp/x/state",
    "cni": {"confDir": "/tmp/x/conf", "binDirs": ["/tmp/x/bin"], "cacheDir": "/tmp/x/cache",
            "pluginTimeoutSeconds": 5, "defaultNetworks": ["a", "b"], "nativeLoopback": false},
    "idMappings": {"uids": [{"hostID": 100000, "size": 65536}], "gids": [{"hostID": 200000, "size": 10}]},
    "policy": [{"uid": 1501, "networks": ["a"], "maxSandboxes": 3, "hostPorts": ["30000-32767", "8080", 9090],
                "capabilities": ["portMappings"]}],
    "autoTeardown": false, "maxConcurrentSetups": 2, "maxConnections": 10, "maxRequestBytes": 65536,
    "idleTimeoutSeconds": 7, "maxConnectionsPerUid": 6, "maxConnectionsPerUidWithoutRule": 0,
    "rootReservedConnections": 3, "writeTimeoutSeconds": 4
  })",
                          "test.json");
  EXPECT_EQ(c.socket, "/tmp/x/s.sock");
  EXPECT_EQ(c.socket_group, "root");
  ASSERT_TRUE(c.socket_gid);
  EXPECT_EQ(*c.socket_gid, 0U);
  EXPECT_EQ(c.socket_mode, 0600U);
  EXPECT_EQ(c.netns_dir, "/tmp/x/netns");
  EXPECT_EQ(c.state_dir, "/tmp/x/state");
  EXPECT_EQ(c.cni.conf_dir, "/tmp/x/conf");
  ASSERT_EQ(c.cni.bin_dirs.size(), 1U);
  EXPECT_EQ(c.cni.bin_dirs[0], "/tmp/x/bin");
  EXPECT_EQ(c.cni.cache_dir, "/tmp/x/cache");
  EXPECT_EQ(c.cni.plugin_timeout.count(), 5);
  EXPECT_EQ(c.cni.default_networks, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(c.cni.native_loopback);
  ASSERT_EQ(c.id_mappings.uids.size(), 1U);
  EXPECT_EQ(c.id_mappings.uids[0].host_id, 100000U);
  EXPECT_EQ(c.id_mappings.uids[0].size, 65536U);
  ASSERT_EQ(c.id_mappings.gids.size(), 1U);
  EXPECT_EQ(c.id_mappings.gids[0].host_id, 200000U);
  ASSERT_EQ(c.policy.size(), 1U);
  const PolicyRule& rule = c.policy[0];
  EXPECT_EQ(rule.subject, PolicyRule::Subject::uid);
  EXPECT_EQ(rule.id, 1501U);
  EXPECT_EQ(rule.description, "uid 1501");
  EXPECT_EQ(rule.max_sandboxes, std::optional<std::size_t>(3));
  ASSERT_EQ(rule.host_ports.size(), 3U);
  EXPECT_EQ(rule.host_ports[0].first, 30000);
  EXPECT_EQ(rule.host_ports[0].last, 32767);
  EXPECT_EQ(rule.host_ports[1].first, 8080);
  EXPECT_EQ(rule.host_ports[1].last, 8080);
  EXPECT_EQ(rule.host_ports[2].first, 9090);
  EXPECT_TRUE(rule.allows_host_port(31000));
  EXPECT_TRUE(rule.allows_host_port(8080));
  EXPECT_FALSE(rule.allows_host_port(8081));
  EXPECT_TRUE(rule.allows_network("a"));
  EXPECT_FALSE(rule.allows_network("b"));
  EXPECT_TRUE(rule.allows_capability("portMappings"));
  EXPECT_FALSE(rule.allows_capability("bandwidth"));
  EXPECT_FALSE(c.auto_teardown);
  EXPECT_EQ(c.max_concurrent_setups, 2U);
  EXPECT_EQ(c.max_connections, 10U);
  EXPECT_EQ(c.max_request_bytes, 65536U);
  EXPECT_EQ(c.idle_timeout.count(), 7);
  EXPECT_EQ(c.max_connections_per_uid, 6U);
  EXPECT_EQ(c.max_connections_per_uid_without_rule, 0U);
  EXPECT_EQ(c.root_reserved_connections, 3U);
  EXPECT_EQ(c.write_timeout.count(), 4);
}

TEST(Config, UnknownKeysAreNamedWithTheirPath) {
  EXPECT_NE(parse_error(R"({"sockett": "/x"})").find("test.json: sockett: unknown key"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"cni": {"pluginTimout": 3}})").find("cni.pluginTimout: unknown key"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"idMappings": {"uid": []}})").find("idMappings.uid: unknown key"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"policy": [{"uid": 1, "network": []}]})")
                .find("policy[0].network: unknown key"),
            std::string::npos);
}

TEST(Config, WrongTypesNameTheKey) {
  EXPECT_NE(parse_error(R"({"autoTeardown": "yes"})").find("autoTeardown: must be true or false"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"cni": {"pluginTimeoutSeconds": "60"}})")
                .find("cni.pluginTimeoutSeconds: must be an integer"),
            std::string::npos);
  EXPECT_NE(
      parse_error(R"({"cni": {"binDirs": "/usr/lib/cni"}})").find("cni.binDirs: must be an array"),
      std::string::npos);
  EXPECT_NE(
      parse_error(R"({"cni": {"binDirs": ["/a", 3]}})").find("cni.binDirs[1]: must be a string"),
      std::string::npos);
  EXPECT_NE(parse_error(R"({"cni": []})").find("cni: must be an object"), std::string::npos);
  EXPECT_NE(parse_error(R"({"policy": {}})").find("policy: must be an array"), std::string::npos);
  EXPECT_NE(parse_error(R"({"idMappings": {"uids": [{"hostID": 1}]}})").find("idMappings.uids[0]"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"idMappings": {"gids": [{"hostID": 1, "size": 0}]}})")
                .find("idMappings.gids[0]"),
            std::string::npos);
  EXPECT_NE(parse_error("[]").find("test.json: must be an object"), std::string::npos);
}

TEST(Config, BadValuesAreRefused) {
  EXPECT_NE(parse_error(R"({"socket": "relative.sock"})").find("socket: must be an absolute path"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"cni": {"binDirs": []}})").find("cni.binDirs: must name at least one"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"cni": {"pluginTimeoutSeconds": 0}})")
                .find("cni.pluginTimeoutSeconds: must be between"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"maxConcurrentSetups": 0})").find("maxConcurrentSetups"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"maxRequestBytes": 100})").find("maxRequestBytes"), std::string::npos);
  EXPECT_NE(parse_error(R"({"maxConnectionsPerUid": 0})").find("maxConnectionsPerUid: must be between"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"writeTimeoutSeconds": 0})").find("writeTimeoutSeconds: must be between"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"maxRequestBytes": 100000000})").find("maxRequestBytes"),
            std::string::npos);
  EXPECT_NE(
      parse_error(R"({"cni": {"defaultNetworks": ["../etc"]}})").find("cni.defaultNetworks[0]"),
      std::string::npos);
  EXPECT_NE(parse_error(R"({"socketGroup": "no-such-group-sandnet-d1"})").find("unknown group"),
            std::string::npos);
}

TEST(Config, SocketModeAcceptsOctalStringOrNumber) {
  EXPECT_EQ(parse_config(R"({"socketMode": "0660"})", "t").socket_mode, 0660U);
  EXPECT_EQ(parse_config(R"({"socketMode": "600"})", "t").socket_mode, 0600U);
  EXPECT_EQ(parse_config(R"({"socketMode": 432})", "t").socket_mode, 0660U);
  // 660 written as a decimal number is the classic mistake: refused, with a hint.
  EXPECT_NE(parse_error(R"({"socketMode": 660})").find("octal string"), std::string::npos);
  EXPECT_NE(parse_error(R"({"socketMode": "0689"})").find("socketMode"), std::string::npos);
  EXPECT_NE(parse_error(R"({"socketMode": "4755"})").find("at most 0777"), std::string::npos);
  EXPECT_NE(parse_error(R"({"socketMode": true})").find("socketMode"), std::string::npos);
}

TEST(Config, PolicySubjects) {
  Config c =
      parse_config(R"({"policy": [{"user": "root"}, {"group": "root"}, {"gid": 990}]})", "t");
  ASSERT_EQ(c.policy.size(), 3U);
  EXPECT_EQ(c.policy[0].subject, PolicyRule::Subject::uid);
  EXPECT_EQ(c.policy[0].id, 0U);
  EXPECT_EQ(c.policy[0].description, "user root (uid 0)");
  EXPECT_EQ(c.policy[1].subject, PolicyRule::Subject::gid);
  EXPECT_EQ(c.policy[1].description, "group root (gid 0)");
  EXPECT_EQ(c.policy[2].subject, PolicyRule::Subject::gid);
  EXPECT_EQ(c.policy[2].id, 990U);
  // A rule without networks or capabilities grants none.
  EXPECT_FALSE(c.policy[2].allows_network("sandnet"));
  EXPECT_FALSE(c.policy[2].allows_capability("portMappings"));

  EXPECT_NE(parse_error(R"({"policy": [{"user": "no-such-user-sandnet-d1"}]})")
                .find("policy[0].user: unknown user"),
            std::string::npos);
  EXPECT_NE(
      parse_error(R"({"policy": [{"networks": ["*"]}]})").find("policy[0]: must name exactly one"),
      std::string::npos);
  EXPECT_NE(parse_error(R"({"policy": [{"uid": 1, "gid": 1}]})").find("must name exactly one"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"policy": [{"uid": -1}]})").find("policy[0].uid"), std::string::npos);
  EXPECT_NE(
      parse_error(R"({"policy": [{"uid": 1, "networks": ["a/b"]}]})").find("policy[0].networks[0]"),
      std::string::npos);
  EXPECT_NE(
      parse_error(R"({"policy": [{"uid": 1, "maxSandboxes": -1}]})").find("policy[0].maxSandboxes"),
      std::string::npos);
}

TEST(Config, HostPortRanges) {
  EXPECT_NE(
      parse_error(R"({"policy": [{"uid": 1, "hostPorts": ["0"]}]})").find("policy[0].hostPorts[0]"),
      std::string::npos);
  EXPECT_NE(parse_error(R"({"policy": [{"uid": 1, "hostPorts": ["65536"]}]})").find("hostPorts[0]"),
            std::string::npos);
  EXPECT_NE(
      parse_error(R"({"policy": [{"uid": 1, "hostPorts": ["9000-8000"]}]})").find("backwards"),
      std::string::npos);
  EXPECT_NE(parse_error(R"({"policy": [{"uid": 1, "hostPorts": ["80-"]}]})").find("hostPorts[0]"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"policy": [{"uid": 1, "hostPorts": ["8o"]}]})").find("hostPorts[0]"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"policy": [{"uid": 1, "hostPorts": [true]}]})").find("hostPorts[0]"),
            std::string::npos);
}

TEST(Config, SyntaxErrorsNameLineAndColumn) {
  std::string msg = parse_error("{\n  \"socket\": \"/x\",\n  oops\n}");
  EXPECT_NE(msg.find("test.json: not valid JSON (line 3"), std::string::npos) << msg;
  EXPECT_NE(parse_error("").find("not valid JSON"), std::string::npos);
  EXPECT_NE(parse_error("{} {}").find("not valid JSON"), std::string::npos);
}

TEST(Config, ToJsonRoundTrips) {
  Config c = parse_config(R"({
    "socketMode": "0640", "socketGroup": "root",
    "cni": {"defaultNetworks": ["x"], "pluginTimeoutSeconds": 9},
    "idMappings": {"uids": [{"hostID": 100000, "size": 65536}]},
    "policy": [{"user": "root", "networks": ["*"], "hostPorts": ["1-2", "5"], "capabilities": ["*"]},
               {"gid": 7, "maxSandboxes": 0}]
  })",
                          "t");
  json::object first = to_json(c);
  EXPECT_EQ(first.at("socketMode"), "0640");
  Config again = parse_config(json::serialize(first), "t2");
  EXPECT_EQ(to_json(again), first);
  // The default config round trips too, and names every key.
  json::object defaults = to_json(Config{});
  EXPECT_EQ(to_json(parse_config(json::serialize(defaults), "d")), defaults);
  EXPECT_EQ(defaults.size(), 20U);  // every top-level key
}

TEST(Config, LoadFile) {
  test::TempDir dir;
  auto path = std::filesystem::path(dir.path()) / "sandnetd.json";

  // Missing: defaults when allowed, an error naming the file otherwise.
  EXPECT_EQ(load_config(path, true).source, "built-in defaults");
  try {
    load_config(path, false);
    ADD_FAILURE() << "missing file accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }

  fs::write_file_atomic(path, R"({"stateDir": "/tmp/sandnet-d1-state"})", 0644);
  Config c = load_config(path, true);
  EXPECT_EQ(c.state_dir, "/tmp/sandnet-d1-state");
  EXPECT_EQ(c.source, path.string());

  fs::write_file_atomic(path, R"({"stateDir": 3})", 0644);
  try {
    load_config(path, true);
    ADD_FAILURE() << "bad file accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ": stateDir: must be a string"),
              std::string::npos)
        << e.what();
  }
}

TEST(Config, EmbeddedDefaultNetwork) {
  json::value net = json::parse(embedded_default_network());
  const auto& o = net.as_object();
  EXPECT_EQ(o.at("name"), kEmbeddedNetworkName);
  EXPECT_EQ(o.at("cniVersion"), "1.0.0");
  const auto& plugins = o.at("plugins").as_array();
  ASSERT_EQ(plugins.size(), 2U);
  const auto& bridge = plugins[0].as_object();
  EXPECT_EQ(bridge.at("type"), "bridge");
  EXPECT_EQ(bridge.at("bridge"), "sandnet0");
  EXPECT_EQ(bridge.at("isGateway"), true);
  EXPECT_EQ(bridge.at("ipMasq"), true);
  EXPECT_EQ(bridge.at("hairpinMode"), true);
  const auto& ipam = bridge.at("ipam").as_object();
  EXPECT_EQ(ipam.at("type"), "host-local");
  EXPECT_EQ(ipam.at("ranges").as_array()[0].as_array()[0].as_object().at("subnet"), "10.89.0.0/16");
  EXPECT_EQ(ipam.at("routes").as_array()[0].as_object().at("dst"), "0.0.0.0/0");
  const auto& portmap = plugins[1].as_object();
  EXPECT_EQ(portmap.at("type"), "portmap");
  EXPECT_EQ(portmap.at("capabilities").as_object().at("portMappings"), true);
  EXPECT_EQ(portmap.at("snat"), true);
}

}  // namespace
}  // namespace sandnet::daemon

namespace sandnet::daemon {
namespace {

TEST(Config, MaintenanceKeys) {
  Config defaults = parse_config("{}", "t");
  EXPECT_EQ(defaults.maintenance.retry_initial.count(), 5);
  EXPECT_EQ(defaults.maintenance.retry_max.count(), 300);
  EXPECT_EQ(defaults.maintenance.gc_interval.count(), 3600);
  Config c = parse_config(R"({"maintenance": {"retrySeconds": 2, "retryMaxSeconds": 60, "gcIntervalSeconds": 0}})", "t");
  EXPECT_EQ(c.maintenance.retry_initial.count(), 2);
  EXPECT_EQ(c.maintenance.retry_max.count(), 60);
  EXPECT_EQ(c.maintenance.gc_interval.count(), 0);
  EXPECT_EQ(to_json(parse_config(json::serialize(to_json(c)), "t2")), to_json(c));
  EXPECT_THROW(parse_config(R"({"maintenance": {"retrySeconds": 10, "retryMaxSeconds": 5}})", "t"), Error);
  EXPECT_THROW(parse_config(R"({"maintenance": {"retrySeconds": 0}})", "t"), Error);
  EXPECT_THROW(parse_config(R"({"maintenance": {"gcInterval": 5}})", "t"), Error);
}

}  // namespace
}  // namespace sandnet::daemon
