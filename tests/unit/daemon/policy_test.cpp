#include "sandnet/daemon/policy.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "sandnet/common/error.hpp"

namespace sandnet::daemon {
namespace {
namespace json = boost::json;

constexpr uid_t kAlice = 1501;
constexpr gid_t kAliceGid = 1501;
constexpr uid_t kBob = 1502;
constexpr gid_t kCiGid = 990;

Config test_config() {
  return parse_config(R"({
    "idMappings": {"uids": [{"hostID": 100000, "size": 65536}], "gids": [{"hostID": 100000, "size": 65536}]},
    "policy": [
      {"uid": 1501, "networks": ["sandnet", "extra"], "maxSandboxes": 2, "hostPorts": ["30000-32767", "8080"],
       "capabilities": ["portMappings"], "args": ["K8S_POD_NAME"]},
      {"gid": 990, "networks": ["*"], "capabilities": ["*"], "args": ["*"]},
      {"uid": 1503, "networks": []}
    ]
  })",
                      "policy-test");
}

Caller alice() {
  return Caller{kAlice, kAliceGid, 4242};
}
Caller root() {
  return Caller{0, 0, 1};
}

// A sandbox netns as runc makes it for alice: her own user namespace, mapped
// to the configured subordinate range.
netns::NamespaceFacts alice_sandbox() {
  netns::NamespaceFacts f;
  f.inode = 4026532000;
  f.owner_is_initial_userns = false;
  f.owner_uid = kAlice;
  f.uid_map = {{0, 100000, 65536}};
  f.gid_map = {{0, 100000, 65536}};
  return f;
}

SetupAsk ask_for(std::vector<std::string> networks) {
  SetupAsk ask;
  ask.networks = std::move(networks);
  return ask;
}

// Runs f, expects Error(code), returns its message.
template <class F>
std::string error_of(F&& f, errc code = errc::permission_denied) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(code)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return {};
}

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

TEST(Policy, RuleForRootIsUnrestricted) {
  Config c = test_config();
  EXPECT_EQ(rule_for(c, root()), nullptr);
  // Even with no rules at all.
  EXPECT_EQ(rule_for(Config{}, root()), nullptr);
}

TEST(Policy, RuleForMatchesUidBeforeGid) {
  Config c = test_config();
  const PolicyRule* r = rule_for(c, alice());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->description, "uid 1501");
  // Alice in the ci group still gets her uid rule, though the gid rule comes first in a reordered
  // list.
  Config reordered = c;
  std::swap(reordered.policy[0], reordered.policy[1]);
  r = rule_for(reordered, Caller{kAlice, kCiGid, 1});
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->description, "uid 1501");
  // Someone else in the ci group gets the gid rule.
  r = rule_for(c, Caller{kBob, kCiGid, 1});
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->description, "gid 990");
}

// Supplementary groups (SO_PEERGROUPS) match gid rules, like lxc-usernet's
// @group lines, after every uid rule and the primary gid.
TEST(Policy, SupplementaryGroupsMatchGidRulesLast) {
  Config c = parse_config(R"({"policy": [
      {"gid": 27, "networks": ["a"]},
      {"uid": 1502, "networks": ["by-uid"]},
      {"gid": 100, "networks": ["b"]},
      {"gid": 1600, "networks": ["by-primary-gid"]}
    ]})",
                          "groups-test");
  auto rule = [&](Caller caller) {
    const PolicyRule* r = rule_for(c, caller);
    return r ? r->description : std::string("none");
  };
  // Only through a supplementary group: the first such rule in config order,
  // whatever the order of the caller's groups.
  EXPECT_EQ(rule(Caller{1501, 1501, 1, {100, 27}}), "gid 27");
  EXPECT_EQ(rule(Caller{1501, 1501, 1, {5, 100}}), "gid 100");
  // The uid rule comes first, though a group rule precedes it in the file.
  EXPECT_EQ(rule(Caller{1502, 1502, 1, {27}}), "uid 1502");
  // The primary gid comes before supplementary groups.
  EXPECT_EQ(rule(Caller{1501, 1600, 1, {27}}), "gid 1600");
  // A group the caller is not in grants nothing.
  std::string msg = error_of([&] { rule_for(c, Caller{1501, 1501, 1, {5, 6}}); });
  EXPECT_TRUE(contains(msg, "no policy rule for uid 1501 (gid 1501, groups 5,6)")) << msg;
  EXPECT_FALSE(has_policy_rule(c, Caller{1501, 1501, 1, {}}));
  EXPECT_TRUE(has_policy_rule(c, Caller{1501, 1501, 1, {100}}));
  EXPECT_TRUE(may_use_network(c, Caller{1501, 1501, 1, {100}}, "b"));
  EXPECT_FALSE(may_use_network(c, Caller{1501, 1501, 1, {100}}, "a"));
  // A uid rule never matches a group of the same number.
  Config by_uid = parse_config(R"({"policy": [{"uid": 27, "networks": ["*"]}]})", "t");
  EXPECT_FALSE(has_policy_rule(by_uid, Caller{1501, 1501, 1, {27}}));
}

// A refusal lists a caller's groups, but not all of a long list.
TEST(Policy, RefusalListsAtMostSixteenGroups) {
  std::vector<gid_t> many;
  for (gid_t g = 2000; g < 2040; ++g) many.push_back(g);
  std::string msg = error_of([&] { rule_for(Config{}, Caller{1501, 1501, 1, many}); });
  EXPECT_TRUE(contains(msg, ",2015,...)")) << msg;
  EXPECT_FALSE(contains(msg, "2016")) << msg;
}

TEST(Policy, CallerNoRuleNamesIsRefused) {
  Config c = test_config();
  std::string msg = error_of([&] { rule_for(c, Caller{kBob, kBob, 1}); });
  EXPECT_TRUE(contains(msg, "no policy rule for uid 1502")) << msg;
  msg = error_of([&] {
    authorize_setup(c, Caller{kBob, kBob, 1}, alice_sandbox(), ask_for({"sandnet"}));
  });
  EXPECT_TRUE(contains(msg, "no policy rule for uid 1502")) << msg;
}

TEST(Policy, HasPolicyRuleAnswersLikeRuleForWithoutThrowing) {
  Config c = test_config();
  EXPECT_TRUE(has_policy_rule(c, root()));
  EXPECT_TRUE(has_policy_rule(c, alice()));
  EXPECT_TRUE(has_policy_rule(c, Caller{kBob, kCiGid, 1}));  // by its primary gid
  EXPECT_TRUE(has_policy_rule(c, Caller{1503, 1503, 1}));    // a rule that allows nothing is a rule
  EXPECT_FALSE(has_policy_rule(c, Caller{kBob, kBob, 1}));
  EXPECT_FALSE(has_policy_rule(Config{}, alice()));
}

TEST(Policy, SetupOfOwnSandboxIsAllowed) {
  Config c = test_config();
  const PolicyRule* r = authorize_setup(c, alice(), alice_sandbox(), ask_for({"sandnet", "extra"}));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->id, kAlice);
}

TEST(Policy, HostAndDaemonNetnsAreRefusedEvenForRoot) {
  Config c = test_config();
  netns::NamespaceFacts host;
  host.is_host = true;
  std::string msg = error_of([&] { authorize_setup(c, root(), host, ask_for({"sandnet"})); });
  EXPECT_TRUE(contains(msg, "host's network namespace")) << msg;
  netns::NamespaceFacts self;
  self.is_self = true;
  msg = error_of([&] { authorize_setup(c, root(), self, ask_for({"sandnet"})); });
  EXPECT_TRUE(contains(msg, "daemon's own network namespace")) << msg;
  // For alice too, even if the facts claim she owns it.
  netns::NamespaceFacts f = alice_sandbox();
  f.is_host = true;
  error_of([&] { authorize_setup(c, alice(), f, ask_for({"sandnet"})); });
}

TEST(Policy, RootMaySetUpAnyOtherNetns) {
  Config c = test_config();
  netns::NamespaceFacts f;  // owned by the initial user namespace, uid 0, maps unknown
  EXPECT_EQ(authorize_setup(c, root(), f, ask_for({"anything"})), nullptr);
  SetupAsk ask = ask_for({"x"});
  ask.capabilities.port_mappings = std::vector<capabilities::PortMapping>{{80, 80, "tcp", ""}};
  ask.sandboxes_owned = 100000;
  EXPECT_EQ(authorize_setup(c, root(), alice_sandbox(), ask), nullptr);
}

TEST(Policy, NetnsOwnedByInitialUserNamespaceIsRefused) {
  netns::NamespaceFacts f = alice_sandbox();
  f.owner_is_initial_userns = true;
  std::string msg =
      error_of([&] { authorize_setup(test_config(), alice(), f, ask_for({"sandnet"})); });
  EXPECT_TRUE(contains(msg, "owned by the host's user namespace")) << msg;
}

TEST(Policy, AnotherUsersSandboxIsRefused) {
  netns::NamespaceFacts f = alice_sandbox();
  f.owner_uid = kBob;
  std::string msg =
      error_of([&] { authorize_setup(test_config(), alice(), f, ask_for({"sandnet"})); });
  EXPECT_TRUE(contains(msg, "belongs to uid 1502, not to the caller (uid 1501)")) << msg;
}

TEST(Policy, IdMapsMustLieInsideIdMappingsOrBeTheCallersOwn) {
  Config c = test_config();
  auto try_maps = [&](std::vector<netns::IdMapEntry> uid_map,
                      std::vector<netns::IdMapEntry> gid_map) {
    netns::NamespaceFacts f = alice_sandbox();
    f.uid_map = std::move(uid_map);
    f.gid_map = std::move(gid_map);
    authorize_setup(c, alice(), f, ask_for({"sandnet"}));
  };
  // unshare --map-root-user: only her own IDs.
  EXPECT_NO_THROW(try_maps({{0, kAlice, 1}}, {{0, kAliceGid, 1}}));
  // rootless style: own ID plus a subordinate range.
  EXPECT_NO_THROW(
      try_maps({{0, kAlice, 1}, {1, 100000, 65536}}, {{0, kAliceGid, 1}, {1, 100000, 1000}}));
  // A sub-range at the very end of the configured range.
  EXPECT_NO_THROW(try_maps({{0, 165535, 1}}, {{0, 100000, 1}}));

  std::string msg = error_of([&] { try_maps({{0, 0, 1}}, {{0, kAliceGid, 1}}); });
  EXPECT_TRUE(contains(msg, "uid map entry \"0 0 1\"")) << msg;
  // One ID past the end of the range.
  msg = error_of([&] { try_maps({{0, 100000, 65537}}, {{0, kAliceGid, 1}}); });
  EXPECT_TRUE(contains(msg, "outside idMappings.uids")) << msg;
  // Own uid but more than one ID starting there.
  error_of([&] { try_maps({{0, kAlice, 2}}, {{0, kAliceGid, 1}}); });
  // Someone else's single uid.
  error_of([&] { try_maps({{0, kBob, 1}}, {{0, kAliceGid, 1}}); });
  // The gid map is checked against gids, with the caller's gid.
  msg = error_of([&] { try_maps({{0, kAlice, 1}}, {{0, 0, 1}}); });
  EXPECT_TRUE(contains(msg, "gid map entry")) << msg;
  // Unknown maps cannot be verified.
  msg = error_of([&] { try_maps({}, {{0, kAliceGid, 1}}); });
  EXPECT_TRUE(contains(msg, "uid map of the sandbox's user namespace is unknown")) << msg;
  error_of([&] { try_maps({{0, kAlice, 1}}, {}); });

  // Without idMappings only the caller's own IDs are accepted.
  c.id_mappings = {};
  EXPECT_NO_THROW(try_maps({{0, kAlice, 1}}, {{0, kAliceGid, 1}}));
  error_of([&] { try_maps({{0, 100000, 65536}}, {{0, kAliceGid, 1}}); });
}

TEST(Policy, NetworksMustBeAllowed) {
  Config c = test_config();
  std::string msg = error_of([&] {
    authorize_setup(c, alice(), alice_sandbox(), ask_for({"sandnet", "secret"}));
  });
  EXPECT_TRUE(contains(msg, "network \"secret\" is not allowed for uid 1501")) << msg;
  // "*" allows any network.
  netns::NamespaceFacts f = alice_sandbox();
  f.owner_uid = kBob;
  f.uid_map = {{0, kBob, 1}};
  f.gid_map = {{0, kCiGid, 1}};
  EXPECT_NO_THROW(authorize_setup(c, Caller{kBob, kCiGid, 1}, f, ask_for({"secret", "other"})));
  // A rule with an empty network list allows none.
  f.owner_uid = 1503;
  f.uid_map = {{0, 1503, 1}};
  f.gid_map = {{0, 1503, 1}};
  error_of([&] { authorize_setup(c, Caller{1503, 1503, 1}, f, ask_for({"sandnet"})); });
}

TEST(Policy, CapabilitiesMustBeAllowed) {
  Config c = test_config();
  SetupAsk ask = ask_for({"sandnet"});
  ask.capabilities.bandwidth = capabilities::Bandwidth{1000, {}, {}, {}};
  std::string msg = error_of([&] { authorize_setup(c, alice(), alice_sandbox(), ask); });
  EXPECT_TRUE(contains(msg, "capability \"bandwidth\" is not allowed for uid 1501")) << msg;
}

TEST(Policy, CniArgsKeysMustBeAllowed) {
  Config c = test_config();
  SetupAsk ask = ask_for({"sandnet"});
  ask.arg_keys = {"K8S_POD_NAME"};
  EXPECT_NO_THROW(authorize_setup(c, alice(), alice_sandbox(), ask));
  // host-local reads IP from CNI_ARGS: choosing an address is a privilege.
  ask.arg_keys = {"K8S_POD_NAME", "IP"};
  std::string msg = error_of([&] { authorize_setup(c, alice(), alice_sandbox(), ask); });
  EXPECT_TRUE(contains(msg, "CNI argument \"IP\" is not allowed for uid 1501")) << msg;
  EXPECT_NO_THROW(authorize_setup(c, root(), alice_sandbox(), ask));
  // "*" allows any key.
  netns::NamespaceFacts f = alice_sandbox();
  f.owner_uid = kBob;
  f.uid_map = {{0, kBob, 1}};
  f.gid_map = {{0, kCiGid, 1}};
  EXPECT_NO_THROW(authorize_setup(c, Caller{kBob, kCiGid, 1}, f, ask));
}

TEST(Policy, PortMappingsHostPortsMustBeInRanges) {
  Config c = test_config();
  auto with_ports = [](std::initializer_list<std::uint16_t> ports) {
    SetupAsk ask = ask_for({"sandnet"});
    std::vector<capabilities::PortMapping> list;
    for (auto p : ports) list.push_back({p, 80, "tcp", ""});
    ask.capabilities.port_mappings = std::move(list);
    return ask;
  };
  EXPECT_NO_THROW(authorize_setup(c, alice(), alice_sandbox(), with_ports({30000, 32767, 8080})));
  std::string msg = error_of([&] {
    authorize_setup(c, alice(), alice_sandbox(), with_ports({30000, 80}));
  });
  EXPECT_TRUE(contains(msg, "host port 80 is not in the hostPorts allowed for uid 1501")) << msg;
  error_of([&] { authorize_setup(c, alice(), alice_sandbox(), with_ports({32768})); });
}

// The bypass found in the field: the policy read "hostPort" while portmap,
// decoding keys case-insensitively, read "HostPort". Parsing refuses the
// request before policy is asked, and what policy checks is what plugins get.
TEST(Policy, CaseVariantOfHostPortCannotSmuggleAPort) {
  auto parse = [](std::string_view text) { return capabilities::parse(json::parse(text)); };
  std::string msg = error_of(
      [&] { parse(R"({"portMappings":[{"hostPort":30080,"HostPort":22,"containerPort":80}]})"); },
      errc::invalid_argument);
  EXPECT_TRUE(contains(msg, "capabilities.portMappings[0].HostPort differs from \"hostPort\" only in case")) << msg;
  msg = error_of([&] { parse(R"({"PortMappings":[{"hostPort":22,"containerPort":80}]})"); },
                 errc::invalid_argument);
  EXPECT_TRUE(contains(msg, "capabilities.PortMappings differs from \"portMappings\" only in case")) << msg;
  // An allowed request: policy sees the same port the plugin will get.
  Config c = test_config();
  SetupAsk ask = ask_for({"sandnet"});
  ask.capabilities = parse(R"({"portMappings":[{"hostPort":30080,"containerPort":80}]})");
  EXPECT_NO_THROW(authorize_setup(c, alice(), alice_sandbox(), ask));
  EXPECT_EQ(json::serialize(capabilities::to_json(ask.capabilities)),
            R"({"portMappings":[{"hostPort":30080,"containerPort":80,"protocol":"tcp"}]})");
}

TEST(Policy, MaxSandboxesIsEnforced) {
  Config c = test_config();
  SetupAsk ask = ask_for({"sandnet"});
  ask.sandboxes_owned = 1;
  EXPECT_NO_THROW(authorize_setup(c, alice(), alice_sandbox(), ask));
  ask.sandboxes_owned = 2;
  std::string msg = error_of([&] { authorize_setup(c, alice(), alice_sandbox(), ask); });
  EXPECT_TRUE(contains(msg, "uid 1501 already has 2 sandboxes (maxSandboxes 2")) << msg;
  // No maxSandboxes: no limit.
  netns::NamespaceFacts f = alice_sandbox();
  f.owner_uid = kBob;
  f.uid_map = {{0, kBob, 1}};
  f.gid_map = {{0, kCiGid, 1}};
  ask.sandboxes_owned = 100000;
  EXPECT_NO_THROW(authorize_setup(c, Caller{kBob, kCiGid, 1}, f, ask));
}

TEST(Policy, AccessToExistingSandboxes) {
  EXPECT_NO_THROW(authorize_access(alice(), kAlice, "pod1"));
  EXPECT_NO_THROW(authorize_access(root(), kAlice, "pod1"));
  std::string msg = error_of([&] { authorize_access(Caller{kBob, kBob, 1}, kAlice, "pod1"); });
  EXPECT_TRUE(contains(msg, "sandbox pod1 belongs to uid 1501, not to uid 1502")) << msg;
  // A root-owned sandbox is not accessible to others.
  error_of([&] { authorize_access(alice(), 0, "sys"); });
}

TEST(Policy, RootOnlyOperations) {
  EXPECT_NO_THROW(authorize_root(root(), "gc"));
  std::string msg = error_of([&] { authorize_root(alice(), "gc"); });
  EXPECT_TRUE(contains(msg, "gc is for root only (caller is uid 1501)")) << msg;
}

TEST(Policy, FilterNetworks) {
  Config c = test_config();
  std::vector<std::string> all = {"extra", "other", "sandnet"};
  EXPECT_EQ(filter_networks(c, root(), all), all);
  EXPECT_EQ(filter_networks(c, alice(), all), (std::vector<std::string>{"extra", "sandnet"}));
  EXPECT_EQ(filter_networks(c, Caller{kBob, kCiGid, 1}, all), all);
  EXPECT_TRUE(filter_networks(c, Caller{kBob, kBob, 1}, all).empty());
  EXPECT_TRUE(may_use_network(c, alice(), "sandnet"));
  EXPECT_FALSE(may_use_network(c, alice(), "other"));
  EXPECT_FALSE(may_use_network(c, Caller{kBob, kBob, 1}, "sandnet"));
}

}  // namespace
}  // namespace sandnet::daemon

#include "subordinate_ids.hpp"

namespace sandnet::daemon {
namespace {

TEST(SubordinateIds, ParsedAsNewuidmapReadsThem) {
  const std::string text =
      "alice:100000:65536\n"
      "1501:300000:1000\n"
      "bob:200000:65536\n"
      "broken line\n"
      "alice:notanumber:5\n"
      "alice:4294967295:2\n"
      "alice:500000:0\n";
  auto ranges = parse_subordinate_ranges(text, 1501, "alice");
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0].host_id, 100000u);
  EXPECT_EQ(ranges[0].size, 65536u);
  EXPECT_EQ(ranges[1].host_id, 300000u);
  // By uid alone when the user has no name.
  EXPECT_EQ(parse_subordinate_ranges(text, 1501, "").size(), 1u);
  EXPECT_TRUE(parse_subordinate_ranges(text, 1502, "carol").empty());
}

// A Podman-like map: 0 -> the caller's own uid, 1.. -> its subordinate range.
TEST(Policy, SubordinateRangesOfTheCallerMayBeMapped) {
  Config c = parse_config(R"({"policy": [{"uid": 1501, "networks": ["*"]}]})", "t");
  Caller alice{1501, 1501, 1};
  netns::NamespaceFacts f;
  f.owner_is_initial_userns = false;
  f.owner_uid = 1501;
  f.uid_map = {{0, 1501, 1}, {1, 100000, 65536}};
  f.gid_map = {{0, 1501, 1}, {1, 100000, 65536}};
  SetupAsk ask{{"sandnet"}, {}, {}, 0};
  EXPECT_THROW(authorize_setup(c, alice, f, ask), Error);  // no idMappings, no subordinate ranges
  ask.subordinate_uids = {{100000, 65536}};
  ask.subordinate_gids = {{100000, 65536}};
  EXPECT_NO_THROW(authorize_setup(c, alice, f, ask));
  // One ID past the range is refused.
  f.uid_map = {{0, 1501, 1}, {1, 100000, 65537}};
  EXPECT_THROW(authorize_setup(c, alice, f, ask), Error);
}

}  // namespace
}  // namespace sandnet::daemon
