// sandnet-oci-hook: the OCI state, the io.sandnet.* annotations, mode
// selection, the LXC environment, the command line, and whole runs against
// a fake daemon (what goes on the wire, the pidfd, the result file, the one
// failure line).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <sstream>

#include "fake_server.hpp"
#include "oci-hook/annotations.hpp"
#include "oci-hook/command_line.hpp"
#include "oci-hook/request.hpp"
#include "oci-hook/run.hpp"
#include "oci-hook/state.hpp"
#include "sandnet/common/fs.hpp"

namespace sandnet::test {
namespace {
namespace json = boost::json;
using namespace sandnet::oci_hook;

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

#define EXPECT_ERROR_MENTIONS(expr, text) EXPECT_NE(error_of([&] { (void)(expr); }).find(text), std::string::npos)

const char* kFullState = R"({"ociVersion":"1.0.2","id":"c1","status":"creating","pid":4242,
  "bundle":"/run/bundles/c1","annotations":{"io.sandnet.networks":"net1,net2","org.example":"x"}})";

// ---- state ----

TEST(OciHookState, ParsesEveryField) {
  OciState s = parse_state(kFullState);
  EXPECT_EQ(s.oci_version, "1.0.2");
  EXPECT_EQ(s.id, "c1");
  EXPECT_EQ(s.status, "creating");
  EXPECT_EQ(s.pid, 4242);
  EXPECT_EQ(s.bundle, "/run/bundles/c1");
  EXPECT_EQ(s.annotations, (std::map<std::string, std::string>{{"io.sandnet.networks", "net1,net2"}, {"org.example", "x"}}));
}

TEST(OciHookState, OptionalFieldsAndExtensions) {
  // poststop: no annotations, pid 0 (crun) or absent; a runtime's own keys are fine.
  OciState s = parse_state(R"({"ociVersion":"1.0.0","id":"c1","status":"stopped","pid":0,"bundle":"/b","x-runtime":{"a":1}})");
  EXPECT_FALSE(s.pid);
  EXPECT_TRUE(s.annotations.empty());
  EXPECT_FALSE(parse_state(R"({"ociVersion":"1.0.0","id":"c1","status":"stopped","bundle":"/b"})").pid);
}

TEST(OciHookState, RefusesBadInputNamingTheProblem) {
  EXPECT_ERROR_MENTIONS(parse_state(""), "stdin is empty");
  EXPECT_ERROR_MENTIONS(parse_state("{"), "not JSON");
  EXPECT_ERROR_MENTIONS(parse_state(R"({"id":"c1"} trailing)"), "not JSON");
  EXPECT_ERROR_MENTIONS(parse_state("[]"), "JSON object");
  EXPECT_ERROR_MENTIONS(parse_state(std::string(kMaxStateBytes + 1, ' ')), "longer than");
  const std::string base = R"("ociVersion":"1.0.2","id":"c1","status":"created","bundle":"/b")";
  auto with = [&](const std::string& extra) { return "{" + base + "," + extra + "}"; };
  EXPECT_ERROR_MENTIONS(parse_state(with(R"("id":"c2")")), "\"id\" appears twice");
  EXPECT_ERROR_MENTIONS(parse_state(with(R"("pid":-1)")), "out of range");
  EXPECT_ERROR_MENTIONS(parse_state(with(R"("pid":4294967296)")), "out of range");
  EXPECT_ERROR_MENTIONS(parse_state(with(R"("pid":18446744073709551615)")), "out of range");
  EXPECT_ERROR_MENTIONS(parse_state(with(R"("pid":1.5)")), "integer");
  EXPECT_ERROR_MENTIONS(parse_state(with(R"("pid":"12")")), "integer");
  EXPECT_ERROR_MENTIONS(parse_state(with(R"("annotations":[])")), "\"annotations\" must be an object");
  EXPECT_ERROR_MENTIONS(parse_state(with(R"("annotations":{"a":1})")), "annotation \"a\" must be a string");
  for (const char* field : {"ociVersion", "id", "status", "bundle"}) {
    json::object o = json::parse("{" + base + "}").as_object();
    o.erase(field);
    EXPECT_ERROR_MENTIONS(parse_state(json::serialize(o)), std::string("\"") + field + "\" is missing");
    o[field] = 7;
    EXPECT_ERROR_MENTIONS(parse_state(json::serialize(o)), std::string("\"") + field + "\" must be a string");
  }
  EXPECT_ERROR_MENTIONS(parse_state(R"({"ociVersion":"1.0.2","id":"","status":"created","bundle":"/b"})"), "\"id\" is empty");
  EXPECT_ERROR_MENTIONS(parse_state(R"({"ociVersion":"","id":"c","status":"created","bundle":"/b"})"), "\"ociVersion\" is empty");
  EXPECT_ERROR_MENTIONS(parse_state(R"({"ociVersion":"1","id":"c","status":"paused","bundle":"/b"})"), "\"paused\" is none of");
}

// ---- annotations ----

TEST(OciHookAnnotations, EveryAnnotation) {
  NetworkOptions o = parse_annotations({
      {"io.sandnet.id", "pod-7"},
      {"io.sandnet.networks", "net1,net2"},
      {"io.sandnet.ports", "8080:80,127.0.0.1:5353:53/udp,[::1]:8443:443"},
      {"io.sandnet.ifname", "net0"},
      {"io.sandnet.args", "K8S_POD_NAME=web;EMPTY="},
      {"io.sandnet.result", "/run/pods/web.json"},
      {"io.kubernetes.cri-o.Foo", "ignored"},
  });
  EXPECT_EQ(o.id, "pod-7");
  EXPECT_EQ(o.networks, (std::vector<std::string>{"net1", "net2"}));
  ASSERT_EQ(o.ports.size(), 3u);
  EXPECT_EQ(o.ports[0], (capabilities::PortMapping{8080, 80, "tcp", ""}));
  EXPECT_EQ(o.ports[1], (capabilities::PortMapping{5353, 53, "udp", "127.0.0.1"}));
  EXPECT_EQ(o.ports[2], (capabilities::PortMapping{8443, 443, "tcp", "::1"}));
  EXPECT_EQ(o.ifname, "net0");
  EXPECT_EQ(o.args, (std::vector<std::pair<std::string, std::string>>{{"K8S_POD_NAME", "web"}, {"EMPTY", ""}}));
  EXPECT_EQ(o.result_path, "/run/pods/web.json");
}

TEST(OciHookAnnotations, NoneOrEmptyMeansTheDefaults) {
  NetworkOptions none = parse_annotations({{"org.opencontainers.image.title", "x"}});
  EXPECT_FALSE(none.id);
  EXPECT_TRUE(none.networks.empty());
  EXPECT_TRUE(none.ports.empty());
  EXPECT_TRUE(none.result_path.empty());
  // hooks.d selects on io.sandnet.networks being present: "" asks for the defaults.
  EXPECT_TRUE(parse_annotations({{"io.sandnet.networks", ""}}).networks.empty());
}

TEST(OciHookAnnotations, RefusesBadValuesNamingTheAnnotation) {
  auto refused = [](const char* key, const char* value) { return error_of([&] { parse_annotations({{key, value}}); }); };
  EXPECT_NE(refused("io.sandnet.network", "net1").find("unknown annotation \"io.sandnet.network\""), std::string::npos);
  EXPECT_NE(refused("io.sandnet.id", "bad id").find("io.sandnet.id \"bad id\""), std::string::npos);
  EXPECT_NE(refused("io.sandnet.id", std::string(129, 'a').c_str()).find("io.sandnet.id"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.networks", "net1,,net2").find("empty item"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.networks", "net1,").find("empty item"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.networks", "net 1").find("io.sandnet.networks \"net 1\""), std::string::npos);
  EXPECT_NE(refused("io.sandnet.networks", "a,b,a").find("\"a\" is named twice"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.ports", "80").find("HOSTPORT:CONTAINERPORT"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.ports", "0:80").find("host port"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.ports", "80:80/sctp").find("tcp or udp"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.ports", "8080:80,8080:81").find("mapped twice"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.ports", "8080:80;9090:90").find("io.sandnet.ports"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.ifname", "").find("io.sandnet.ifname"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.ifname", "a/b").find("io.sandnet.ifname"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.ifname", "sixteen-bytes-xx").find("io.sandnet.ifname"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.args", "K").find("KEY=VALUE"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.args", "=V").find("KEY=VALUE"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.args", "A=1;;B=2").find("empty item"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.args", "A=1;A=2").find("\"A\" is given twice"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.args", "A=x\ny").find("io.sandnet.args"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.result", "pods/web.json").find("absolute path"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.result", "").find("absolute path"), std::string::npos);
  EXPECT_NE(refused("io.sandnet.result", "/run/pods/").find("name a file"), std::string::npos);
}

// ---- modes and requests ----

OciState state_with(const std::string& status, std::map<std::string, std::string> annotations = {},
                    std::optional<pid_t> pid = 4242, std::string id = "c1") {
  OciState s;
  s.oci_version = "1.0.2";
  s.id = std::move(id);
  s.status = status;
  s.pid = pid;
  s.bundle = "/b";
  s.annotations = std::move(annotations);
  return s;
}

TEST(OciHookMode, StatusPicksTheModeUnlessOneIsGiven) {
  EXPECT_EQ(mode_for_status("creating"), Mode::setup);
  EXPECT_EQ(mode_for_status("created"), Mode::setup);
  EXPECT_EQ(mode_for_status("stopped"), Mode::teardown);
  EXPECT_FALSE(mode_for_status("running"));
  EXPECT_EQ(select_mode(std::nullopt, state_with("creating")), Mode::setup);
  EXPECT_EQ(select_mode(std::nullopt, state_with("stopped")), Mode::teardown);
  EXPECT_ERROR_MENTIONS(select_mode(std::nullopt, state_with("running")), "is \"running\"");
  EXPECT_EQ(select_mode(Mode::teardown, state_with("running")), Mode::teardown);
  EXPECT_EQ(select_mode(Mode::setup, state_with("stopped")), Mode::setup);
}

TEST(OciHookMode, SetupRequestFromTheState) {
  HookRequest r = request_from_state(std::nullopt, state_with("creating", {{"io.sandnet.networks", "n1"},
                                                                           {"io.sandnet.ports", "8080:80"}}));
  EXPECT_EQ(r.mode, Mode::setup);
  EXPECT_EQ(r.id, "c1");
  EXPECT_EQ(r.pid, 4242);
  protocol::SetupParams p = setup_params(r);
  EXPECT_EQ(p.id, "c1");
  EXPECT_EQ(p.ref, protocol::SandboxRef::pidfd);
  ASSERT_EQ(p.networks.size(), 1u);
  EXPECT_EQ(p.networks[0].name, "n1");
  ASSERT_TRUE(p.capabilities.port_mappings);
  EXPECT_EQ(p.capabilities.port_mappings->at(0).host_port, 8080);
  // No ports asked: no portMappings capability at all.
  EXPECT_FALSE(setup_params(request_from_state(Mode::setup, state_with("creating"))).capabilities.port_mappings);

  EXPECT_EQ(request_from_state(std::nullopt, state_with("creating", {{"io.sandnet.id", "web"}})).id, "web");
  EXPECT_ERROR_MENTIONS(request_from_state(std::nullopt, state_with("creating", {}, std::nullopt)), "no pid");
  EXPECT_ERROR_MENTIONS(request_from_state(std::nullopt, state_with("creating", {}, 4242, "bad/id")), "container id");
  EXPECT_ERROR_MENTIONS(request_from_state(std::nullopt, state_with("creating", {{"io.sandnet.ports", "x"}})),
                        "io.sandnet.ports");
}

TEST(OciHookMode, TeardownNeedsOnlyTheId) {
  // The other annotations were checked at setup; a teardown must not fail over them.
  HookRequest r = request_from_state(std::nullopt, state_with("stopped", {{"io.sandnet.ports", "bad"},
                                                                          {"io.sandnet.typo", "x"}}, std::nullopt));
  EXPECT_EQ(r.mode, Mode::teardown);
  EXPECT_EQ(r.id, "c1");
  EXPECT_EQ(request_from_state(std::nullopt, state_with("stopped", {{"io.sandnet.id", "web"}})).id, "web");
  EXPECT_ERROR_MENTIONS(request_from_state(std::nullopt, state_with("stopped", {{"io.sandnet.id", "a b"}})),
                        "io.sandnet.id");
}

TEST(OciHookLxc, EnvironmentOrArgumentsPickTheMode) {
  // lxc.hook.version 1: everything in the environment.
  std::map<std::string, std::string> env{{"LXC_HOOK_TYPE", "start-host"}, {"LXC_NAME", "box1"}, {"LXC_PID", "777"}};
  auto lookup = [&](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  NetworkOptions o;
  o.networks = {"n1"};
  HookRequest r = request_from_lxc(o, {}, lookup);
  EXPECT_EQ(r.mode, Mode::setup);
  EXPECT_EQ(r.id, "box1");
  EXPECT_EQ(r.pid, 777);
  EXPECT_EQ(r.options.networks, o.networks);
  o.id = "other";
  EXPECT_EQ(request_from_lxc(o, {}, lookup).id, "other");
  o.id.reset();
  // Version 0 (the default): name and type as arguments, LXC_PID in the environment.
  env = {{"LXC_PID", "778"}};
  HookRequest v0 = request_from_lxc(o, {"box2", "lxc", "start-host"}, lookup);
  EXPECT_EQ(v0.mode, Mode::setup);
  EXPECT_EQ(v0.id, "box2");
  EXPECT_EQ(v0.pid, 778);
  EXPECT_EQ(request_from_lxc(o, {"box2", "lxc", "post-stop"}, lookup).mode, Mode::teardown);
  env["LXC_NAME"] = "box3";
  EXPECT_ERROR_MENTIONS(request_from_lxc(o, {"box2", "lxc", "start-host"}, lookup), "disagree");

  env = {{"LXC_HOOK_TYPE", "start-host"}, {"LXC_NAME", "box1"}, {"LXC_PID", "0"}};
  EXPECT_ERROR_MENTIONS(request_from_lxc(o, {}, lookup), "LXC_PID \"0\"");
  env.erase("LXC_PID");
  EXPECT_ERROR_MENTIONS(request_from_lxc(o, {}, lookup), "LXC_PID is not set");
  env["LXC_HOOK_TYPE"] = "post-stop";
  HookRequest down = request_from_lxc(o, {}, lookup);
  EXPECT_EQ(down.mode, Mode::teardown);
  EXPECT_EQ(down.id, "box1");
  env["LXC_HOOK_TYPE"] = "pre-start";
  EXPECT_ERROR_MENTIONS(request_from_lxc(o, {}, lookup), "lxc.hook.start-host");
  env["LXC_HOOK_TYPE"] = "post-stop";
  env["LXC_NAME"] = "bad name";
  EXPECT_ERROR_MENTIONS(request_from_lxc(o, {}, lookup), "LXC_NAME");
  env.clear();
  EXPECT_ERROR_MENTIONS(request_from_lxc(o, {}, lookup), "no hook type");
  EXPECT_ERROR_MENTIONS(request_from_lxc(o, {"box1", "lxc"}, lookup), "no hook type");
}

// ---- command line ----

TEST(OciHookCommandLine, Forms) {
  EXPECT_EQ(parse_command_line({}).program, Program::oci);
  EXPECT_FALSE(parse_command_line({}).mode);
  EXPECT_EQ(parse_command_line({"setup"}).mode, Mode::setup);
  Invocation t = parse_command_line({"--socket", "/s", "teardown"});
  EXPECT_EQ(t.mode, Mode::teardown);
  EXPECT_EQ(t.socket_path, "/s");
  EXPECT_EQ(parse_command_line({"teardown", "--socket=/t"}).socket_path, "/t");
  EXPECT_EQ(parse_command_line({"setup", "--help"}).program, Program::help);
  EXPECT_EQ(parse_command_line({"--version"}).program, Program::version);

  // LXC appends its own arguments (name, section, hook type): ignored.
  Invocation l = parse_command_line({"lxc", "--network", "a,b", "--network=c", "--port", "8080:80", "--ifname", "eth1",
                                     "--arg", "A=1;B=2", "--id", "box", "--result", "/r.json", "box1", "lxc",
                                     "start-host"});
  EXPECT_EQ(l.program, Program::lxc);
  EXPECT_EQ(l.lxc.networks, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(l.lxc.ports.size(), 1u);
  EXPECT_EQ(l.lxc.ifname, "eth1");
  EXPECT_EQ(l.lxc.args.size(), 2u);
  EXPECT_EQ(l.lxc.id, "box");
  EXPECT_EQ(l.lxc.result_path, "/r.json");
  EXPECT_EQ(l.lxc_args, (std::vector<std::string>{"box1", "lxc", "start-host"}));

  EXPECT_ERROR_MENTIONS(parse_command_line({"start"}), "unknown command \"start\"");
  EXPECT_ERROR_MENTIONS(parse_command_line({"setup", "teardown"}), "unexpected argument");
  EXPECT_ERROR_MENTIONS(parse_command_line({"--network", "a"}), "unknown option");
  EXPECT_ERROR_MENTIONS(parse_command_line({"--socket"}), "needs a value");
  EXPECT_ERROR_MENTIONS(parse_command_line({"--socket="}), "needs a path");
  EXPECT_ERROR_MENTIONS(parse_command_line({"lxc", "--network", "a", "--network", "a"}), "given twice");
  EXPECT_ERROR_MENTIONS(parse_command_line({"lxc", "--port", "x"}), "--port \"x\"");
  EXPECT_ERROR_MENTIONS(parse_command_line({"lxc", "--id", "a b"}), "a b");
  EXPECT_ERROR_MENTIONS(parse_command_line({"lxc", "--result", "rel"}), "absolute");
  EXPECT_ERROR_MENTIONS(parse_command_line({"lxc", "--bogus"}), "unknown option \"--bogus\"");
}

// ---- whole runs against a fake daemon ----

json::value sandbox_reply(const std::string& id) {
  return json::parse(R"({"id":")" + id + R"(","netns":"/run/netns/sandnet-)" + id +
                     R"(","ownerUID":0,"ownerGID":0,"state":"ready","pid":1,"attachments":[{"network":"n1",
      "ifname":"eth0","result":{"cniVersion":"1.0.0","ips":[{"address":"10.1.0.2/24"}]}}],"labels":{},"createdUnix":1})");
}

std::string state_json(const std::string& status, pid_t pid, const json::object& annotations) {
  return json::serialize(json::object{{"ociVersion", "1.0.2"}, {"id", "c1"}, {"status", status}, {"pid", pid},
                                      {"bundle", "/b"}, {"annotations", annotations}});
}

struct HookRun {
  int status;
  std::string out, err;
};

HookRun run_hook(const std::vector<std::string>& args, const std::string& stdin_text,
             std::map<std::string, std::string> env = {}) {
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  auto lookup = [&](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  int status = main_entry(args, in, out, err, lookup);
  return {status, out.str(), err.str()};
}

TEST(OciHookRun, SetupSendsAPidfdAndWritesTheResult) {
  FakeServer server({reply_result(sandbox_reply("web"))});
  TempDir dir;
  const std::string result = dir.path() + "/result.json";
  ::umask(077);  // the file's mode must not depend on the runtime's umask
  HookRun r = run_hook({"--socket", server.path(), "setup"},
                   state_json("creating", ::getpid(),
                              {{"io.sandnet.id", "web"}, {"io.sandnet.networks", "n1,n2"},
                               {"io.sandnet.ports", "30080:80"}, {"io.sandnet.ifname", "net0"},
                               {"io.sandnet.args", "A=1"}, {"io.sandnet.result", result}}));
  ::umask(022);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "sandbox.setup");
  EXPECT_EQ(requests[0].params, json::parse(R"({"id":"web","fd":"pidfd","networks":[{"name":"n1"},{"name":"n2"}],"ifname":"net0",
      "args":[["A","1"]],"capabilities":{"portMappings":[{"hostPort":30080,"containerPort":80,"protocol":"tcp"}]}})")
                                    .as_object())
      << json::serialize(json::value(requests[0].params));
  ASSERT_EQ(requests[0].fd_kinds.size(), 1u);
  EXPECT_EQ(requests[0].fd_kinds[0], "anon_inode:[pidfd]");
  EXPECT_EQ(json::parse(fs::read_file(result)), sandbox_reply("web"));
  struct stat st {};
  ASSERT_EQ(::stat(result.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

TEST(OciHookRun, ARefusedSetupFailsWithOneLine) {
  rpc::ErrorObject refusal;
  refusal.code = rpc::kNotFound;
  refusal.message = "network \"nope\" is not configured";
  FakeServer server({reply_error(refusal)});
  HookRun r = run_hook({"--socket", server.path()}, state_json("created", ::getpid(), {{"io.sandnet.networks", "nope"}}));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "sandnet-oci-hook: setup c1: network \"nope\" is not configured: not found\n");
  // A bad annotation never reaches the daemon.
  HookRun bad = run_hook({"--socket", server.path()}, state_json("created", ::getpid(), {{"io.sandnet.ports", "80"}}));
  EXPECT_EQ(bad.status, 1);
  EXPECT_EQ(bad.err.rfind("sandnet-oci-hook: setup c1: io.sandnet.ports \"80\": expected", 0), 0u) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1);
  EXPECT_EQ(server.requests().size(), 1u);
  // No daemon at all: fails closed too.
  HookRun none = run_hook({"--socket", "/nonexistent/sandnetd.sock"}, state_json("created", ::getpid(), {}));
  EXPECT_EQ(none.status, 1);
  EXPECT_EQ(none.err.rfind("sandnet-oci-hook: setup c1: ", 0), 0u) << none.err;
  // A process that is gone.
  HookRun gone = run_hook({"--socket", server.path()}, state_json("created", 2147483647, {}));
  EXPECT_EQ(gone.status, 1);
  EXPECT_NE(gone.err.find("pidfd_open 2147483647"), std::string::npos) << gone.err;
}

TEST(OciHookRun, TeardownByStatusAndItsFailures) {
  FakeServer server({reply_result(json::parse(R"({"id":"c1","existed":false,"errors":[]})")),
                     reply_result(json::parse(R"({"id":"c1","existed":true,"errors":["DEL n1: plugin failed"]})"))});
  HookRun r = run_hook({"--socket", server.path()}, state_json("stopped", 0, {{"io.sandnet.networks", ""}}));
  EXPECT_EQ(r.status, 0) << r.err;
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "sandbox.teardown");
  EXPECT_EQ(requests[0].params.at("id"), "c1");
  HookRun failed = run_hook({"--socket", server.path(), "teardown"}, state_json("running", 1, {}));
  EXPECT_EQ(failed.status, 1);
  EXPECT_EQ(failed.err, "sandnet-oci-hook: teardown c1: 1 step(s) could not be undone, the first: DEL n1: plugin failed\n");
}

TEST(OciHookRun, LxcModeAndUsage) {
  FakeServer server({reply_result(sandbox_reply("box1")), reply_result(json::parse(R"({"id":"box1","existed":true})"))});
  std::map<std::string, std::string> env{{"LXC_HOOK_TYPE", "start-host"}, {"LXC_NAME", "box1"},
                                         {"LXC_PID", std::to_string(::getpid())}};
  HookRun up = run_hook({"--socket", server.path(), "lxc", "--network", "n1", "box1", "lxc", "start-host"}, "", env);
  EXPECT_EQ(up.status, 0) << up.err;
  env = {};  // lxc.hook.version 0: name and type only as arguments
  HookRun down = run_hook({"--socket", server.path(), "lxc", "--network", "n1", "box1", "lxc", "post-stop"}, "", env);
  EXPECT_EQ(down.status, 0) << down.err;
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "sandbox.setup");
  EXPECT_EQ(requests[0].params.at("networks"), json::parse(R"([{"name":"n1"}])"));
  EXPECT_EQ(requests[0].fd_kinds, (std::vector<std::string>{"anon_inode:[pidfd]"}));
  EXPECT_EQ(requests[1].method, "sandbox.teardown");
  EXPECT_EQ(requests[1].params.at("id"), "box1");

  HookRun usage = run_hook({"bogus"}, "");
  EXPECT_EQ(usage.status, 2);
  EXPECT_EQ(usage.err.rfind("sandnet-oci-hook: unknown command \"bogus\" (setup, teardown or lxc)\n\nUsage:", 0), 0u);
  HookRun help = run_hook({"--help"}, "");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("io.sandnet.networks"), std::string::npos);
  EXPECT_EQ(run_hook({"--version"}, "").out, std::string("sandnet-oci-hook ") + SANDNET_VERSION_FOR_TESTS + "\n");
  HookRun bad_state = run_hook({}, "not json");
  EXPECT_EQ(bad_state.status, 1);
  EXPECT_EQ(bad_state.err.rfind("sandnet-oci-hook: OCI state: not JSON", 0), 0u) << bad_state.err;
}

}  // namespace
}  // namespace sandnet::test
