// Crash points: sandnetd is killed with SIGKILL at random moments while many
// setups and teardowns run, restarted, and the round repeats. What a caller
// was told must hold after every restart (a setup answered with success is
// served again with the same IPs), and once everything is torn down and gc
// ran, nothing may be left: no pin, record, IP reservation, cache entry or
// veth. SANDNET_CRASH_ROUNDS sets the number of rounds (default 10; a long
// run: SANDNET_CRASH_ROUNDS=200).
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "daemon_fixture.hpp"
#include "support/sandbox.hpp"

namespace sandnet::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::size_t kSandboxes = 50;
constexpr std::size_t kClients = 8;

int rounds() {
  const char* env = std::getenv("SANDNET_CRASH_ROUNDS");
  return env ? std::max(1, std::atoi(env)) : 10;
}

// What callers were told, across rounds.
struct Told {
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> up;  // answered setup, not answered teardown: its IPs
  std::set<std::string> unsure;                          // an unanswered setup or teardown
};

// One round's work for one client: for its share of sandboxes, set up the
// ones that are not up and tear down the ones that are.
void client_work(const TestDaemon& daemon, const std::vector<std::unique_ptr<Sandbox>>& boxes,
                 const std::vector<std::string>& ids, std::size_t first, Told& told) {
  std::optional<Conn> conn;
  for (std::size_t i = first; i < boxes.size(); i += kClients) {
    bool is_up = false;
    {
      std::lock_guard lock(told.mu);
      is_up = told.up.count(ids[i]) > 0;
    }
    try {
      if (!conn) conn.emplace(daemon.socket());
      if (!is_up) {
        {
          std::lock_guard lock(told.mu);
          told.unsure.insert(ids[i]);
        }
        auto r = conn->call("sandbox.setup", json::object{{"id", ids[i]}, {"pid", boxes[i]->pid()}});
        std::lock_guard lock(told.mu);
        if (r.result) {
          told.up[ids[i]] = result_ips(*r.result);
          told.unsure.erase(ids[i]);
        } else if (r.error && r.error->code != rpc::kAlreadyExists) {
          // Refused or failed and rolled back (or to be rolled back at start).
          told.unsure.insert(ids[i]);
        }
      } else {
        {
          std::lock_guard lock(told.mu);
          told.unsure.insert(ids[i]);
        }
        auto r = conn->call("sandbox.teardown", json::object{{"id", ids[i]}});
        std::lock_guard lock(told.mu);
        if (r.result && r.result->at("errors").as_array().empty()) {
          told.up.erase(ids[i]);
          told.unsure.erase(ids[i]);
        }
      }
    } catch (const std::exception&) {
      return;  // the daemon died under us: the rest of this round is lost
    }
  }
}

TEST(CrashPoints, KilledAtRandomDuringSetupsAndTeardownsStateConverges) {
  if (!is_root()) GTEST_SKIP() << "needs root";
  TestDaemon daemon(DaemonOptions{.max_concurrent_setups = 8, .max_connections = 64, .idle_timeout_seconds = 60});
  daemon.start();
  std::vector<std::unique_ptr<Sandbox>> boxes;
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < kSandboxes; ++i) {
    boxes.push_back(std::make_unique<Sandbox>());
    ids.push_back(unique_name("crash"));
  }
  Told told;
  std::mt19937 rng(std::random_device{}());
  const int n = rounds();
  for (int round = 0; round < n; ++round) {
    std::vector<std::thread> clients;
    for (std::size_t c = 0; c < kClients; ++c)
      clients.emplace_back(client_work, std::cref(daemon), std::cref(boxes), std::cref(ids), c, std::ref(told));
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 700)(rng)));
    daemon.stop(/*kill9=*/true);
    for (auto& t : clients) t.join();
    daemon.start();

    // Every setup answered with success is served with the same IPs.
    auto c = Conn(daemon.socket());
    std::lock_guard lock(told.mu);
    for (const auto& [id, ips] : told.up) {
      auto got = c.call("sandbox.get", json::object{{"id", id}});
      if (!told.unsure.count(id)) {
        ASSERT_TRUE(got.result) << "round " << round << ": " << id << " was set up but is gone\n" << daemon.log();
        EXPECT_EQ(got.result->at("state"), "ready") << "round " << round << ": " << id;
        EXPECT_EQ(result_ips(*got.result), ips) << "round " << round << ": " << id;
      } else if (got.result) {
        EXPECT_EQ(result_ips(*got.result), ips) << "round " << round << ": " << id;
      }
    }
    // What the daemon serves now is what callers may rely on next round.
    auto list = c.call("sandbox.list");
    ASSERT_TRUE(list.result);
    std::set<std::string> served;
    for (const auto& s : list.result->at("sandboxes").as_array()) {
      const std::string id(s.at("id").as_string());
      served.insert(id);
      if (s.at("state") == "ready" && !told.up.count(id)) told.up[id] = result_ips(s);
    }
    for (auto it = told.up.begin(); it != told.up.end();)
      it = served.count(it->first) ? std::next(it) : told.up.erase(it);
    std::cout << "round " << round << ": " << told.up.size() << " up, " << told.unsure.size()
              << " unanswered at the kill\n";
    told.unsure.clear();
    // No two sandboxes share an address.
    std::set<std::string> addresses;
    for (const auto& [id, ips] : told.up)
      for (const auto& ip : ips) EXPECT_TRUE(addresses.insert(ip).second) << ip << " given twice";
  }

  // Tear everything down, gc, and nothing is left.
  auto c = Conn(daemon.socket());
  auto list = c.call("sandbox.list");
  ASSERT_TRUE(list.result);
  for (const auto& s : list.result->at("sandboxes").as_array()) {
    auto r = c.call("sandbox.teardown", json::object{{"id", s.at("id")}});
    ASSERT_TRUE(r.result) << json::serialize(s);
    EXPECT_TRUE(r.result->at("errors").as_array().empty()) << json::serialize(*r.result);
  }
  auto gc = c.call("gc");
  ASSERT_TRUE(gc.result);
  EXPECT_TRUE(gc.result->at("errors").as_array().empty()) << json::serialize(*gc.result);
  EXPECT_TRUE(daemon.pin_files().empty());
  EXPECT_TRUE(daemon.record_files().empty());
  EXPECT_TRUE(daemon.allocated_ips(daemon.network()).empty());
  std::string cache_left;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(daemon.cache_dir() + "/results", ec))
    cache_left += e.path().filename().string() + " ";
  EXPECT_EQ(cache_left, "") << "CNI cache entries left";
  for (const auto& box : boxes) {
    auto links = box->exec({"ip", "-o", "link"});
    EXPECT_EQ(links.out.find("eth0"), std::string::npos) << links.out;
  }
}

}  // namespace
}  // namespace sandnet::test
