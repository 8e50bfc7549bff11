// The socket server's deadlines and shutdown, against a trivial handler on a
// socket in a temp dir (no root needed).
#include "sandnet/daemon/server.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>
#include <future>
#include <optional>
#include <thread>

#include "sandnet/common/error.hpp"
#include "sandnet/daemon/listen.hpp"
#include "support/process.hpp"

namespace sandnet::daemon {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// "big" answers with a 1 MiB string, anything else with its method name.
Handler test_handler() {
  Handler h;
  h.has_method = [](std::string_view) { return true; };
  h.call = [](const Caller&, const rpc::Request& r, std::vector<unique_fd>) -> asio::awaitable<json::value> {
    if (r.method == "big") co_return json::value(std::string(1 << 20, 'x'));
    co_return json::value(r.method);
  };
  return h;
}

// A server on its own thread.
class Running {
 public:
  explicit Running(ServerOptions options) {
    path_ = dir_.path() + "/s.sock";
    server_.emplace(io_, create_listening_socket(SocketOptions{path_, 0600, std::nullopt}), options, test_handler());
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Running() {
    stop();
    thread_.join();
  }
  // Asks the server to stop (on its thread).
  void stop() {
    asio::post(io_, [this] { server_->stop(); });
  }
  // Waits for io.run() to return; true when it did within timeout.
  bool wait_stopped(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (io_.stopped()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return io_.stopped();
  }
  std::size_t connections() {
    std::promise<std::size_t> count;
    asio::post(io_, [&] { count.set_value(server_->connections()); });
    return count.get_future().get();
  }
  unique_fd connect() const {
    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    connect(fd.get());
    return fd;
  }
  void connect(int fd) const {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw_errno("connect");
  }

 private:
  test::TempDir dir_;
  std::string path_;
  asio::io_context io_;
  std::optional<Server> server_;
  std::thread thread_;
};

void send_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) return;  // our buffers are full: enough
    off += static_cast<std::size_t>(n);
  }
}

std::string requests(std::string_view method, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) out += rpc::serialize_request(i, method, {});
  return out;
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

TEST(Listen, SocketGetsTheModeAndTheConfiguredGroup) {
  test::TempDir dir;
  // Root may give it any group; anyone else only one of its own.
  const gid_t gid = ::geteuid() == 0 ? 65534 : ::getegid();
  const std::string path = dir.path() + "/g.sock";
  unique_fd fd = create_listening_socket(SocketOptions{path, 0640, gid});
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, gid);
  EXPECT_EQ(st.st_mode & 07777, 0640U);
}

TEST(Server, AClientThatDoesNotReadItsRepliesIsClosedAfterTheWriteTimeout) {
  ServerOptions options;
  options.write_timeout = 300ms;
  Running server(options);
  unique_fd client = server.connect();
  send_all(client.get(), requests("big", 20));
  ASSERT_TRUE(wait_for([&] { return server.connections() == 1; }, 1s));
  auto before = Clock::now();
  EXPECT_TRUE(wait_for([&] { return server.connections() == 0; }, 3s));
  EXPECT_LT(Clock::now() - before, 1500ms);
  // Another client is served meanwhile and after.
  unique_fd other = server.connect();
  send_all(other.get(), requests("status", 1));
  pollfd p{other.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 2000), 1);
}

TEST(Server, StopDuringAWriteNobodyReadsReturnsWithinTheGrace) {
  ServerOptions options;
  options.write_timeout = 60s;
  options.stop_grace = 200ms;
  Running server(options);
  unique_fd client = server.connect();
  send_all(client.get(), requests("big", 20));
  ASSERT_TRUE(wait_for([&] { return server.connections() == 1; }, 1s));
  std::this_thread::sleep_for(200ms);  // stuck writing the first reply
  auto before = Clock::now();
  server.stop();
  ASSERT_TRUE(server.wait_stopped(3s));
  EXPECT_LT(Clock::now() - before, 1s);
}

TEST(Server, StopClosesIdleConnectionsAtOnce) {
  ServerOptions options;
  options.idle_timeout = 60s;
  Running server(options);
  unique_fd a = server.connect(), b = server.connect();
  send_all(b.get(), "{\"jsonrpc\":");  // half a line
  ASSERT_TRUE(wait_for([&] { return server.connections() == 2; }, 1s));
  auto before = Clock::now();
  server.stop();
  ASSERT_TRUE(server.wait_stopped(3s));
  EXPECT_LT(Clock::now() - before, 500ms);
}

TEST(Server, ALineMustBeCompleteWithinTheIdleTimeoutHoweverItTrickles) {
  ServerOptions options;
  options.idle_timeout = 500ms;
  Running server(options);
  unique_fd client = server.connect();
  ASSERT_TRUE(wait_for([&] { return server.connections() == 1; }, 1s));
  auto first = Clock::now();
  send_all(client.get(), "{");
  while (Clock::now() - first < 3s && server.connections() == 1) {
    std::this_thread::sleep_for(50ms);
    send_all(client.get(), " ");
  }
  EXPECT_EQ(server.connections(), 0u);
  EXPECT_LT(Clock::now() - first, 1500ms);
}

TEST(Server, EachRepliedRequestStartsANewIdleDeadline) {
  ServerOptions options;
  options.idle_timeout = 400ms;
  Running server(options);
  unique_fd client = server.connect();
  char buf[4096];
  for (int i = 0; i < 4; ++i) {  // 4 x 250 ms: longer than one idle timeout in all
    std::this_thread::sleep_for(250ms);
    send_all(client.get(), requests("status", 1));
    pollfd p{client.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1);
    ASSERT_GT(::recv(client.get(), buf, sizeof buf, 0), 0);
  }
  EXPECT_EQ(server.connections(), 1u);
}

std::chrono::milliseconds cpu_time() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto ms = [](const timeval& t) { return std::chrono::milliseconds(t.tv_sec * 1000 + t.tv_usec / 1000); };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

TEST(Server, OutOfFdsTheAcceptLoopBacksOffAndAcceptsOnceFdsAreBack) {
#if defined(__SANITIZE_ADDRESS__)
  // Under ASan+UBSan, exhausting this process's fds once gave a UBSan vptr
  // report inside asio's scheduler (not understood yet); the normal build
  // runs the test, and priv_daemon's limits tests cover EMFILE end to end.
  GTEST_SKIP() << "not run under the sanitizers (see the comment)";
#endif
  Running server(ServerOptions{});
  std::vector<unique_fd> clients;
  for (int i = 0; i < 3; ++i) clients.emplace_back(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  // No new fd from here: accept4 fails with EMFILE.
  rlimit none{static_cast<rlim_t>(clients.back().get() + 1), saved.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &none), 0);
  test::Defer restore([&] { ::setrlimit(RLIMIT_NOFILE, &saved); });
  for (auto& c : clients) server.connect(c.get());
  auto cpu_before = cpu_time();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(server.connections(), 0u);
  EXPECT_LT(cpu_time() - cpu_before, 200ms);  // a spinning loop would burn the whole second
  ::setrlimit(RLIMIT_NOFILE, &saved);
  EXPECT_TRUE(wait_for([&] { return server.connections() == 3; }, 2s));
}

}  // namespace
}  // namespace sandnet::daemon
