// Anti-spoofing through a real sandnetd: two sandboxes A and B on a real
// bridge (bridge + host-local + portmap); A's root (nsenter into A's user and
// network namespace) attacks B and the gateway. With anti-spoofing every
// attack fails and normal traffic keeps working; the same attacks against a
// daemon with anti-spoofing off succeed, which shows the observations below
// can see them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <thread>

#include "daemon_fixture.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"
#include "sandnet/common/unique_fd.hpp"
#include "support/process.hpp"
#include "support/sandbox.hpp"

namespace sandnet::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::uint16_t kHostPort = 30007;
constexpr const char* kStolenMac = "02:de:ad:be:ef:01";
constexpr const char* kRaPrefix = "fd99:1::";

std::string describe(const rpc::Response& r) {
  if (r.error) return std::to_string(r.error->code) + " " + r.error->message + " " + json::serialize(r.error->data);
  return json::serialize(*r.result);
}

std::string spoof_tool() {
  const char* dir = std::getenv("SANDNET_BUILD_DIR");
  return std::string(dir ? dir : ".") + "/tests/support/sndt-spoof";
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// One attached sandbox, as the CNI result describes it.
struct Attached {
  std::string id, ip, mac, gateway;
  std::string ip6, gateway6;  // on a dual-stack network
};

Attached attached(const std::string& id, const json::value& info) {
  const auto& result = info.at("attachments").at(0).at("result").as_object();
  Attached a{id, {}, {}, {}, {}, {}};
  for (const auto& v : result.at("ips").as_array()) {
    const auto& ip = v.as_object();
    std::string cidr(ip.at("address").as_string());
    bool v6 = cidr.find(':') != std::string::npos;
    (v6 ? a.ip6 : a.ip) = cidr.substr(0, cidr.find('/'));
    (v6 ? a.gateway6 : a.gateway) = std::string(ip.at("gateway").as_string());
  }
  for (const auto& iface : result.at("interfaces").as_array())
    if (iface.as_object().if_contains("sandbox")) a.mac = std::string(iface.at("mac").as_string());
  return a;
}

// A UDP socket on the host bound to ip:port: what reaches the gateway.
class HostListener {
 public:
  HostListener(const std::string& ip, std::uint16_t port) {
    fd_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd_) throw_errno("socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw_errno("bind " + ip);
  }
  // The source address of the first datagram within timeout.
  std::optional<std::string> first_sender(std::chrono::milliseconds timeout = 1500ms) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char buf[512];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    if (::recvfrom(fd_.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len) < 0) return std::nullopt;
    char text[INET_ADDRSTRLEN];
    return std::string(::inet_ntop(AF_INET, &from.sin_addr, text, sizeof text));
  }

 private:
  unique_fd fd_;
};

// The host's neighbour entry for ip on the bridge: its MAC, "" if none.
std::string host_neighbour(const std::string& bridge, const std::string& ip) {
  auto r = sh(std::string(ip.find(':') == std::string::npos ? "ip" : "ip -6") + " neigh show " + ip + " dev " + bridge);
  auto at = r.out.find("lladdr ");
  return at == std::string::npos ? std::string() : r.out.substr(at + 7, 17);
}

// What each attack achieved.
struct Observed {
  std::optional<std::string> stolen_ip_sender;  // the gateway got A's datagram from B's IP
  std::optional<std::string> new_mac_sender;    // ... from A's IP with a forged MAC
  std::string neighbour_after_garp;             // the host's MAC for B's IP after A's gratuitous ARP
  bool b_took_the_ra_prefix = false;            // B configured an address from A's router advertisement
};

class AntiSpoofTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root";
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "---- sandnetd log ----\n" << daemon_->log();
    daemon_.reset();
  }
  void start(bool anti_spoofing) {
    DaemonOptions o;
    o.anti_spoofing = anti_spoofing;
    daemon_.emplace(o);
    daemon_->start();
  }
  Attached setup(Conn& c, const std::string& id, const Sandbox& s, bool with_port, std::string network = {}) {
    if (network.empty()) network = daemon_->ported_network();
    json::object params{{"id", id}, {"pid", s.pid()}, {"networks", json::array{json::string(network)}}};
    if (with_port)
      params["capabilities"] = json::object{{"portMappings", json::array{json::object{
                                                {"hostPort", kHostPort}, {"containerPort", 8080}, {"protocol", "tcp"}}}}};
    auto r = c.call("sandbox.setup", params);
    if (!r.result) throw std::runtime_error("setup " + id + ": " + describe(r));
    return attached(id, *r.result);
  }

  // B is known to the host (its neighbour entry holds B's MAC) and A can
  // reach the gateway without ARP; then A attacks.
  Observed attack(const Sandbox& a, const Attached& aa, const Sandbox& b, const Attached& ba) {
    Observed o;
    const std::string bridge = daemon_->bridge();
    auto ping = sh("busybox ping -c 1 -W 2 " + ba.ip);
    EXPECT_TRUE(ping.ok()) << ping.out << ping.err << sh("ip addr show " + bridge + "; ip route get " + ba.ip + "; bridge link").out
                           << b.exec({"ip", "addr"}).out << b.exec({"ip", "route"}).out;
    EXPECT_EQ(host_neighbour(bridge, ba.ip), ba.mac);
    std::string gw_mac = trim(fs::read_file("/sys/class/net/" + bridge + "/address"));
    EXPECT_TRUE(a.exec({"ip", "neigh", "replace", aa.gateway, "lladdr", gw_mac, "dev", "eth0", "nud", "permanent"}).ok());
    std::this_thread::sleep_for(1200ms);  // past the neighbour entry's locktime (1 s)

    // 1. B's address on A's eth0, a datagram from it.
    {
      HostListener gw(aa.gateway, 40001);
      auto add = a.exec({"ip", "addr", "add", ba.ip + "/32", "dev", "eth0"});
      EXPECT_TRUE(add.ok()) << add.err;
      auto sent = a.exec({spoof_tool(), "udp", ba.ip, aa.gateway, "40001", "from-a-as-b"});
      EXPECT_TRUE(sent.ok()) << sent.err;
      o.stolen_ip_sender = gw.first_sender();
      a.exec({"ip", "addr", "del", ba.ip + "/32", "dev", "eth0"});
    }
    // 2. A forged MAC, a datagram from A's own address.
    {
      HostListener gw(aa.gateway, 40002);
      EXPECT_TRUE(a.exec({"ip", "link", "set", "eth0", "address", kStolenMac}).ok());
      auto sent = a.exec({spoof_tool(), "udp", aa.ip, aa.gateway, "40002", "forged-mac"});
      EXPECT_TRUE(sent.ok()) << sent.err;
      o.new_mac_sender = gw.first_sender();
      EXPECT_TRUE(a.exec({"ip", "link", "set", "eth0", "address", aa.mac}).ok());
    }
    // 3. Gratuitous ARP: "B's address is at A's MAC".
    {
      auto sent = a.exec({spoof_tool(), "garp", "eth0", ba.ip});
      EXPECT_TRUE(sent.ok()) << sent.err;
      std::this_thread::sleep_for(300ms);
      o.neighbour_after_garp = host_neighbour(bridge, ba.ip);
    }
    // 4. A router advertisement of a prefix B would autoconfigure.
    {
      auto sent = a.exec({spoof_tool(), "ra", "eth0", kRaPrefix});
      EXPECT_TRUE(sent.ok()) << sent.err;
      for (int i = 0; i < 10 && !o.b_took_the_ra_prefix; ++i) {
        std::this_thread::sleep_for(200ms);
        o.b_took_the_ra_prefix = b.exec({"ip", "-6", "addr", "show", "dev", "eth0"}).out.find("fd99:1:") != std::string::npos;
      }
    }
    return o;
  }

  // On the dual-stack network: A reaches B and the gateway over IPv6 (once
  // duplicate address detection is done), then claims B's IPv6 address with
  // an unsolicited neighbour advertisement. Returns the host's MAC for B's
  // IPv6 address afterwards.
  std::string ipv6_and_neighbour_advertisement(bool expect_ipv6_works) {
    Sandbox a, b;
    auto c = daemon_->connect();
    Attached aa = setup(c, unique_name("poda"), a, false, daemon_->dual_stack_network());
    Attached ba = setup(c, unique_name("podb"), b, false, daemon_->dual_stack_network());
    EXPECT_FALSE(aa.ip6.empty());
    EXPECT_FALSE(ba.ip6.empty());
    auto ping6 = [](const Sandbox* from, const std::string& to) {
      for (int i = 0; i < 20; ++i) {  // addresses are tentative for about a second
        bool ok = from ? from->exec({"busybox", "ping", "-6", "-c", "1", "-W", "1", to}).ok()
                       : sh("busybox ping -6 -c 1 -W 1 " + to + " >/dev/null").ok();
        if (ok) return true;
        std::this_thread::sleep_for(250ms);
      }
      return false;
    };
    if (expect_ipv6_works) {
      EXPECT_TRUE(ping6(&a, ba.ip6)) << "A -> B over IPv6";
      EXPECT_TRUE(ping6(&b, aa.ip6)) << "B -> A over IPv6";
      EXPECT_TRUE(ping6(&a, aa.gateway6)) << "A -> gateway over IPv6";
    }
    EXPECT_TRUE(ping6(nullptr, ba.ip6)) << "host -> B over IPv6";
    EXPECT_EQ(host_neighbour(daemon_->bridge(), ba.ip6), ba.mac);
    auto sent = a.exec({spoof_tool(), "na", "eth0", ba.ip6});
    EXPECT_TRUE(sent.ok()) << sent.err;
    std::this_thread::sleep_for(300ms);
    mac_of_a_ = aa.mac;
    mac_of_b_ = ba.mac;
    return host_neighbour(daemon_->bridge(), ba.ip6);
  }

  std::optional<TestDaemon> daemon_;
  std::string mac_of_a_, mac_of_b_;
};

TEST_F(AntiSpoofTest, EveryAttackFailsAndNormalTrafficWorks) {
  start(true);
  Sandbox a, b;
  auto c = daemon_->connect();
  Attached aa = setup(c, unique_name("poda"), a, true);
  Attached ba = setup(c, unique_name("podb"), b, false);
  ASSERT_FALSE(aa.mac.empty());
  ASSERT_FALSE(ba.mac.empty());

  // What is enforced, as inspect shows it.
  auto in = c.call("sandbox.inspect", json::object{{"id", aa.id}});
  ASSERT_TRUE(in.result) << describe(in);
  const auto& guard = in.result->at("antiSpoofing").at(0).as_object();
  EXPECT_TRUE(guard.at("enforced").as_bool()) << json::serialize(guard);
  EXPECT_EQ(guard.at("mac").as_string(), aa.mac);
  EXPECT_EQ(guard.at("ips"), (json::array{json::string(aa.ip)}));
  EXPECT_EQ(std::string(guard.at("hostInterface").as_string()).rfind("veth", 0), 0U);
  auto table = sh("nft list table bridge " + daemon_->nft_table()).out;
  EXPECT_NE(table.find(std::string(guard.at("hostInterface").as_string())), std::string::npos) << table;
  auto ctl = run({std::string(std::getenv("SANDNET_BUILD_DIR")) + "/client/sandnetctl", "--socket", daemon_->socket(),
                  "inspect", aa.id});
  EXPECT_TRUE(ctl.ok()) << ctl.err;
  EXPECT_NE(ctl.out.find("ANTI-SPOOFING"), std::string::npos) << ctl.out;
  EXPECT_NE(ctl.out.find(aa.mac), std::string::npos) << ctl.out;

  Observed o = attack(a, aa, b, ba);
  EXPECT_FALSE(o.stolen_ip_sender) << "a datagram from B's address reached the gateway";
  EXPECT_FALSE(o.new_mac_sender) << "a frame from a forged MAC reached the gateway";
  EXPECT_EQ(o.neighbour_after_garp, ba.mac) << "the host's neighbour table was poisoned";
  EXPECT_FALSE(o.b_took_the_ra_prefix) << "B configured A's advertised prefix";
  EXPECT_EQ(host_neighbour(daemon_->bridge(), ba.ip), ba.mac);

  // Entitled traffic: A <-> B, A -> gateway (ping and UDP), a host port.
  EXPECT_TRUE(a.exec({"busybox", "ping", "-c", "1", "-W", "2", ba.ip}).ok());
  EXPECT_TRUE(b.exec({"busybox", "ping", "-c", "1", "-W", "2", aa.ip}).ok());
  EXPECT_TRUE(a.exec({"busybox", "ping", "-c", "1", "-W", "2", aa.gateway}).ok());
  {
    HostListener gw(aa.gateway, 40003);
    EXPECT_TRUE(a.exec({spoof_tool(), "udp", aa.ip, aa.gateway, "40003", "own-address"}).ok());
    EXPECT_EQ(gw.first_sender(), aa.ip);
  }
  {
    std::thread server([&] { a.exec({"sh", "-c", "echo hello-from-a | timeout 10 busybox nc -l -p 8080"}); });
    std::string got;
    for (int i = 0; i < 40 && got.find("hello-from-a") == std::string::npos; ++i) {
      std::this_thread::sleep_for(250ms);
      got = sh("timeout 3 busybox nc " + aa.gateway + " " + std::to_string(kHostPort) + " </dev/null").out;
    }
    server.join();
    EXPECT_NE(got.find("hello-from-a"), std::string::npos) << "host port " << kHostPort << " did not reach A";
  }

  // Teardown leaves no rule of either sandbox (a new connection: the first
  // one idled out during the attacks).
  auto c2 = daemon_->connect();
  for (const auto& id : {aa.id, ba.id}) {
    auto down = c2.call("sandbox.teardown", json::object{{"id", id}});
    ASSERT_TRUE(down.result) << describe(down);
    EXPECT_TRUE(down.result->at("errors").as_array().empty()) << describe(down);
  }
  table = sh("nft list table bridge " + daemon_->nft_table()).out;
  EXPECT_EQ(table.find("sb-"), std::string::npos) << table;
  EXPECT_EQ(table.find("veth"), std::string::npos) << table;
}

TEST_F(AntiSpoofTest, WithAntiSpoofingOffTheSameAttacksSucceed) {
  start(false);
  Sandbox a, b;
  auto c = daemon_->connect();
  Attached aa = setup(c, unique_name("poda"), a, false);
  Attached ba = setup(c, unique_name("podb"), b, false);

  auto in = c.call("sandbox.inspect", json::object{{"id", aa.id}});
  ASSERT_TRUE(in.result) << describe(in);
  const auto& guard = in.result->at("antiSpoofing").at(0).as_object();
  EXPECT_FALSE(guard.at("enforced").as_bool());
  EXPECT_EQ(guard.at("reason").as_string(), "off for network " + daemon_->ported_network());

  Observed o = attack(a, aa, b, ba);
  EXPECT_EQ(o.stolen_ip_sender, ba.ip);
  EXPECT_EQ(o.new_mac_sender, aa.ip);
  EXPECT_EQ(o.neighbour_after_garp, aa.mac);
  EXPECT_TRUE(o.b_took_the_ra_prefix);
}

TEST_F(AntiSpoofTest, DualStackIpv6WorksAndANeighbourAdvertisementCannotClaimBsAddress) {
  start(true);
  EXPECT_EQ(ipv6_and_neighbour_advertisement(true), mac_of_b_) << "the host's IPv6 neighbour table was poisoned";
}

TEST_F(AntiSpoofTest, WithAntiSpoofingOffANeighbourAdvertisementPoisonsTheHost) {
  start(false);
  EXPECT_EQ(ipv6_and_neighbour_advertisement(false), mac_of_a_);
}

TEST_F(AntiSpoofTest, RulesThatCannotBeAppliedFailTheSetupAndItIsRolledBack) {
  start(true);
  // A set where the daemon's map belongs: every apply batch fails.
  ASSERT_TRUE(sh("nft add table bridge " + daemon_->nft_table() + " && nft add set bridge " + daemon_->nft_table() +
                 " ports '{ type ipv4_addr; }'").ok());
  Sandbox a;
  auto c = daemon_->connect();
  auto r = c.call("sandbox.setup", json::object{{"id", unique_name("pod")}, {"pid", a.pid()},
                                                {"networks", json::array{json::string(daemon_->ported_network())}}});
  ASSERT_TRUE(r.error) << describe(r);
  EXPECT_NE(r.error->message.find("anti-spoofing"), std::string::npos) << describe(r);
  EXPECT_TRUE(daemon_->allocated_ips(daemon_->ported_network()).empty());
  EXPECT_TRUE(daemon_->record_files().empty());
  EXPECT_TRUE(daemon_->pin_files().empty());
  EXPECT_EQ(a.exec({"ip", "link", "show", "eth0"}).exit_code == 0, false) << "eth0 survived the rollback";
}

TEST_F(AntiSpoofTest, RestartAndGcRemoveRulesOfSandboxesThatAreGone) {
  start(true);
  Sandbox a;
  auto c = daemon_->connect();
  Attached aa = setup(c, unique_name("pod"), a, false);
  const std::string t = daemon_->nft_table();
  // As if the daemon had crashed between the last ADD and the rules: the
  // live sandbox's rules are gone...
  auto chains = sh("nft list table bridge " + t).out;
  auto at = chains.find("chain sb-");
  ASSERT_NE(at, std::string::npos) << chains;
  std::string live_chain = chains.substr(at + 6, chains.find(' ', at + 6) - at - 6);
  ASSERT_TRUE(sh("nft flush map bridge " + t + " ports && nft delete chain bridge " + t + " " + live_chain).ok());
  // ... and a chain of a sandbox this daemon does not know is there.
  ASSERT_TRUE(sh("nft add chain bridge " + t + " sb-0000000000000000000000aa-0-sndgone0 && nft add element bridge " + t +
                 " ports '{ \"sndgone0\" : jump sb-0000000000000000000000aa-0-sndgone0 }'").ok());
  daemon_->stop();
  daemon_->start();
  auto table = sh("nft list table bridge " + t).out;
  EXPECT_EQ(table.find("sb-0000000000000000000000aa-0"), std::string::npos) << table;
  EXPECT_NE(table.find(live_chain), std::string::npos) << "the live sandbox's rules are not back: " << table;
  EXPECT_EQ(table.find("ether saddr != "), table.rfind("ether saddr != ")) << "rules applied twice: " << table;

  ASSERT_TRUE(sh("nft add chain bridge " + t + " sb-0000000000000000000000bb-0-sndgone1 && nft add element bridge " + t +
                 " ports '{ \"sndgone1\" : jump sb-0000000000000000000000bb-0-sndgone1 }'").ok());
  auto c2 = daemon_->connect();
  auto gc = c2.call("gc");
  ASSERT_TRUE(gc.result) << describe(gc);
  table = sh("nft list table bridge " + t).out;
  EXPECT_EQ(table.find("sb-0000000000000000000000bb-0"), std::string::npos) << table;
  auto in = c2.call("sandbox.inspect", json::object{{"id", aa.id}});
  ASSERT_TRUE(in.result) << describe(in);
  EXPECT_TRUE(in.result->at("antiSpoofing").at(0).at("enforced").as_bool());
}

}  // namespace
}  // namespace sandnet::test
