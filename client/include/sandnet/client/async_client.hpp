// libsandnet's asynchronous client: the Client API as C++20 coroutines on
// the caller's Asio executor (Boost 1.81 Asio, awaitable/use_awaitable).
//
//   sandnet::client::AsyncClient client(io.get_executor());
//   auto info = co_await client.setup(params);
//
// One connection; concurrent calls from coroutines on the same executor are
// queued and sent one at a time. Call it only from its executor (use a
// strand when the io_context runs on several threads). Each pending call
// keeps the client's state alive, so destroying the AsyncClient while calls
// are in flight is safe (they finish or fail with the socket).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>

#include "sandnet/client/client.hpp"

namespace sandnet::client {

class AsyncClient {
 public:
  AsyncClient(boost::asio::any_io_executor executor, ClientOptions options = {});
  ~AsyncClient();
  AsyncClient(AsyncClient&&) noexcept;
  AsyncClient& operator=(AsyncClient&&) noexcept;

  boost::asio::any_io_executor get_executor() const;

  // As Client::setup; the fd (if any) must stay open until the call completes.
  boost::asio::awaitable<protocol::SandboxInfo> setup(protocol::SetupParams params, int sandbox_fd = -1);
  boost::asio::awaitable<protocol::TeardownResult> teardown(std::string id, bool force = false);
  boost::asio::awaitable<void> check(std::string id);
  boost::asio::awaitable<protocol::SandboxInfo> get(std::string id);
  boost::asio::awaitable<std::vector<protocol::SandboxInfo>> list();
  boost::asio::awaitable<InspectResult> inspect(std::string id);
  boost::asio::awaitable<std::vector<protocol::NetworkInfo>> networks();
  boost::asio::awaitable<protocol::RuntimeInfo> info();
  boost::asio::awaitable<GcResult> gc();
  boost::asio::awaitable<StatusResult> status();

  boost::asio::awaitable<boost::json::value> call(std::string method, boost::json::object params, int fd = -1);

  // Closes the connection; calls in flight fail.
  void close();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace sandnet::client
