// sandnetctl: argument parsing, rendering, and whole commands against a fake daemon.
#include <gtest/gtest.h>

#include <sstream>

#include "ctl/ctl.hpp"
#include "ctl/render.hpp"
#include "fake_server.hpp"

namespace sandnet::test {
namespace {
namespace json = boost::json;
using namespace sandnet::ctl;

template <class F>
std::string usage_error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

TEST(CtlPorts, ParsesAllForms) {
  auto a = parse_port_spec("8080:80");
  EXPECT_EQ(a.host_port, 8080);
  EXPECT_EQ(a.container_port, 80);
  EXPECT_EQ(a.protocol, "tcp");
  EXPECT_EQ(a.host_ip, "");
  auto b = parse_port_spec("127.0.0.1:30053:53/udp");
  EXPECT_EQ(b.host_ip, "127.0.0.1");
  EXPECT_EQ(b.protocol, "udp");
  auto c = parse_port_spec("[::1]:8080:80/udp");
  EXPECT_EQ(c.host_ip, "::1");
  EXPECT_EQ(c.host_port, 8080);
  EXPECT_EQ(c.container_port, 80);
  EXPECT_EQ(c.protocol, "udp");
  auto d = parse_port_spec("[fd00::1:2]:1:65535");
  EXPECT_EQ(d.host_ip, "fd00::1:2");
  EXPECT_EQ(d.container_port, 65535);
}

TEST(CtlPorts, RefusesBadSpecsNamingTheProblem) {
  EXPECT_NE(usage_error_of([] { parse_port_spec("0:80"); }).find("host port"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_port_spec("65536:80"); }).find("host port"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_port_spec("80:x"); }).find("container port"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_port_spec("80:-1"); }).find("container port"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_port_spec("80:80/sctp"); }).find("tcp or udp"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_port_spec("80"); }).find("HOSTPORT:CONTAINERPORT"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_port_spec("1.2.3:80:80"); }).find("not an IPv4"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_port_spec("::1:80:80"); }).find("HOSTPORT:CONTAINERPORT"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_port_spec("[::1:80:80"); }).find("[ADDR]"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_port_spec("[1.2.3.4]:80:80"); }).find("not an IPv6"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_port_spec("[::1]:80:80:90"); }).find("HOSTPORT"), std::string::npos);
}

TEST(CtlArgs, KeyValue) {
  auto kv = parse_key_value("K8S_POD_NAME=web=1", "--arg");
  EXPECT_EQ(kv.first, "K8S_POD_NAME");
  EXPECT_EQ(kv.second, "web=1");
  EXPECT_EQ(parse_key_value("empty=", "--label").second, "");
  EXPECT_NE(usage_error_of([] { parse_key_value("=v", "--arg"); }).find("KEY=VALUE"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_key_value("novalue", "--label"); }).find("--label"), std::string::npos);
}

TEST(CtlCommandLine, FullSetup) {
  auto inv = parse_command_line({"--socket", "/tmp/s.sock", "setup", "pod1", "--pid", "1234", "--network", "net1",
                                 "--network=net2", "--ifname", "eth5", "--port", "[::1]:8080:80/udp", "--port",
                                 "9090:90", "--arg", "K8S_POD_NAME=web", "--label", "app=web", "--json"});
  EXPECT_EQ(inv.command, Command::setup);
  EXPECT_EQ(inv.socket_path, "/tmp/s.sock");
  EXPECT_TRUE(inv.json);
  EXPECT_EQ(inv.setup.id, "pod1");
  EXPECT_EQ(inv.setup.ref, protocol::SandboxRef::pid);
  EXPECT_EQ(inv.setup.pid, 1234);
  ASSERT_EQ(inv.setup.networks.size(), 2u);
  EXPECT_EQ(inv.setup.networks[1].name, "net2");
  EXPECT_EQ(inv.setup.ifname, "eth5");
  ASSERT_EQ(inv.setup.args.size(), 1u);
  EXPECT_EQ(inv.setup.args[0].second, "web");
  EXPECT_EQ(inv.setup.labels.at("app"), "web");
  EXPECT_EQ(json::serialize(capabilities::to_json(inv.setup.capabilities).at("portMappings")),
            R"([{"hostPort":8080,"containerPort":80,"protocol":"udp","hostIP":"::1"},)"
            R"({"hostPort":9090,"containerPort":90,"protocol":"tcp"}])");
  auto fd = parse_command_line({"setup", "pod2", "--pid", "99", "--pidfd"});
  EXPECT_EQ(fd.setup.ref, protocol::SandboxRef::pidfd);
  auto ns = parse_command_line({"setup", "pod3", "--netns", "/run/netns/x"});
  EXPECT_EQ(ns.setup.ref, protocol::SandboxRef::netns);
  EXPECT_EQ(ns.netns_path, "/run/netns/x");
}

TEST(CtlCommandLine, CreateSetup) {
  auto inv = parse_command_line({"setup", "pod4", "--create", "--uidmap", "0:100000:65536", "--gidmap", "0:100000:1000",
                                 "--gidmap=1000:5000:1"});
  EXPECT_EQ(inv.setup.ref, protocol::SandboxRef::create);
  EXPECT_EQ(inv.setup.create.uid_mappings, (std::vector<protocol::IdMapping>{{0, 100000, 65536}}));
  EXPECT_EQ(inv.setup.create.gid_mappings, (std::vector<protocol::IdMapping>{{0, 100000, 1000}, {1000, 5000, 1}}));
  EXPECT_NE(usage_error_of([] { parse_command_line({"setup", "p", "--create", "--uidmap", "0:1:1"}); }).find("--gidmap"),
            std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_command_line({"setup", "p", "--pid", "1", "--uidmap", "0:1:1"}); })
                .find("go with --create"),
            std::string::npos);
  EXPECT_NE(usage_error_of([] {
              parse_command_line({"setup", "p", "--create", "--pid", "1", "--uidmap", "0:1:1", "--gidmap", "0:1:1"});
            }).find("no --pid"),
            std::string::npos);
  for (const char* bad : {"0:1", "0:1:0", "a:1:1", "0:1:1:1", "1:4294967295:2", ""})
    EXPECT_NE(usage_error_of([bad] { parse_command_line({"setup", "p", "--create", "--uidmap", bad, "--gidmap", "0:1:1"}); })
                  .find("--uidmap"),
              std::string::npos)
        << bad;
}

TEST(CtlCommandLine, Explain) {
  auto existing = parse_command_line({"explain", "pod1"});
  EXPECT_EQ(existing.command, Command::explain);
  EXPECT_FALSE(existing.explain_setup);
  EXPECT_EQ(existing.id, "pod1");
  auto dry = parse_command_line({"explain", "--pid", "42", "--network", "net1", "--port", "8080:80"});
  EXPECT_TRUE(dry.explain_setup);
  EXPECT_TRUE(dry.id.empty());
  EXPECT_EQ(dry.setup.pid, 42);
  EXPECT_EQ(dry.setup.networks.at(0).name, "net1");
  auto named = parse_command_line({"explain", "pod2", "--create", "--uidmap", "0:1:1", "--gidmap", "0:1:1"});
  EXPECT_TRUE(named.explain_setup);
  EXPECT_EQ(named.setup.id, "pod2");
  EXPECT_EQ(named.setup.ref, protocol::SandboxRef::create);
  EXPECT_NE(usage_error_of([] { parse_command_line({"explain"}); }).find("one sandbox ID"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_command_line({"explain", "p", "--network", "n"}); }).find("need --pid"),
            std::string::npos);
}

TEST(CtlRender, Explanation) {
  auto setup = json::parse(R"({"steps":[{"check":"netns","ok":true,"detail":"net:[1]"},)"
                           R"({"check":"policy","ok":false,"detail":"no policy rule"}],)"
                           R"("verdict":"refused","reason":"no policy rule","code":-32001})")
                   .as_object();
  std::string text = render_explanation(setup);
  EXPECT_NE(text.find("policy  NO  no policy rule"), std::string::npos) << text;
  EXPECT_NE(text.find("Verdict: refused: no policy rule"), std::string::npos) << text;
  auto sandbox = json::parse(R"({"id":"p","state":"ready","pin":{"path":"/run/netns/sandnet-p","live":false,)"
                             R"("holdsRecordedNetns":false},"process":{"pid":7,"inRecordedNetns":false,"watched":false},)"
                             R"("attachments":[{"network":"n","ifname":"eth0","phase":"added","cniCacheEntry":true}],)"
                             R"("verdict":"needs attention","problems":["the pin is gone"]})")
                     .as_object();
  text = render_explanation(sandbox);
  EXPECT_NE(text.find("/run/netns/sandnet-p (gone)"), std::string::npos) << text;
  EXPECT_NE(text.find("pid 7 (GONE)"), std::string::npos) << text;
  EXPECT_NE(text.find("  - the pin is gone"), std::string::npos) << text;
}

TEST(CtlCommandLine, OtherCommands) {
  EXPECT_EQ(parse_command_line({"list"}).command, Command::list);
  EXPECT_EQ(parse_command_line({"get", "pod1"}).id, "pod1");
  EXPECT_EQ(parse_command_line({"--help"}).command, Command::help);
  EXPECT_EQ(parse_command_line({"help"}).command, Command::help);
  EXPECT_EQ(parse_command_line({"--version"}).command, Command::version);
  auto cni = parse_command_line({"cni", "add", "net1", "/run/netns/x", "--json"});
  EXPECT_EQ(cni.command, Command::cni);
  EXPECT_EQ(cni.cni_args, (std::vector<std::string>{"add", "net1", "/run/netns/x", "--json"}));
}

TEST(CtlCommandLine, BadUsage) {
  EXPECT_NE(usage_error_of([] { parse_command_line({}); }).find("no command"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_command_line({"frobnicate"}); }).find("unknown command"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_command_line({"get"}); }).find("one sandbox ID"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_command_line({"list", "extra"}); }).find("\"extra\""), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_command_line({"get", "../etc"}); }).find("../etc"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_command_line({"setup", "pod1"}); }).find("--pid"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_command_line({"setup", "pod1", "--pid", "0"}); }).find("--pid"), std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_command_line({"setup", "pod1", "--pid"}); }).find("needs a value"),
            std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_command_line({"setup", "p", "--pid", "1", "--netns", "/x"}); }).find("not both"),
            std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_command_line({"setup", "p", "--pid", "1", "--ifname", "a/b"}); }).size(), 0u);
  EXPECT_NE(usage_error_of([] { parse_command_line({"setup", "p", "--pid", "1", "--bogus"}); }).find("--bogus"),
            std::string::npos);
  EXPECT_NE(usage_error_of([] { parse_command_line({"setup", "p", "--pid", "1", "--arg", "K=a;b"}); }).size(), 0u);
  EXPECT_NE(usage_error_of([] { parse_command_line({"list", "--pid", "1"}); }).find("--pid"), std::string::npos);
}

TEST(CtlRender, Table) {
  EXPECT_EQ(render_table({"A", "LONGER"}, {{"xyz", "1"}, {"q", ""}}), "A    LONGER\nxyz  1\nq\n");
}

TEST(CtlRender, SandboxInfo) {
  auto s = json::value_to<protocol::SandboxInfo>(json::parse(R"({"id":"pod1","netns":"/run/netns/sandnet-pod1",
      "ownerUID":1501,"ownerGID":1502,"state":"ready","pid":4242,"createdUnix":1700000000,"labels":{"app":"web"},
      "attachments":[
        {"network":"sandnet","ifname":"eth0","result":{"cniVersion":"1.0.0","ips":[{"address":"10.88.0.5/16"},{"address":"fd00::5/64"}]}},
        {"network":"legacy","ifname":"eth1","result":{"cniVersion":"0.2.0","ip4":{"ip":"10.99.0.2/24"}}}]})"));
  EXPECT_EQ(render_sandbox(s),
            "ID:       pod1\n"
            "State:    ready\n"
            "Netns:    /run/netns/sandnet-pod1\n"
            "PID:      4242\n"
            "Owner:    1501:1502\n"
            "Created:  2023-11-14T22:13:20Z\n"
            "Labels:   app=web\n"
            "\n"
            "NETWORK  IFNAME  ADDRESSES\n"
            "sandnet  eth0    10.88.0.5/16,fd00::5/64\n"
            "legacy   eth1    10.99.0.2/24\n");
  EXPECT_EQ(render_sandbox_list({s}),
            "ID    STATE  PID   OWNER  NETWORKS        ADDRESSES                             NETNS\n"
            "pod1  ready  4242  1501   sandnet,legacy  10.88.0.5/16,fd00::5/64,10.99.0.2/24  /run/netns/sandnet-pod1\n");
}

TEST(CtlRender, InspectTablesUseTheDaemonsKeys) {
  client::InspectResult r;
  r.links = json::parse(R"([{"name":"lo","state":"up"},{"name":"eth0","state":"up","mac":"aa:bb"}])").as_array();
  r.routes = json::parse(R"([{"dst":"default","gateway":"10.88.0.1","dev":"eth0"}])").as_array();
  EXPECT_EQ(render_inspect(r),
            "LINKS\nNAME  STATE  MAC\nlo    up     -\neth0  up     aa:bb\n"
            "\nADDRESSES\nVALUE\n"
            "\nROUTES\nDST      GATEWAY    DEV\ndefault  10.88.0.1  eth0\n");
  r.anti_spoofing = json::parse(R"([{"network":"sandnet","ifname":"eth0","enforced":true,"hostInterface":"veth1",
      "mac":"02:11:22:33:44:55","ips":["10.89.0.2","fd00::2"]},
      {"network":"routed","ifname":"eth1","enforced":false,"reason":"off for network routed"}])").as_array();
  std::string text = render_inspect(r);
  EXPECT_NE(text.find("\nANTI-SPOOFING\n"
                      "NETWORK  IFNAME  ENFORCED  HOST-IF  MAC                IPS / REASON\n"
                      "sandnet  eth0    yes       veth1    02:11:22:33:44:55  10.89.0.2,fd00::2\n"
                      "routed   eth1    no        -        -                  off for network routed\n"),
            std::string::npos)
      << text;
}

TEST(CtlRun, JsonTableAndFailures) {
  json::value net = json::parse(R"({"networks":[{"name":"sandnet","cniVersion":"1.0.0","plugins":["bridge","portmap"],
      "default":true,"source":"embedded"}]})");
  rpc::ErrorObject error;
  error.code = rpc::kNotFound;
  error.message = "no such sandbox";
  FakeServer server({reply_result(net), reply_result(net), reply_error(error)});
  std::ostringstream out, err;
  EXPECT_EQ(main_entry({"--socket", server.path(), "networks", "--json"}, out, err), 0) << err.str();
  EXPECT_EQ(json::parse(out.str()), net);
  out.str("");
  EXPECT_EQ(main_entry({"--socket", server.path(), "networks"}, out, err), 0) << err.str();
  EXPECT_EQ(out.str(),
            "NAME     CNIVERSION  PLUGINS         DEFAULT  SOURCE\n"
            "sandnet  1.0.0       bridge,portmap  yes      embedded\n");
  out.str("");
  EXPECT_EQ(main_entry({"--socket", server.path(), "get", "pod7"}, out, err), 1);
  EXPECT_EQ(err.str(), "sandnetctl: get pod7: no such sandbox: not found\n");
  EXPECT_EQ(out.str(), "");
  err.str("");
  EXPECT_EQ(main_entry({"get"}, out, err), 2);
  EXPECT_EQ(err.str().rfind("sandnetctl: get takes one sandbox ID\n\nUsage:", 0), 0u) << err.str();
}

}  // namespace
}  // namespace sandnet::test

namespace sandnet::test {
namespace {

TEST(CtlRun, CniModeHandsEverythingAfterCniToTheRunner) {
  std::ostringstream out, err;
  std::vector<std::string> seen;
  auto runner = [&](const std::vector<std::string>& args) {
    seen = args;
    return 7;
  };
  EXPECT_EQ(ctl::main_entry({"cni", "del", "net1", "/run/netns/x"}, out, err, runner), 7);
  EXPECT_EQ(seen, (std::vector<std::string>{"del", "net1", "/run/netns/x"}));
  EXPECT_EQ(ctl::main_entry({"cni", "add"}, out, err), 1);
  EXPECT_NE(err.str().find("no CNI runtime"), std::string::npos);
}

}  // namespace
}  // namespace sandnet::test
