#include "sandnet/daemon/async_sync.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <string>
#include <vector>

namespace sandnet::daemon {
namespace {
namespace asio = boost::asio;

asio::awaitable<void> sleep_ms(int ms) {
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
  co_await timer.async_wait(asio::use_awaitable);
}

TEST(AsyncGate, ManyEnterTogetherAndACloserWaitsForThemAndKeepsNewOnesOut) {
  asio::io_context io;
  AsyncGate gate;
  std::vector<std::string> log;

  auto user = [&](std::string name, int start_ms, int hold_ms) -> asio::awaitable<void> {
    co_await sleep_ms(start_ms);
    auto pass = co_await gate.enter();
    log.push_back(name + " in");
    co_await sleep_ms(hold_ms);
    log.push_back(name + " out");
  };
  auto closer = [&](std::string name, int start_ms, int hold_ms) -> asio::awaitable<void> {
    co_await sleep_ms(start_ms);
    auto closed = co_await gate.close();
    EXPECT_EQ(gate.inside(), 0u);
    log.push_back(name + " closed");
    co_await sleep_ms(hold_ms);
    log.push_back(name + " open");
  };
  // a and b are inside together; gc1 waits for both, c (arriving while gc1
  // waits) stays out until gc1 is done; gc2 queues behind gc1 and c.
  asio::co_spawn(io, user("a", 0, 40), asio::detached);
  asio::co_spawn(io, user("b", 5, 40), asio::detached);
  asio::co_spawn(io, closer("gc1", 10, 40), asio::detached);
  asio::co_spawn(io, user("c", 20, 10), asio::detached);
  asio::co_spawn(io, closer("gc2", 25, 10), asio::detached);
  io.run();

  const std::vector<std::string> expected{"a in",     "b in", "a out", "b out",     "gc1 closed",
                                          "gc1 open", "c in", "c out", "gc2 closed", "gc2 open"};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(gate.inside(), 0u);
}

TEST(AsyncGate, AnOpenGateLetsEveryoneInAtOnce) {
  asio::io_context io;
  AsyncGate gate;
  std::size_t most_inside = 0;
  auto user = [&]() -> asio::awaitable<void> {
    auto pass = co_await gate.enter();
    most_inside = std::max(most_inside, gate.inside());
    co_await sleep_ms(10);
  };
  for (int i = 0; i < 5; ++i) asio::co_spawn(io, user(), asio::detached);
  io.run();
  EXPECT_EQ(most_inside, 5u);
  EXPECT_EQ(gate.inside(), 0u);
}

}  // namespace
}  // namespace sandnet::daemon
