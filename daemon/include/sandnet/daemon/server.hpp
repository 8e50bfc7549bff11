// The sandnetd socket server: one coroutine per connection that owns its
// socket, NDJSON JSON-RPC lines with a size limit and deadlines (a line must
// arrive, a reply must be written, in time), connection caps (global, per uid,
// a reserve for root), many requests per connection answered in order (one at
// a time: the next line is not read before the last reply is written), fds
// passed with SCM_RIGHTS handed to the request they arrived with. It never
// interprets a method: a Handler does (and never touches the network).
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
  // Connections open at once, root's included; beyond it only root is
  // accepted, up to root_reserve more, so that an operator always gets in.
  std::size_t max_connections = 1024;
  std::size_t root_reserve = 8;
  // The most connections one non-root caller (by uid) may hold; empty = only
  // the global cap. Asked at each accept (the answer may follow a reload).
  std::function<std::size_t(const Caller&)> max_connections_for;
  // A request line must be complete this long after the connection went idle
  // (accepted, or its last reply written): trickling bytes does not extend it.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // A reply must be written within this; a client that does not drain its
  // replies is closed (so what it holds is freed).
  std::chrono::milliseconds write_timeout = std::chrono::seconds(10);
  // After stop(), a reply still being written gets at most this long.
  std::chrono::milliseconds stop_grace = std::chrono::seconds(1);
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
  // current request and reply (written within stop_grace). io.run() returns
  // once all of them are gone.
  void stop();

  std::size_t connections() const;

  struct State;  // implementation detail (server.cpp)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace sandnet::daemon
