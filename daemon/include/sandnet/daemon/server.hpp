// The sandnetd socket server: one coroutine per connection that owns its
// socket, NDJSON JSON-RPC lines with a size limit and an idle timeout, many
// requests per connection answered in order, fds passed with SCM_RIGHTS handed
// to the request they arrived with. It never interprets a method: a Handler
// does (and never touches the network).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "sandnet/common/jsonrpc.hpp"
#include "sandnet/common/unique_fd.hpp"
#include "sandnet/daemon/policy.hpp"  // Caller

namespace sandnet::daemon {

// What the server calls for each request. call() throws sandnet::Error for a
// failed request; the server turns it into a JSON-RPC error reply (any other
// exception becomes -32603). fds are those that came with the request line.
struct Handler {
  std::function<bool(std::string_view method)> has_method;  // false: -32601
  std::function<boost::asio::awaitable<boost::json::value>(const Caller&, const rpc::Request&,
                                                           std::vector<unique_fd>)>
      call;
};

struct ServerOptions {
  std::size_t max_connections = 1024;
  // A connection with no complete request for this long is closed.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  std::size_t max_line_bytes = rpc::kMaxLineBytes;
};

class Server {
 public:
  // listener: a bound, listening Unix stream socket (ours or systemd's).
  Server(boost::asio::io_context& io, unique_fd listener, ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts accepting (spawns the accept loop on io).
  void start();
  // Stops accepting; idle connections close now, busy ones after their
  // current request. io.run() returns once all of them are gone.
  void stop();

  std::size_t connections() const;

  struct State;  // implementation detail (server.cpp)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace sandnet::daemon
