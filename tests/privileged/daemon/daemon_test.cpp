// sandnetd integration tests: a real daemon process, real namespaces, the
// real plugins in /usr/lib/cni, driven over its socket with raw JSON-RPC.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <thread>

#include "daemon_fixture.hpp"
#include "sandnet/common/fs.hpp"
#include "support/sandbox.hpp"

namespace sandnet::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

#define REQUIRE_ROOT() \
  if (!is_root()) GTEST_SKIP() << "needs root"

json::object setup_params(const std::string& id, pid_t pid) { return json::object{{"id", id}, {"pid", pid}}; }

// The newest state in a record file: one JSON line per state, newest last; a
// line still being appended (no newline yet) does not count.
json::value newest_record(const std::string& path) {
  std::string text = fs::read_file(path);
  text.erase(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n'));
  const auto start = text.rfind('\n');
  return json::parse(start == std::string::npos ? text : text.substr(start + 1));
}

int error_code(const rpc::Response& r) { return r.error ? r.error->code : 0; }

std::string describe(const rpc::Response& r) {
  if (r.error) return std::to_string(r.error->code) + " " + r.error->message + " " + json::serialize(r.error->data);
  return json::serialize(*r.result);
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root";
    daemon_.emplace(options());
    daemon_->start();
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "---- sandnetd log ----\n" << daemon_->log();
    daemon_.reset();
  }
  virtual DaemonOptions options() { return {}; }

  std::optional<TestDaemon> daemon_;
};

// ------------------------------------------------------------ the main path

TEST_F(DaemonTest, SetupGetListTeardownByPid) {
  Sandbox sandbox;
  auto c = daemon_->connect();
  auto id = unique_name("pod");
  auto r = c.call("sandbox.setup", setup_params(id, sandbox.pid()));
  ASSERT_TRUE(r.result) << describe(r);
  EXPECT_EQ(r.result->at("id").as_string(), id);
  EXPECT_EQ(r.result->at("state").as_string(), "ready");
  std::string pin(r.result->at("netns").as_string());
  EXPECT_EQ(pin, daemon_->netns_dir() + "/sandnet-" + id);
  auto ips = result_ips(*r.result);
  ASSERT_EQ(ips.size(), 1u);
  EXPECT_EQ(ips[0].rfind("10.203.", 0), 0u);

  // The sandbox really has eth0 with that address.
  auto addr = sandbox.exec({"ip", "-o", "addr", "show", "eth0"});
  EXPECT_NE(addr.out.find(ips[0]), std::string::npos) << addr.out << addr.err;

  auto got = c.call("sandbox.get", json::object{{"id", id}});
  ASSERT_TRUE(got.result) << describe(got);
  EXPECT_EQ(result_ips(*got.result), ips);
  auto list = c.call("sandbox.list");
  ASSERT_TRUE(list.result);
  EXPECT_EQ(list.result->at("sandboxes").as_array().size(), 1u);
  auto check = c.call("sandbox.check", json::object{{"id", id}});
  EXPECT_TRUE(check.result) << describe(check);
  auto inspect = c.call("sandbox.inspect", json::object{{"id", id}});
  ASSERT_TRUE(inspect.result) << describe(inspect);
  EXPECT_NE(json::serialize(inspect.result->at("addresses")).find(ips[0]), std::string::npos);

  auto down = c.call("sandbox.teardown", json::object{{"id", id}});
  ASSERT_TRUE(down.result) << describe(down);
  EXPECT_TRUE(down.result->at("existed").as_bool());
  EXPECT_TRUE(down.result->at("errors").as_array().empty()) << describe(down);
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->network()).empty());
  EXPECT_TRUE(daemon_->record_files().empty());
  EXPECT_TRUE(daemon_->pin_files().empty());
  EXPECT_FALSE(std::filesystem::exists(pin));
  EXPECT_EQ(error_code(c.call("sandbox.get", json::object{{"id", id}})), rpc::kNotFound);
}

// Found in the field: a second sandbox ID on an attached netns failed at the
// bridge plugin ("eth0 already exists") and its rollback DEL then deleted the
// first sandbox's eth0. The second attach is refused before anything runs.
TEST_F(DaemonTest, SecondAttachOfOneNetnsIsRefusedAndTheFirstKeepsItsNetwork) {
  Sandbox sandbox(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid});
  auto root = daemon_->connect();
  auto owner = daemon_->connect(kTestUid, kTestUid);
  auto first = unique_name("pod");
  auto r = owner.call("sandbox.setup", setup_params(first, sandbox.pid()));
  ASSERT_TRUE(r.result) << describe(r);
  const auto ips = result_ips(*r.result);
  ASSERT_EQ(ips.size(), 1u);

  // By the owner under a new id (a retry, a hook and a manual call): named.
  auto second = unique_name("pod");
  r = owner.call("sandbox.setup", setup_params(second, sandbox.pid()));
  EXPECT_EQ(error_code(r), rpc::kAlreadyExists) << describe(r);
  EXPECT_NE(describe(r).find("already attached to sandbox " + first), std::string::npos) << describe(r);
  // By root through a pidfd: refused too, and root may learn the holder.
  int fds[] = {sandbox.pidfd()};
  r = root.call("sandbox.setup", json::object{{"id", second}, {"fd", "pidfd"}, {"ifname", "eth1"}}, fds);
  EXPECT_EQ(error_code(r), rpc::kAlreadyExists) << describe(r);
  EXPECT_NE(describe(r).find("sandbox " + first), std::string::npos) << describe(r);

  // The first sandbox is untouched: its eth0, its address, one IP allocated.
  auto addr = sandbox.exec({"ip", "-o", "addr", "show", "eth0"});
  EXPECT_NE(addr.out.find(ips[0]), std::string::npos) << addr.out << addr.err;
  EXPECT_EQ(daemon_->allocated_ips(daemon_->network()).size(), 1u);
  EXPECT_TRUE(owner.call("sandbox.check", json::object{{"id", first}}).result);
  EXPECT_EQ(daemon_->record_files().size(), 1u);
  EXPECT_EQ(daemon_->pin_files().size(), 1u);

  // Once torn down, the namespace may be attached again.
  ASSERT_TRUE(owner.call("sandbox.teardown", json::object{{"id", first}}).result);
  r = owner.call("sandbox.setup", setup_params(second, sandbox.pid()));
  ASSERT_TRUE(r.result) << describe(r);
  EXPECT_TRUE(owner.call("sandbox.teardown", json::object{{"id", second}}).result);
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->network()).empty());
}

// libcni's cache names "<network>-<id>-<ifname>" are ambiguous: root's "web"
// with ifname "1-eth0" and a user's "web-1" with "eth0" are the same file.
// The second is refused, and learns nothing of the first.
TEST_F(DaemonTest, CacheEntryNamesOfTwoSandboxesCannotCollide) {
  Sandbox first_box;
  Sandbox second_box(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid});
  auto root = daemon_->connect();
  auto user = daemon_->connect(kTestUid, kTestUid);
  const auto base = unique_name("web");
  auto params = setup_params(base, first_box.pid());
  params["ifname"] = "1-eth0";
  ASSERT_TRUE(root.call("sandbox.setup", params).result);
  auto r = user.call("sandbox.setup", setup_params(base + "-1", second_box.pid()));
  EXPECT_EQ(error_code(r), rpc::kAlreadyExists) << describe(r);
  EXPECT_NE(describe(r).find("another sandbox"), std::string::npos) << describe(r);
  EXPECT_EQ(describe(r).find(base + " "), std::string::npos) << describe(r);
  // The first one's entry is intact: its CHECK (which reads it) passes.
  EXPECT_TRUE(root.call("sandbox.check", json::object{{"id", base}}).result);
  EXPECT_TRUE(root.call("sandbox.teardown", json::object{{"id", base}}).result);
  // Free again once the first is gone.
  ASSERT_TRUE(user.call("sandbox.setup", setup_params(base + "-1", second_box.pid())).result);
  EXPECT_TRUE(user.call("sandbox.teardown", json::object{{"id", base + "-1"}}).result);
}

// After a restart the claims come back from the records.
TEST_F(DaemonTest, SecondAttachIsRefusedAfterARestartToo) {
  Sandbox sandbox;
  auto first = unique_name("pod");
  ASSERT_TRUE(daemon_->connect().call("sandbox.setup", setup_params(first, sandbox.pid())).result);
  daemon_->stop();
  daemon_->start();
  auto c = daemon_->connect();
  auto r = c.call("sandbox.setup", setup_params(unique_name("pod"), sandbox.pid()));
  EXPECT_EQ(error_code(r), rpc::kAlreadyExists) << describe(r);
  EXPECT_TRUE(c.call("sandbox.teardown", json::object{{"id", first}}).result);
}

// An interface the sandbox already has would fail the plugin's ADD, and the
// rollback's DEL would delete it: refused before anything is touched. And
// every sandbox's lo is up after setup, though the test network has no
// loopback plugin.
TEST_F(DaemonTest, ExistingInterfaceNameIsRefusedAndLoIsUpAfterSetup) {
  Sandbox sandbox;
  ASSERT_TRUE(sandbox.exec({"ip", "link", "add", "eth0", "type", "veth", "peer", "name", "mine"}).ok());
  auto c = daemon_->connect();
  auto r = c.call("sandbox.setup", setup_params(unique_name("pod"), sandbox.pid()));
  EXPECT_EQ(error_code(r), rpc::kAlreadyExists) << describe(r);
  EXPECT_NE(describe(r).find("interface eth0 already exists"), std::string::npos) << describe(r);
  EXPECT_TRUE(sandbox.exec({"ip", "link", "show", "eth0"}).ok());  // the sandbox's own is untouched
  EXPECT_TRUE(daemon_->record_files().empty());
  EXPECT_TRUE(daemon_->pin_files().empty());
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->network()).empty());

  auto id = unique_name("pod");
  auto params = setup_params(id, sandbox.pid());
  params["ifname"] = "net0";
  ASSERT_TRUE(c.call("sandbox.setup", params).result);
  auto lo = sandbox.exec({"ip", "-o", "link", "show", "lo"});
  EXPECT_NE(lo.out.find(",UP"), std::string::npos) << lo.out;
  EXPECT_TRUE(c.call("sandbox.teardown", json::object{{"id", id}}).result);
}

TEST_F(DaemonTest, SetupWithPidfdOverScmRights) {
  Sandbox sandbox;
  auto c = daemon_->connect();
  auto id = unique_name("pod");
  int fds[] = {sandbox.pidfd()};
  auto r = c.call("sandbox.setup", json::object{{"id", id}, {"fd", "pidfd"}, {"ifname", "net0"}}, fds);
  ASSERT_TRUE(r.result) << describe(r);
  EXPECT_EQ(r.result->at("attachments").at(0).at("ifname").as_string(), "net0");
  EXPECT_TRUE(sandbox.exec({"ip", "link", "show", "net0"}).ok());
  // "fd" without an fd attached is refused.
  auto missing = c.call("sandbox.setup", json::object{{"id", unique_name("pod")}, {"fd", "pidfd"}});
  EXPECT_EQ(error_code(missing), rpc::kInvalidParams) << describe(missing);
  EXPECT_TRUE(c.call("sandbox.teardown", json::object{{"id", id}}).result);
}

TEST_F(DaemonTest, TeardownIsIdempotentAndSucceedsForUnknownIds) {
  Sandbox sandbox;
  auto c = daemon_->connect();
  auto id = unique_name("pod");
  ASSERT_TRUE(c.call("sandbox.setup", setup_params(id, sandbox.pid())).result);
  auto first = c.call("sandbox.teardown", json::object{{"id", id}});
  ASSERT_TRUE(first.result) << describe(first);
  EXPECT_TRUE(first.result->at("existed").as_bool());
  auto second = c.call("sandbox.teardown", json::object{{"id", id}});
  ASSERT_TRUE(second.result) << describe(second);
  EXPECT_FALSE(second.result->at("existed").as_bool());
  auto unknown = c.call("sandbox.teardown", json::object{{"id", "never-was"}});
  ASSERT_TRUE(unknown.result) << describe(unknown);
  EXPECT_FALSE(unknown.result->at("existed").as_bool());
}

// ------------------------------------------------------------ security

TEST_F(DaemonTest, PeerCredIdentityIsReported) {
  auto c = daemon_->connect(kTestUid, kTestUid);
  auto info = c.call("runtime.info");
  ASSERT_TRUE(info.result) << describe(info);
  EXPECT_EQ(info.result->at("caller").at("uid").to_number<uid_t>(), kTestUid);
  auto root_info = daemon_->connect().call("runtime.info");
  EXPECT_EQ(root_info.result->at("caller").at("uid").to_number<uid_t>(), 0u);
}

TEST_F(DaemonTest, NonRootMaySetUpItsOwnUserNamespace) {
  Sandbox sandbox(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid});
  auto c = daemon_->connect(kTestUid, kTestUid);
  auto id = unique_name("pod");
  auto r = c.call("sandbox.setup", setup_params(id, sandbox.pid()));
  ASSERT_TRUE(r.result) << describe(r);
  EXPECT_EQ(r.result->at("ownerUID").to_number<uid_t>(), kTestUid);
  // networks.list shows what this caller may use.
  auto nets = c.call("networks.list");
  ASSERT_TRUE(nets.result);
  ASSERT_EQ(nets.result->at("networks").as_array().size(), 1u);
  EXPECT_EQ(nets.result->at("networks").at(0).at("name").as_string(), daemon_->network());

  // Another user can neither see nor touch it.
  auto other = daemon_->connect(kOtherUid, kOtherUid);
  for (const char* m : {"sandbox.get", "sandbox.check", "sandbox.teardown", "sandbox.inspect"})
    EXPECT_EQ(error_code(other.call(m, json::object{{"id", id}})), rpc::kPermissionDenied) << m;
  EXPECT_TRUE(other.call("sandbox.list").result->at("sandboxes").as_array().empty());
  // And may not set up a sandbox in a userns owned by someone else.
  auto steal = other.call("sandbox.setup", setup_params(unique_name("pod"), sandbox.pid()));
  EXPECT_EQ(error_code(steal), rpc::kPermissionDenied) << describe(steal);
  // gc is root's.
  EXPECT_EQ(error_code(c.call("gc")), rpc::kPermissionDenied);

  auto down = c.call("sandbox.teardown", json::object{{"id", id}});
  EXPECT_TRUE(down.result) << describe(down);
}

// Rootless Podman, crun and LXC map the user's subordinate ranges: accepted
// without a global idMappings range covering them; a map past them is not.
TEST_F(DaemonTest, CallersOwnSubordinateRangesMayBeMapped) {
  auto c = daemon_->connect(kTestUid, kTestUid);
  Sandbox mapped(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid, .host_id = kTestSubordinateFirst});
  auto id = unique_name("pod");
  auto r = c.call("sandbox.setup", setup_params(id, mapped.pid()));
  ASSERT_TRUE(r.result) << describe(r);
  EXPECT_TRUE(c.call("sandbox.teardown", json::object{{"id", id}}).result);
  Sandbox beyond(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid, .host_id = kTestSubordinateFirst + 1});
  r = c.call("sandbox.setup", setup_params(unique_name("pod"), beyond.pid()));
  EXPECT_EQ(error_code(r), rpc::kPermissionDenied) << describe(r);
  EXPECT_NE(describe(r).find("subordinate"), std::string::npos) << describe(r);
  // runtime.info tells the caller its ranges.
  auto info = c.call("runtime.info");
  ASSERT_TRUE(info.result) << describe(info);
  EXPECT_EQ(info.result->at("subordinateIds").at("uids").at(0).at("hostID").to_number<std::uint32_t>(),
            kTestSubordinateFirst);
  EXPECT_TRUE(daemon_->record_files().empty());
}

// sandbox.setup "create" (the containerd 2.x / CRI-O flow): the daemon makes
// the user namespace, owned by the caller, with exactly the maps asked for,
// after checking them as it checks any caller's maps.
json::object create_params(const std::string& id, json::array uid_mappings, json::array gid_mappings) {
  return json::object{{"id", id},
                      {"create", json::object{{"uidMappings", std::move(uid_mappings)},
                                              {"gidMappings", std::move(gid_mappings)}}}};
}

json::object id_mapping(std::uint32_t container_id, std::uint32_t host_id, std::uint32_t size) {
  return json::object{{"containerID", container_id}, {"hostID", host_id}, {"size", size}};
}

// What a process joining the pinned user namespace sees as its uid_map.
std::string uid_map_of(const std::string& userns_pin) {
  return sh("nsenter --user=" + userns_pin + " cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //'").out;
}

TEST_F(DaemonTest, CreatedNamespacesAreTheCallersWithTheMapsItMayUse) {
  auto c = daemon_->connect(kTestUid, kTestUid);
  // The caller's own uid as root, its subordinate range for the rest: what
  // rootless Podman maps.
  const json::array uids{id_mapping(0, kTestUid, 1), id_mapping(1, kTestSubordinateFirst, 65536)};
  auto id = unique_name("pod");
  auto r = c.call("sandbox.setup", create_params(id, uids, uids));
  ASSERT_TRUE(r.result) << describe(r);
  const std::string netns_pin(r.result->at("netns").as_string());
  const std::string userns_pin(r.result->at("userns").as_string());
  EXPECT_EQ(userns_pin, daemon_->userns_dir() + "/sandnet-" + id);
  EXPECT_FALSE(r.result->as_object().contains("pid"));
  EXPECT_EQ(uid_map_of(userns_pin),
            "0 " + std::to_string(kTestUid) + " 1\n1 " + std::to_string(kTestSubordinateFirst) + " 65536\n");
  // Owned by the caller (as if it had made it: its runtime may join it), and
  // the netns is that user namespace's.
  {
    unique_fd userns(::open(userns_pin.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(userns);
    uid_t owner = 0;
    ASSERT_EQ(::ioctl(userns.get(), NS_GET_OWNER_UID, &owner), 0);
    EXPECT_EQ(owner, kTestUid);
    unique_fd netns(::open(netns_pin.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(netns);
    unique_fd netns_owner(::ioctl(netns.get(), NS_GET_USERNS));
    ASSERT_TRUE(netns_owner);
    struct stat a {}, b {};
    ASSERT_EQ(::fstat(netns_owner.get(), &a), 0);
    ASSERT_EQ(::fstat(userns.get(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
  }
  CommandResult lo = sh("nsenter --user=" + userns_pin + " --net=" + netns_pin + " ip -o link show lo");
  EXPECT_NE(lo.out.find("UP"), std::string::npos) << lo.out << lo.err;
  EXPECT_EQ(result_ips(*r.result).size(), 1u);
  // get shows both pins; a second setup of the same netns cannot happen (it
  // is new), but the id is taken.
  auto got = c.call("sandbox.get", json::object{{"id", id}});
  ASSERT_TRUE(got.result) << describe(got);
  EXPECT_EQ(got.result->at("userns").as_string(), userns_pin);
  EXPECT_EQ(error_code(c.call("sandbox.setup", create_params(id, uids, uids))), rpc::kAlreadyExists);

  auto down = c.call("sandbox.teardown", json::object{{"id", id}});
  ASSERT_TRUE(down.result) << describe(down);
  EXPECT_TRUE(down.result->at("errors").as_array().empty()) << describe(down);
  EXPECT_FALSE(std::filesystem::exists(netns_pin));
  EXPECT_FALSE(std::filesystem::exists(userns_pin));
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->network()).empty());

  // Maps the caller may not use are refused before anything is made.
  for (const auto& bad : {json::array{id_mapping(0, 300000, 1000)},             // outside every range
                          json::array{id_mapping(0, 0, 1)},                      // host root
                          json::array{id_mapping(0, kTestSubordinateFirst, 65537)}}) {  // one past its range
    auto refused = c.call("sandbox.setup", create_params(unique_name("pod"), bad, uids));
    EXPECT_EQ(error_code(refused), rpc::kPermissionDenied) << describe(refused);
    refused = c.call("sandbox.setup", create_params(unique_name("pod"), uids, bad));
    EXPECT_EQ(error_code(refused), rpc::kPermissionDenied) << describe(refused);
  }
  // A file descriptor has no place in a create request.
  unique_fd self_ns(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  c.send_raw(json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", 9}, {"method", "sandbox.setup"},
                                          {"params", create_params(unique_name("pod"), uids, uids)}}) + "\n",
             std::array<int, 1>{self_ns.get()});
  auto line = c.read_line();
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("takes no file descriptor"), std::string::npos) << *line;
  EXPECT_TRUE(daemon_->record_files().empty());
  EXPECT_TRUE(daemon_->pin_files().empty());
  EXPECT_TRUE(sh("ls -A " + daemon_->userns_dir()).out.empty());
}

TEST_F(DaemonTest, CreatedSandboxIsServedAfterARestartAndStrayUsernsPinsGo) {
  auto c = daemon_->connect();
  const json::array maps{id_mapping(0, 100000, 65536)};
  auto id = unique_name("pod");
  auto r = c.call("sandbox.setup", create_params(id, maps, maps));
  ASSERT_TRUE(r.result) << describe(r);
  const std::string userns_pin(r.result->at("userns").as_string());
  const auto ips = result_ips(*r.result);
  EXPECT_EQ(daemon_->stop(/*kill9=*/true), 128 + SIGKILL);
  // A user namespace pin of no sandbox (a crash between pin and record).
  const std::string stray = daemon_->userns_dir() + "/sandnet-stray1";
  ASSERT_TRUE(sh("touch " + stray + " && mount --bind /proc/self/ns/user " + stray).ok());

  daemon_->start();
  c = daemon_->connect();
  auto got = c.call("sandbox.get", json::object{{"id", id}});
  ASSERT_TRUE(got.result) << describe(got);
  EXPECT_EQ(got.result->at("state").as_string(), "ready");
  EXPECT_EQ(result_ips(*got.result), ips);
  EXPECT_TRUE(c.call("sandbox.check", json::object{{"id", id}}).result);
  EXPECT_TRUE(std::filesystem::exists(userns_pin));
  EXPECT_FALSE(std::filesystem::exists(stray));
  EXPECT_FALSE(sh("findmnt -rn " + stray).ok());
  // gc keeps a live created sandbox.
  ASSERT_TRUE(c.call("gc").result);
  EXPECT_TRUE(c.call("sandbox.get", json::object{{"id", id}}).result);
  auto down = c.call("sandbox.teardown", json::object{{"id", id}});
  EXPECT_TRUE(down.result) << describe(down);
  EXPECT_FALSE(std::filesystem::exists(userns_pin));
}

// sandbox.explain runs a setup's checks and changes nothing; refusals say
// which check failed and what to do.
TEST_F(DaemonTest, ExplainShowsEachCheckAndTheVerdictWithoutChangingAnything) {
  auto steps_of = [](const json::value& result) {
    std::map<std::string, bool> out;
    for (const auto& step : result.at("steps").as_array())
      out[std::string(step.at("check").as_string())] = step.at("ok").as_bool();
    return out;
  };
  auto c = daemon_->connect(kTestUid, kTestUid);
  Sandbox own(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid});
  auto r = c.call("sandbox.explain", json::object{{"pid", own.pid()}});
  ASSERT_TRUE(r.result) << describe(r);
  EXPECT_EQ(r.result->at("verdict").as_string(), "allowed") << describe(r);
  for (const char* check : {"request", "networks", "netns", "owner", "rule", "policy", "attached", "interfaces"})
    EXPECT_TRUE(steps_of(*r.result)[check]) << check << " " << describe(r);
  // Nothing happened: no record, no pin, and lo is still down.
  EXPECT_TRUE(daemon_->record_files().empty());
  EXPECT_TRUE(daemon_->pin_files().empty());
  EXPECT_EQ(own.exec({"ip", "-o", "link", "show", "lo"}).out.find(",UP"), std::string::npos);

  // Refused by policy: the verdict names the failing check's reason and the
  // code the setup would get; the owner step shows whose namespace it is.
  Sandbox roots;
  r = c.call("sandbox.explain", json::object{{"id", "pod9"}, {"pid", roots.pid()}, {"networks", json::array{"other"}}});
  ASSERT_TRUE(r.result) << describe(r);
  EXPECT_EQ(r.result->at("verdict").as_string(), "refused");
  EXPECT_EQ(r.result->at("code").to_number<int>(), rpc::kNotFound) << describe(r);  // the first failure: "other"
  EXPECT_FALSE(steps_of(*r.result)["networks"]);
  EXPECT_EQ(steps_of(*r.result).count("policy"), 0u) << describe(r);  // needs the networks
  r = c.call("sandbox.explain", json::object{{"pid", roots.pid()}});
  ASSERT_TRUE(r.result) << describe(r);
  EXPECT_EQ(r.result->at("code").to_number<int>(), rpc::kPermissionDenied) << describe(r);
  EXPECT_NE(describe(r).find("belongs to uid 0"), std::string::npos) << describe(r);
  EXPECT_NE(describe(r).find("made by the runtime of the uid that asks"), std::string::npos) << describe(r);

  // The host's netns: refused for root too, with the next step to take.
  auto root = daemon_->connect();
  r = root.call("sandbox.explain", json::object{{"pid", static_cast<int>(::getpid())}});
  ASSERT_TRUE(r.result) << describe(r);
  EXPECT_EQ(r.result->at("verdict").as_string(), "refused");
  EXPECT_NE(std::string(r.result->at("reason").as_string()).find("a network namespace of its own"), std::string::npos);

  // An attached netns is refused naming the sandbox; the sandbox itself is
  // explained from its record, pin and cache.
  auto id = unique_name("pod");
  ASSERT_TRUE(c.call("sandbox.setup", setup_params(id, own.pid())).result);
  r = c.call("sandbox.explain", json::object{{"id", "again"}, {"pid", own.pid()}});
  ASSERT_TRUE(r.result) << describe(r);
  EXPECT_FALSE(steps_of(*r.result)["attached"]);
  EXPECT_NE(std::string(r.result->at("reason").as_string()).find("sandbox " + id), std::string::npos) << describe(r);
  r = c.call("sandbox.explain", json::object{{"id", id}});
  ASSERT_TRUE(r.result) << describe(r);
  EXPECT_EQ(r.result->at("verdict").as_string(), "healthy") << describe(r);
  EXPECT_TRUE(r.result->at("pin").at("holdsRecordedNetns").as_bool());
  EXPECT_TRUE(r.result->at("attachments").at(0).at("cniCacheEntry").as_bool());
  // Another user may not look at it.
  auto other = daemon_->connect(kOtherUid, kOtherUid);
  EXPECT_EQ(error_code(other.call("sandbox.explain", json::object{{"id", id}})), rpc::kPermissionDenied);
  // A pin gone behind the daemon's back is a problem with a next step.
  const std::string pin(c.call("sandbox.get", json::object{{"id", id}}).result->at("netns").as_string());
  ASSERT_EQ(::umount2(pin.c_str(), MNT_DETACH), 0);
  r = c.call("sandbox.explain", json::object{{"id", id}});
  ASSERT_TRUE(r.result) << describe(r);
  EXPECT_EQ(r.result->at("verdict").as_string(), "needs attention");
  EXPECT_NE(describe(r).find("sandnetctl teardown " + id), std::string::npos) << describe(r);
  EXPECT_TRUE(c.call("sandbox.teardown", json::object{{"id", id}}).result);
}

TEST_F(DaemonTest, UnknownCallerIsRefused) {
  Sandbox sandbox(SandboxOptions{.owner_uid = 64999, .owner_gid = 64999});
  auto c = daemon_->connect(64999, 64999);
  auto r = c.call("sandbox.setup", setup_params(unique_name("pod"), sandbox.pid()));
  EXPECT_EQ(error_code(r), rpc::kPermissionDenied) << describe(r);
  EXPECT_TRUE(daemon_->record_files().empty());
  EXPECT_TRUE(c.call("networks.list").result->at("networks").as_array().empty());
}

// lxc-usernet's @group lines: a uid that no rule names is served through a
// gid rule naming one of its supplementary groups (SO_PEERGROUPS), and only
// while it is in that group.
TEST_F(DaemonTest, SupplementaryGroupRuleServesOnlyTheGroupsMembers) {
  Sandbox sandbox(SandboxOptions{.owner_uid = kGroupMemberUid, .owner_gid = kGroupMemberUid});
  auto outsider = daemon_->connect(kGroupMemberUid, kGroupMemberUid, {kTestGroupGid + 1});
  auto r = outsider.call("sandbox.setup", setup_params(unique_name("pod"), sandbox.pid()));
  EXPECT_EQ(error_code(r), rpc::kPermissionDenied) << describe(r);
  EXPECT_NE(describe(r).find("no policy rule for uid " + std::to_string(kGroupMemberUid)), std::string::npos)
      << describe(r);
  EXPECT_TRUE(outsider.call("networks.list").result->at("networks").as_array().empty());
  EXPECT_TRUE(daemon_->record_files().empty());

  auto member = daemon_->connect(kGroupMemberUid, kGroupMemberUid, {kTestGroupGid + 1, kTestGroupGid});
  auto nets = member.call("networks.list");
  ASSERT_TRUE(nets.result) << describe(nets);
  ASSERT_EQ(nets.result->at("networks").as_array().size(), 1u) << describe(nets);
  EXPECT_EQ(nets.result->at("networks").at(0).at("name").as_string(), daemon_->network());
  auto id = unique_name("pod");
  r = member.call("sandbox.setup", setup_params(id, sandbox.pid()));
  ASSERT_TRUE(r.result) << describe(r);
  EXPECT_EQ(r.result->at("ownerUID").to_number<uid_t>(), kGroupMemberUid);
  // The rule grants only its networks.
  Sandbox second(SandboxOptions{.owner_uid = kGroupMemberUid, .owner_gid = kGroupMemberUid});
  auto params = setup_params(unique_name("pod"), second.pid());
  params["networks"] = json::array{json::string(daemon_->ported_network())};
  r = member.call("sandbox.setup", params);
  EXPECT_EQ(error_code(r), rpc::kPermissionDenied) << describe(r);
  EXPECT_NE(describe(r).find("policy rule gid " + std::to_string(kTestGroupGid)), std::string::npos) << describe(r);
  auto down = member.call("sandbox.teardown", json::object{{"id", id}});
  ASSERT_TRUE(down.result) << describe(down);
  EXPECT_TRUE(down.result->at("existed").as_bool());
}

TEST_F(DaemonTest, NonRootNeedsAUserNamespaceItOwnsWithMappedIdsInRange) {
  auto c = daemon_->connect(kTestUid, kTestUid);
  {  // netns owned by the initial user namespace (root made it)
    Sandbox sandbox(SandboxOptions{.new_user_ns = false});
    auto r = c.call("sandbox.setup", setup_params(unique_name("pod"), sandbox.pid()));
    EXPECT_EQ(error_code(r), rpc::kPermissionDenied) << describe(r);
  }
  {  // root-owned user namespace
    Sandbox sandbox;
    auto r = c.call("sandbox.setup", setup_params(unique_name("pod"), sandbox.pid()));
    EXPECT_EQ(error_code(r), rpc::kPermissionDenied) << describe(r);
  }
  {  // own user namespace, but mapped outside idMappings
    Sandbox sandbox(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid, .host_id = 300000, .size = 1000});
    auto r = c.call("sandbox.setup", setup_params(unique_name("pod"), sandbox.pid()));
    EXPECT_EQ(error_code(r), rpc::kPermissionDenied) << describe(r);
  }
  EXPECT_TRUE(daemon_->record_files().empty());
  EXPECT_TRUE(daemon_->pin_files().empty());
}

TEST_F(DaemonTest, HostAndDaemonNetnsAreRefusedEvenForRoot) {
  auto c = daemon_->connect();
  // The host's netns passed as an fd (pid 1 may be out of reach in a container).
  unique_fd host_ns(::open("/proc/1/ns/net", O_RDONLY | O_CLOEXEC));
  if (!host_ns) host_ns.reset(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(host_ns);
  int fds[] = {host_ns.get()};
  auto host = c.call("sandbox.setup", json::object{{"id", unique_name("pod")}, {"fd", "netns"}}, fds);
  EXPECT_EQ(error_code(host), rpc::kPermissionDenied) << describe(host);
  auto self = c.call("sandbox.setup", setup_params(unique_name("pod"), ::getpid()));
  EXPECT_EQ(error_code(self), rpc::kPermissionDenied) << describe(self);
  EXPECT_TRUE(daemon_->record_files().empty());
}

TEST_F(DaemonTest, BadIdsNamesAndArgsAreRefusedBeforeAnythingIsTouched) {
  Sandbox sandbox;
  auto c = daemon_->connect();
  const json::object bad[] = {
      {{"id", "../etc"}, {"pid", sandbox.pid()}},
      {{"id", "a/b"}, {"pid", sandbox.pid()}},
      {{"id", "bad\nid"}, {"pid", sandbox.pid()}},
      {{"id", "ok1"}, {"pid", sandbox.pid()}, {"networks", json::array{"../net"}}},
      {{"id", "ok2"}, {"pid", sandbox.pid()}, {"ifname", "eth0/x"}},
      {{"id", "ok3"}, {"pid", sandbox.pid()}, {"ifname", ".."}},
      {{"id", "ok4"}, {"pid", sandbox.pid()}, {"args", json::object{{"K;X", "v"}}}},
      {{"id", "ok5"}, {"pid", sandbox.pid()}, {"args", json::object{{"K", "v;IgnoreUnknown=1"}}}},
      {{"id", "ok6"}, {"pid", sandbox.pid()}, {"pid2", 1}},
      {{"id", 7}, {"pid", sandbox.pid()}},
      // Inputs a plugin would refuse on ADD and again on every DEL.
      {{"id", "ok7"}, {"pid", sandbox.pid()}, {"ifname", "lo"}},
      {{"id", "ok8"}, {"pid", sandbox.pid()}, {"networks", json::array{json::object{{"name", "x"}, {"ifname", "lo"}}}}},
      {{"id", "ok9"}, {"pid", sandbox.pid()}, {"args", json::object{{"K8S_POD_NAME", std::string(140 * 1024, 'a')}}}},
      {{"id", "ok10"}, {"pid", sandbox.pid()},
       {"capabilities", json::object{{"portMappings", json::array{json::object{{"hostPort", 8080}, {"containerPort", 0}}}}}}},
      // IDs whose pin or record name would not fit NAME_MAX.
      {{"id", std::string(129, 'a')}, {"pid", sandbox.pid()}},
      {{"id", std::string(247, 'a')}, {"pid", sandbox.pid()}},
      {{"id", std::string(300, 'a')}, {"pid", sandbox.pid()}},
  };
  for (const auto& params : bad) {
    auto r = c.call("sandbox.setup", params);
    EXPECT_EQ(error_code(r), rpc::kInvalidParams) << json::serialize(params).substr(0, 200) << " -> " << describe(r);
  }
  // A non-root caller's refused setups use up none of its quota (maxSandboxes 2).
  {
    Sandbox own1(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid});
    Sandbox own2(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid});
    auto user = daemon_->connect(kTestUid, kTestUid);
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(error_code(user.call("sandbox.setup", setup_params(std::string(200 + i, 'b'), own1.pid()))),
                rpc::kInvalidParams);
    auto id1 = unique_name("pod"), id2 = unique_name("pod");
    EXPECT_TRUE(user.call("sandbox.setup", setup_params(id1, own1.pid())).result);
    EXPECT_TRUE(user.call("sandbox.setup", setup_params(id2, own2.pid())).result);
    EXPECT_TRUE(user.call("sandbox.teardown", json::object{{"id", id1}}).result);
    EXPECT_TRUE(user.call("sandbox.teardown", json::object{{"id", id2}}).result);
  }
  EXPECT_EQ(error_code(c.call("sandbox.get", json::object{{"id", "../x"}})), rpc::kInvalidParams);
  EXPECT_EQ(error_code(c.call("sandbox.teardown", json::object{{"id", "a/b"}})), rpc::kInvalidParams);
  EXPECT_TRUE(daemon_->record_files().empty());
  EXPECT_TRUE(daemon_->pin_files().empty());
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->network()).empty());
}

TEST_F(DaemonTest, CapabilitiesHostPortsAndMaxSandboxesFollowPolicy) {
  auto c = daemon_->connect(kTestUid, kTestUid);
  Sandbox s1(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid});
  Sandbox s2(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid});
  Sandbox s3(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid});
  auto ports = [](int host_port) {
    return json::object{{"portMappings", json::array{json::object{
                                             {"hostPort", host_port}, {"containerPort", 80}, {"protocol", "tcp"}}}}};
  };
  auto params = setup_params(unique_name("pod"), s1.pid());
  params["capabilities"] = ports(8080);
  auto r = c.call("sandbox.setup", params);
  EXPECT_EQ(error_code(r), rpc::kPermissionDenied) << describe(r);
  params["capabilities"] = json::object{{"bandwidth", json::object{{"ingressRate", 1000}}}};
  r = c.call("sandbox.setup", params);
  EXPECT_EQ(error_code(r), rpc::kPermissionDenied) << describe(r);
  params["networks"] = json::array{json::string(daemon_->failing_network())};
  params.erase("capabilities");
  r = c.call("sandbox.setup", params);
  EXPECT_EQ(error_code(r), rpc::kPermissionDenied) << describe(r);
  EXPECT_TRUE(daemon_->record_files().empty());

  // Allowed port range (the test network has no portmap plugin, so nothing
  // is programmed; the policy decision is what is tested).
  auto ok = setup_params(unique_name("pod"), s1.pid());
  ok["capabilities"] = ports(30005);
  auto id1 = std::string(ok.at("id").as_string());
  ASSERT_TRUE(c.call("sandbox.setup", ok).result);
  auto id2 = unique_name("pod");
  ASSERT_TRUE(c.call("sandbox.setup", setup_params(id2, s2.pid())).result);
  r = c.call("sandbox.setup", setup_params(unique_name("pod"), s3.pid()));
  EXPECT_EQ(error_code(r), rpc::kPermissionDenied) << describe(r);
  EXPECT_TRUE(c.call("sandbox.teardown", json::object{{"id", id1}}).result);
  EXPECT_TRUE(c.call("sandbox.teardown", json::object{{"id", id2}}).result);
}

// The bypass found in the field: policy checked "hostPort" while portmap read
// "HostPort" (Go decodes keys case-insensitively) and mapped port 22. Such
// requests are refused as bad input before anything is reserved.
TEST_F(DaemonTest, CaseVariantOrDuplicateHostPortIsRefusedBeforeAnythingIsTouched) {
  auto c = daemon_->connect(kTestUid, kTestUid);
  Sandbox s(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid});
  auto params = setup_params(unique_name("pod"), s.pid());
  params["capabilities"] = json::object{
      {"portMappings", json::array{json::object{{"hostPort", 30080}, {"HostPort", 22}, {"containerPort", 80}}}}};
  auto r = c.call("sandbox.setup", params);
  EXPECT_EQ(error_code(r), rpc::kInvalidParams) << describe(r);
  EXPECT_NE(describe(r).find("HostPort"), std::string::npos) << describe(r);
  // The same key twice cannot be built with json::object: send the text.
  c.send_raw(R"({"jsonrpc":"2.0","id":9,"method":"sandbox.setup","params":{"id":"dup","pid":)" +
             std::to_string(s.pid()) +
             R"(,"capabilities":{"portMappings":[{"hostPort":30080,"containerPort":80,"hostPort":22}]}}})"
             "\n");
  auto line = c.read_line(5s);
  ASSERT_TRUE(line);
  EXPECT_EQ(rpc::parse_response(*line).error->code, rpc::kInvalidParams) << *line;
  // Nothing reserved: the caller's quota (maxSandboxes 2) is intact.
  EXPECT_TRUE(daemon_->record_files().empty());
  EXPECT_TRUE(daemon_->pin_files().empty());
  Sandbox s2(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid});
  auto id1 = unique_name("pod"), id2 = unique_name("pod");
  ASSERT_TRUE(c.call("sandbox.setup", setup_params(id1, s.pid())).result);
  ASSERT_TRUE(c.call("sandbox.setup", setup_params(id2, s2.pid())).result);
  EXPECT_TRUE(c.call("sandbox.teardown", json::object{{"id", id1}}).result);
  EXPECT_TRUE(c.call("sandbox.teardown", json::object{{"id", id2}}).result);
}

// ------------------------------------------------------------ bad input

TEST_F(DaemonTest, BadInputGetsAnErrorAndOthersKeepBeingServed) {
  // Another client, served between the bad ones (fresh connections: an idle
  // one would itself be closed after the 3 s idle timeout).
  auto others_served = [&] { return bool(daemon_->connect().call("status").result); };
  {
    auto c = daemon_->connect();
    c.send_raw("this is not json\n");
    auto line = c.read_line(5s);
    ASSERT_TRUE(line);
    EXPECT_EQ(rpc::parse_response(*line).error->code, rpc::kParseError);
    c.send_raw("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sandbox.get\",\"params\":{\"id\":42}}\n");
    line = c.read_line(5s);
    ASSERT_TRUE(line);
    EXPECT_EQ(rpc::parse_response(*line).error->code, rpc::kInvalidParams);
    c.send_raw("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"no.such.method\"}\n");
    line = c.read_line(5s);
    ASSERT_TRUE(line);
    EXPECT_EQ(rpc::parse_response(*line).error->code, rpc::kMethodNotFound);
    // Same connection still serves valid requests, replies in order.
    c.send_raw(rpc::serialize_request(3, "status", {}) + rpc::serialize_request(4, "runtime.info", {}));
    auto a = rpc::parse_response(*c.read_line(5s));
    auto b = rpc::parse_response(*c.read_line(5s));
    EXPECT_EQ(a.id.as_int64(), 3);
    EXPECT_EQ(b.id.as_int64(), 4);
  }
  {  // a 2 MiB line: error reply, then the daemon closes
    auto c = daemon_->connect();
    std::string huge = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\",\"params\":{\"x\":\"" +
                       std::string(2 << 20, 'a') + "\"}}\n";
    std::thread writer([&] {
      try {
        c.send_raw(huge);
      } catch (const Error&) {
      }  // the daemon may close before it has read everything
    });
    auto line = c.read_line(10s);
    writer.join();
    ASSERT_TRUE(line);
    EXPECT_EQ(rpc::parse_response(*line).error->code, rpc::kInvalidRequest);
    EXPECT_TRUE(c.wait_closed(5s));
  }
  {  // half a line, then silence: closed after the idle timeout (3 s here)
    auto c = daemon_->connect();
    c.send_raw("{\"jsonrpc\":\"2.0\",");
    EXPECT_TRUE(others_served());
    EXPECT_FALSE(c.wait_closed(1s));  // not before the idle timeout
    EXPECT_TRUE(c.wait_closed(10s));
  }
  EXPECT_TRUE(others_served());
}

class ManyConnectionsTest : public DaemonTest {
  DaemonOptions options() override { return DaemonOptions{.max_connections = 64, .idle_timeout_seconds = 60}; }
};

TEST_F(ManyConnectionsTest, TwoThousandConnectionsAreRefusedPolitelyWhileOthersAreServed) {
  // The crowd is root: maxConnections (64) plus root's reserve (8 by default).
  constexpr std::size_t kAccepted = 64 + 8;
  std::vector<Conn> conns;
  std::size_t refused = 0, failed_connect = 0;
  for (int i = 0; i < 2000; ++i) {
    try {
      conns.emplace_back(daemon_->socket());
    } catch (const Error&) {
      ++failed_connect;  // the listen backlog is full: also a refusal
    }
  }
  for (auto& c : conns) {
    if (c.wait_closed(0ms)) ++refused;
  }
  // Give the daemon time to refuse the rest of the backlog.
  std::this_thread::sleep_for(500ms);
  refused = 0;
  for (auto& c : conns)
    if (c.wait_closed(20ms)) ++refused;
  EXPECT_GE(refused + failed_connect, 2000u - kAccepted);
  // The accepted ones are served.
  std::size_t served = 0;
  for (auto& c : conns) {
    try {
      if (c.call("status").result) ++served;
    } catch (const Error&) {
    }
  }
  EXPECT_EQ(served, kAccepted);
  conns.clear();
  // Slots come back once the crowd leaves.
  std::this_thread::sleep_for(300ms);
  auto fresh = daemon_->connect();
  EXPECT_TRUE(fresh.call("status").result);
}

// ------------------------------------------------------------ state and failure

TEST_F(DaemonTest, FailedSetupIsRolledBackWithTheOriginalError) {
  Sandbox sandbox;
  auto c = daemon_->connect();
  auto id = unique_name("pod");
  auto params = setup_params(id, sandbox.pid());
  params["networks"] = json::array{json::string(daemon_->network()), json::string(daemon_->failing_network())};
  auto r = c.call("sandbox.setup", params);
  ASSERT_TRUE(r.error) << describe(r);
  EXPECT_EQ(r.error->code, rpc::kPluginFailed) << describe(r);
  EXPECT_NE(r.error->message.find("setup " + id), std::string::npos) << r.error->message;
  ASSERT_TRUE(r.error->data.is_object());
  EXPECT_TRUE(r.error->data.as_object().contains("cni")) << describe(r);
  // Everything undone: both networks' IPs, the pin, the record, the cache, eth0/eth1.
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->network()).empty());
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->failing_network()).empty());
  EXPECT_TRUE(daemon_->record_files().empty());
  EXPECT_TRUE(daemon_->pin_files().empty());
  std::error_code ec;
  EXPECT_TRUE(std::filesystem::is_empty(daemon_->cache_dir() + "/results", ec) || ec);
  auto links = sandbox.exec({"ip", "-o", "link"});
  EXPECT_EQ(links.out.find("eth0"), std::string::npos) << links.out;
  // The id can be used again.
  auto again = c.call("sandbox.setup", setup_params(id, sandbox.pid()));
  EXPECT_TRUE(again.result) << describe(again);
  EXPECT_TRUE(c.call("sandbox.teardown", json::object{{"id", id}}).result);
}

TEST_F(DaemonTest, TeardownWhoseDelFailsKeepsTheSandboxForARetry) {
  Sandbox sandbox;
  auto c = daemon_->connect();
  auto id = unique_name("pod");
  auto params = setup_params(id, sandbox.pid());
  params["networks"] = json::array{json::string(daemon_->flaky_network())};
  auto up = c.call("sandbox.setup", params);
  ASSERT_TRUE(up.result) << describe(up);

  ASSERT_TRUE(sh("touch " + daemon_->del_fails_marker()).ok());
  auto down = c.call("sandbox.teardown", json::object{{"id", id}});
  ASSERT_TRUE(down.result) << describe(down);
  const auto& errors = down.result->at("errors").as_array();
  ASSERT_FALSE(errors.empty()) << describe(down);
  EXPECT_NE(json::serialize(errors).find("DEL fails on purpose"), std::string::npos) << describe(down);
  // Nothing is forgotten: the record (failed), the live pin and the CNI cache
  // entry stay for the retry (the other plugins' DELs ran: bridge released
  // the IP, as a best-effort teardown does).
  auto got = c.call("sandbox.get", json::object{{"id", id}});
  ASSERT_TRUE(got.result) << describe(got);
  EXPECT_EQ(got.result->at("state"), "failed");
  EXPECT_EQ(daemon_->pin_files().size(), 1u);
  EXPECT_FALSE(std::filesystem::is_empty(daemon_->cache_dir() + "/results"));
  // Another setup under that id is refused while it exists.
  EXPECT_EQ(error_code(c.call("sandbox.setup", setup_params(id, sandbox.pid()))), rpc::kAlreadyExists);

  // The retry, once DEL works again, DELs against the live netns and forgets it.
  ASSERT_TRUE(sh("rm " + daemon_->del_fails_marker()).ok());
  auto retry = c.call("sandbox.teardown", json::object{{"id", id}});
  ASSERT_TRUE(retry.result) << describe(retry);
  EXPECT_TRUE(retry.result->at("errors").as_array().empty()) << describe(retry);
  EXPECT_TRUE(retry.result->at("existed").as_bool());
  EXPECT_EQ(error_code(c.call("sandbox.get", json::object{{"id", id}})), rpc::kNotFound);
  EXPECT_TRUE(daemon_->pin_files().empty());
  EXPECT_TRUE(daemon_->record_files().empty());
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->flaky_network()).empty());
  auto links = sandbox.exec({"ip", "-o", "link"});
  EXPECT_EQ(links.out.find("eth0"), std::string::npos) << links.out;
}

// A DEL that can never succeed must not keep a sandbox forever: root may
// forget it, and gc later DELs the kept CNI cache entry.
TEST_F(DaemonTest, TeardownWithForceForgetsASandboxWhoseDelFails) {
  Sandbox sandbox(SandboxOptions{.owner_uid = kTestUid, .owner_gid = kTestUid});
  auto root = daemon_->connect();
  auto owner = daemon_->connect(kTestUid, kTestUid);
  auto id = unique_name("pod");
  auto params = setup_params(id, sandbox.pid());
  params["networks"] = json::array{json::string(daemon_->flaky_network())};
  ASSERT_TRUE(root.call("sandbox.setup", params).result);
  ASSERT_TRUE(sh("touch " + daemon_->del_fails_marker()).ok());

  // Only root may force.
  auto r = owner.call("sandbox.teardown", json::object{{"id", id}, {"force", true}});
  EXPECT_EQ(error_code(r), rpc::kPermissionDenied) << describe(r);
  r = root.call("sandbox.teardown", json::object{{"id", id}, {"force", true}});
  ASSERT_TRUE(r.result) << describe(r);
  EXPECT_TRUE(r.result->at("forced").as_bool()) << describe(r);
  const std::string errors = json::serialize(r.result->at("errors"));
  EXPECT_NE(errors.find("DEL fails on purpose"), std::string::npos) << errors;
  EXPECT_NE(errors.find("left behind"), std::string::npos) << errors;
  EXPECT_EQ(error_code(root.call("sandbox.get", json::object{{"id", id}})), rpc::kNotFound);
  EXPECT_TRUE(daemon_->pin_files().empty());
  EXPECT_TRUE(daemon_->record_files().empty());
  // The CNI cache entry is kept for gc.
  EXPECT_FALSE(std::filesystem::is_empty(daemon_->cache_dir() + "/results"));

  // Once DEL works, gc finishes the job from the kept cache entry.
  ASSERT_TRUE(sh("rm " + daemon_->del_fails_marker()).ok());
  auto gc = root.call("gc");
  ASSERT_TRUE(gc.result) << describe(gc);
  EXPECT_TRUE(gc.result->at("errors").as_array().empty()) << describe(gc);
  EXPECT_TRUE(std::filesystem::is_empty(daemon_->cache_dir() + "/results"));
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->flaky_network()).empty());
}

class MaintenanceTest : public DaemonTest {
  DaemonOptions options() override { return DaemonOptions{.retry_seconds = 1, .gc_interval_seconds = 2}; }
};

// A DEL that fails transiently (iptables EBUSY was seen) is retried in the
// background until it succeeds; status shows the retry meanwhile.
TEST_F(MaintenanceTest, FailedTeardownIsRetriedInTheBackgroundAndGcRunsPeriodically) {
  Sandbox sandbox;
  auto c = daemon_->connect();
  auto id = unique_name("pod");
  auto params = setup_params(id, sandbox.pid());
  params["networks"] = json::array{json::string(daemon_->flaky_network())};
  ASSERT_TRUE(c.call("sandbox.setup", params).result);
  ASSERT_TRUE(sh("touch " + daemon_->del_fails_marker()).ok());
  auto down = c.call("sandbox.teardown", json::object{{"id", id}});
  ASSERT_TRUE(down.result) << describe(down);
  ASSERT_FALSE(down.result->at("errors").as_array().empty()) << describe(down);

  auto status = c.call("status");
  ASSERT_TRUE(status.result) << describe(status);
  const auto& m = status.result->at("maintenance");
  EXPECT_EQ(m.at("failedTeardowns").to_number<std::uint64_t>(), 1u) << m;
  EXPECT_EQ(m.at("retries").at(0).at("id").as_string(), id) << m;
  EXPECT_NE(json::serialize(m).find("DEL fails on purpose"), std::string::npos) << m;
  // Another user sees no other user's retries.
  auto other = daemon_->connect(kOtherUid, kOtherUid).call("status");
  ASSERT_TRUE(other.result) << describe(other);
  EXPECT_TRUE(other.result->at("maintenance").at("retries").as_array().empty()) << describe(other);

  // Still failing after a retry or two; then DEL works and a retry finishes it.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(c.call("sandbox.get", json::object{{"id", id}}).result->at("state"), "failed");
  ASSERT_TRUE(sh("rm " + daemon_->del_fails_marker()).ok());
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    gone = error_code(c.call("sandbox.get", json::object{{"id", id}})) == rpc::kNotFound;
  }
  EXPECT_TRUE(gone) << daemon_->log();
  EXPECT_TRUE(daemon_->pin_files().empty());
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->flaky_network()).empty());
  status = c.call("status");
  EXPECT_EQ(status.result->at("maintenance").at("retries").as_array().size(), 0u) << describe(status);
  // Periodic gc (every 2 s here) has run and says so.
  EXPECT_TRUE(status.result->at("maintenance").as_object().contains("lastGc")) << describe(status);
}

TEST_F(DaemonTest, RecordIsWrittenBeforeThePluginsAndUpdatedAfter) {
  Sandbox sandbox;
  auto c = daemon_->connect();
  auto id = unique_name("pod");
  // Watch the state dir while the setup runs: the record must appear in
  // "setting-up" with the attachment "adding" before it becomes "ready".
  std::atomic<bool> done{false};
  std::vector<std::string> seen;
  auto observe = [&] {
    auto path = daemon_->state_dir() + "/sandboxes/" + id + ".json";
    try {
      auto v = newest_record(path);
      std::string state(v.at("state").as_string());
      std::string phase = v.at("attachments").as_array().empty()
                              ? "-"
                              : std::string(v.at("attachments").at(0).at("phase").as_string());
      auto s = state + "/" + phase;
      if (seen.empty() || seen.back() != s) seen.push_back(s);
    } catch (const std::exception&) {
    }
  };
  std::thread watcher([&] {
    while (!done) observe();
  });
  auto params = setup_params(id, sandbox.pid());
  params["networks"] = json::array{json::string(daemon_->slow_network())};
  auto r = c.call("sandbox.setup", params);
  done = true;
  watcher.join();
  observe();  // the state the reply was sent in
  ASSERT_TRUE(r.result) << describe(r);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front().rfind("setting-up", 0), 0u) << testing::PrintToString(seen);
  EXPECT_NE(std::find(seen.begin(), seen.end(), "setting-up/adding"), seen.end()) << testing::PrintToString(seen);
  EXPECT_EQ(seen.back(), "ready/added") << testing::PrintToString(seen);
  auto record = newest_record(daemon_->state_dir() + "/sandboxes/" + id + ".json");
  EXPECT_EQ(record.at("attachments").at(0).at("result"), r.result->at("attachments").at(0).at("result"));
  EXPECT_TRUE(c.call("sandbox.teardown", json::object{{"id", id}}).result);
}

TEST_F(DaemonTest, RestartServesFinishedSandboxesAndRollsBackHalfDoneOnes) {
  Sandbox sandbox;
  Sandbox half;
  auto id = unique_name("pod");
  std::vector<std::string> ips;
  {
    auto c = daemon_->connect();
    auto r = c.call("sandbox.setup", setup_params(id, sandbox.pid()));
    ASSERT_TRUE(r.result) << describe(r);
    ips = result_ips(*r.result);
  }
  // A half-done setup: record "setting-up" with an attachment "adding" and a
  // live pin, as a crash in the middle of ADD leaves it.
  auto half_id = unique_name("half");
  {
    auto c = daemon_->connect();
    auto r = c.call("sandbox.setup", setup_params(half_id, half.pid()));
    ASSERT_TRUE(r.result) << describe(r);
  }
  EXPECT_EQ(daemon_->stop(/*kill9=*/true), 128 + SIGKILL);
  auto half_path = daemon_->state_dir() + "/sandboxes/" + half_id + ".json";
  auto record = newest_record(half_path).as_object();
  record["state"] = "setting-up";
  record["attachments"].as_array()[0].as_object()["phase"] = "adding";
  record["attachments"].as_array()[0].as_object()["result"] = nullptr;
  fs::write_file_atomic(half_path, json::serialize(record), 0600);
  // A crash in the middle of ADD leaves no CNI cache entry (it is written when
  // the list's ADD finished; with it, recovery serves the sandbox again).
  for (const auto& entry : std::filesystem::directory_iterator(daemon_->cache_dir() + "/results"))
    if (entry.path().filename().string().find(half_id) != std::string::npos) std::filesystem::remove(entry.path());
  // A stale pin of ours without a record (ours: marked in stateDir/pins),
  // and one that another tool made under our prefix, which must stay.
  auto stale = daemon_->netns_dir() + "/sandnet-stale1";
  ASSERT_TRUE(sh("touch " + stale + " " + daemon_->state_dir() + "/pins/sandnet-stale1").ok());
  auto not_ours = daemon_->netns_dir() + "/sandnet-notours";
  ASSERT_TRUE(sh("touch " + not_ours).ok());

  daemon_->start();
  auto c = daemon_->connect();
  auto got = c.call("sandbox.get", json::object{{"id", id}});
  ASSERT_TRUE(got.result) << describe(got);
  EXPECT_EQ(result_ips(*got.result), ips);
  EXPECT_TRUE(c.call("sandbox.check", json::object{{"id", id}}).result);
  EXPECT_EQ(error_code(c.call("sandbox.get", json::object{{"id", half_id}})), rpc::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(half_path));
  EXPECT_FALSE(std::filesystem::exists(daemon_->netns_dir() + "/sandnet-" + half_id));
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_FALSE(std::filesystem::exists(daemon_->state_dir() + "/pins/sandnet-stale1"));
  EXPECT_TRUE(std::filesystem::exists(not_ours));
  ASSERT_TRUE(c.call("gc").result);
  EXPECT_TRUE(std::filesystem::exists(not_ours));  // gc leaves it too
  std::filesystem::remove(not_ours);
  EXPECT_EQ(daemon_->allocated_ips(daemon_->network()).size(), 1u);
  EXPECT_EQ(half.exec({"ip", "-o", "link"}).out.find("eth0"), std::string::npos);
  EXPECT_TRUE(c.call("sandbox.teardown", json::object{{"id", id}}).result);
}

// A record corrupted while the daemon was down must not leak its network
// (veth, IP, cache entry) nor let gc free an IP still in use: recovery DELs
// what the CNI cache knows of the sandbox before unpinning it.
TEST_F(DaemonTest, CorruptRecordsAreDeletedFromTheCniCacheNotLeaked) {
  const std::vector<std::string> damages = {"garbage", "truncated", "symlink", "directory", "wrong-type"};
  std::vector<std::unique_ptr<Sandbox>> boxes;
  std::vector<std::string> ids;
  auto c = daemon_->connect();
  for (const auto& damage : damages) {
    boxes.push_back(std::make_unique<Sandbox>());
    ids.push_back(unique_name(damage.substr(0, 4)));
    ASSERT_TRUE(c.call("sandbox.setup", setup_params(ids.back(), boxes.back()->pid())).result);
  }
  EXPECT_EQ(daemon_->allocated_ips(daemon_->network()).size(), damages.size());
  daemon_->stop();
  for (std::size_t i = 0; i < damages.size(); ++i) {
    const auto path = daemon_->state_dir() + "/sandboxes/" + ids[i] + ".json";
    const auto& damage = damages[i];
    if (damage == "garbage") fs::write_file_atomic(path, "\x01\x02 not json at all", 0600);
    if (damage == "truncated") fs::write_file_atomic(path, "{\"version\":1,\"id\":\"", 0600);
    if (damage == "wrong-type") fs::write_file_atomic(path, "[1,2,3]\n", 0600);
    if (damage == "symlink") {
      std::filesystem::remove(path);
      std::filesystem::create_symlink("/etc/passwd", path);
    }
    if (damage == "directory") {
      std::filesystem::remove(path);
      std::filesystem::create_directory(path);
    }
  }
  daemon_->start();
  auto after = daemon_->connect();
  for (std::size_t i = 0; i < damages.size(); ++i) {
    EXPECT_EQ(error_code(after.call("sandbox.get", json::object{{"id", ids[i]}})), rpc::kNotFound) << damages[i];
    EXPECT_FALSE(std::filesystem::exists(daemon_->netns_dir() + "/sandnet-" + ids[i])) << damages[i];
    EXPECT_EQ(boxes[i]->exec({"ip", "-o", "link"}).out.find("eth0"), std::string::npos) << damages[i];
  }
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->network()).empty());
  EXPECT_TRUE(std::filesystem::is_empty(daemon_->cache_dir() + "/results"));
  EXPECT_TRUE(std::filesystem::exists("/etc/passwd"));  // the symlink was not followed
  // The damaged files are kept aside for a human; gc then finds nothing to do.
  auto gc = after.call("gc");
  ASSERT_TRUE(gc.result) << describe(gc);
  EXPECT_TRUE(gc.result->at("errors").as_array().empty()) << describe(gc);
  for (const auto& entry : std::filesystem::directory_iterator(daemon_->state_dir() + "/sandboxes"))
    std::filesystem::remove_all(entry.path());
}

// The state line that marks a setup ready is appended without fsync: a torn
// or lost last line must not roll back a sandbox whose ADDs all finished.
TEST_F(DaemonTest, TornReadyLineDoesNotRollBackAFinishedSetup) {
  Sandbox sandbox;
  auto id = unique_name("pod");
  std::vector<std::string> ips;
  {
    auto r = daemon_->connect().call("sandbox.setup", setup_params(id, sandbox.pid()));
    ASSERT_TRUE(r.result) << describe(r);
    ips = result_ips(*r.result);
  }
  EXPECT_EQ(daemon_->stop(/*kill9=*/true), 128 + SIGKILL);
  const auto path = daemon_->state_dir() + "/sandboxes/" + id + ".json";
  std::string text = fs::read_file(path);
  const auto first_end = text.find('\n');
  ASSERT_NE(first_end, std::string::npos);
  ASSERT_GT(text.size(), first_end + 10) << text;
  // The first (setting-up) line and half of the next.
  fs::write_file_atomic(path, text.substr(0, first_end + 1 + (text.size() - first_end - 1) / 2), 0600);
  daemon_->start();
  auto c = daemon_->connect();
  auto got = c.call("sandbox.get", json::object{{"id", id}});
  ASSERT_TRUE(got.result) << describe(got) << daemon_->log();
  EXPECT_EQ(got.result->at("state"), "ready");
  EXPECT_EQ(result_ips(*got.result), ips);
  EXPECT_TRUE(c.call("sandbox.check", json::object{{"id", id}}).result);
  EXPECT_TRUE(c.call("sandbox.teardown", json::object{{"id", id}}).result);
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->network()).empty());
}

// kill -9 while a plugin's ADD runs: the plugin dies with the daemon, and
// what it started (as host-local under bridge, iptables under portmap) is
// killed by the next start before recovery rolls the sandbox back, so it
// cannot act on an attachment that no longer exists.
TEST_F(DaemonTest, WhatAKilledRunsPluginsStartedDoesNotOutliveTheRestart) {
  Sandbox sandbox;
  auto id = unique_name("pod");
  auto params = setup_params(id, sandbox.pid());
  params["networks"] = json::array{json::string(daemon_->late_network())};
  auto setup = std::async(std::launch::async, [&] {
    try {
      return daemon_->connect().call("sandbox.setup", params).result.has_value();
    } catch (const std::exception&) {
      return false;  // the daemon died under the call
    }
  });
  // The late plugin is running once its record says "setting-up" and a
  // moment has passed.
  const auto record = daemon_->state_dir() + "/sandboxes/" + id + ".json";
  for (int i = 0; i < 100 && !std::filesystem::exists(record); ++i) std::this_thread::sleep_for(20ms);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(daemon_->stop(/*kill9=*/true), 128 + SIGKILL);
  EXPECT_FALSE(setup.get());
  daemon_->start();
  // The child would have acted 1.5 s into the ADD.
  std::this_thread::sleep_for(2s);
  EXPECT_FALSE(std::filesystem::exists(daemon_->late_marker())) << daemon_->log();
  EXPECT_NE(daemon_->log().find("killed"), std::string::npos) << daemon_->log();
  EXPECT_EQ(error_code(daemon_->connect().call("sandbox.get", json::object{{"id", id}})), rpc::kNotFound);
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->late_network()).empty());
}

TEST_F(DaemonTest, AutoTeardownWhenTheSandboxProcessExits) {
  auto sandbox = std::make_unique<Sandbox>();
  auto c = daemon_->connect();
  auto id = unique_name("pod");
  ASSERT_TRUE(c.call("sandbox.setup", setup_params(id, sandbox->pid())).result);
  ASSERT_EQ(daemon_->allocated_ips(daemon_->network()).size(), 1u);
  sandbox->kill();
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline && !daemon_->record_files().empty())
    std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(daemon_->record_files().empty());
  EXPECT_TRUE(daemon_->pin_files().empty());
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->network()).empty());
  EXPECT_EQ(error_code(c.call("sandbox.get", json::object{{"id", id}})), rpc::kNotFound);
}

TEST_F(DaemonTest, SandboxWhoseProcessExitedWhileTheDaemonWasDownIsTornDownAtStart) {
  auto sandbox = std::make_unique<Sandbox>();
  auto id = unique_name("pod");
  {
    auto c = daemon_->connect();
    ASSERT_TRUE(c.call("sandbox.setup", setup_params(id, sandbox->pid())).result);
  }
  EXPECT_EQ(daemon_->stop(/*kill9=*/true), 128 + SIGKILL);
  // The pin keeps the netns alive, but nothing runs in the sandbox any more.
  sandbox->kill();
  ASSERT_EQ(daemon_->allocated_ips(daemon_->network()).size(), 1u);
  daemon_->start();
  auto c = daemon_->connect();
  EXPECT_EQ(error_code(c.call("sandbox.get", json::object{{"id", id}})), rpc::kNotFound);
  EXPECT_TRUE(daemon_->record_files().empty());
  EXPECT_TRUE(daemon_->pin_files().empty());
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->network()).empty());
}

TEST_F(DaemonTest, OperationsOnOneSandboxAreSerialisedOthersRunInParallel) {
  constexpr int kSandboxes = 4;
  std::vector<std::unique_ptr<Sandbox>> boxes;
  for (int i = 0; i < kSandboxes; ++i) boxes.push_back(std::make_unique<Sandbox>());
  // Same id from two connections at once: exactly one setup wins, the other
  // sees already-exists (never two half-setups of one id).
  auto id = unique_name("pod");
  auto same = [&](int box) {
    auto c = daemon_->connect();
    return c.call("sandbox.setup", setup_params(id, boxes[box]->pid()));
  };
  auto a = std::async(std::launch::async, same, 0);
  auto b = std::async(std::launch::async, same, 1);
  auto ra = a.get(), rb = b.get();
  EXPECT_EQ(int(bool(ra.result)) + int(bool(rb.result)), 1) << describe(ra) << " / " << describe(rb);
  EXPECT_EQ(error_code(ra.result ? rb : ra), rpc::kAlreadyExists);

  // Different ids in parallel all succeed.
  std::vector<std::string> ids;
  std::vector<std::future<rpc::Response>> futures;
  for (int i = 2; i < kSandboxes; ++i) {
    ids.push_back(unique_name("pod"));
    futures.push_back(std::async(std::launch::async, [&, i, pid = boxes[i]->pid(), id = ids.back()] {
      auto c = daemon_->connect();
      return c.call("sandbox.setup", setup_params(id, pid));
    }));
  }
  for (auto& f : futures) {
    auto r = f.get();
    EXPECT_TRUE(r.result) << describe(r);
  }
  EXPECT_EQ(daemon_->allocated_ips(daemon_->network()).size(), 1u + ids.size());
  auto c = daemon_->connect();
  ids.push_back(id);
  for (const auto& i : ids) EXPECT_TRUE(c.call("sandbox.teardown", json::object{{"id", i}}).result);
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->network()).empty());
}

TEST_F(DaemonTest, StatusGcAndSigtermLeaveNetworksInPlace) {
  Sandbox sandbox;
  auto c = daemon_->connect();
  auto id = unique_name("pod");
  ASSERT_TRUE(c.call("sandbox.setup", setup_params(id, sandbox.pid())).result);
  auto status = c.call("status");
  ASSERT_TRUE(status.result);
  EXPECT_TRUE(status.result->at("ready").as_bool());
  EXPECT_EQ(status.result->at("sandboxes").to_number<int>(), 1);
  auto gc = c.call("gc");
  ASSERT_TRUE(gc.result) << describe(gc);
  EXPECT_TRUE(gc.result->at("removed").as_array().empty()) << describe(gc);
  EXPECT_EQ(daemon_->allocated_ips(daemon_->network()).size(), 1u);
  EXPECT_EQ(daemon_->stop(), 0);
  EXPECT_TRUE(sandbox.exec({"ip", "link", "show", "eth0"}).ok());
  EXPECT_EQ(daemon_->record_files().size(), 1u);
  daemon_->start();
}

TEST_F(DaemonTest, SighupWithABadConfigKeepsTheOldOneAndAGoodOneApplies) {
  auto good_config = fs::read_file(daemon_->config_path());
  fs::write_file_atomic(daemon_->config_path(), "{\"cni\": {\"pluginTimout\": 3}}", 0644);
  daemon_->signal(SIGHUP);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline && daemon_->log().find("reload failed") == std::string::npos)
    std::this_thread::sleep_for(50ms);
  EXPECT_NE(daemon_->log().find("pluginTimout"), std::string::npos) << daemon_->log();
  // Still the old policy: the test user may use the test network.
  auto nets = daemon_->connect(kTestUid, kTestUid).call("networks.list");
  ASSERT_TRUE(nets.result) << describe(nets);
  EXPECT_EQ(nets.result->at("networks").as_array().size(), 1u);

  // A good file with the test user's rule removed applies at once.
  auto config = json::parse(good_config).as_object();
  config["policy"] = json::array{};
  fs::write_file_atomic(daemon_->config_path(), json::serialize(config), 0644);
  daemon_->signal(SIGHUP);
  deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline &&
         daemon_->log().find("reloaded configuration") == std::string::npos)
    std::this_thread::sleep_for(50ms);
  nets = daemon_->connect(kTestUid, kTestUid).call("networks.list");
  ASSERT_TRUE(nets.result) << describe(nets);
  EXPECT_TRUE(nets.result->at("networks").as_array().empty());
  fs::write_file_atomic(daemon_->config_path(), good_config, 0644);
}

}  // namespace
}  // namespace sandnet::test
