// The asynchronous client: the same round trip as Client, on an Asio
// stream socket. Requests that carry an fd are written with sendmsg() on the
// native handle (Asio has no SCM_RIGHTS), waiting for writability through Asio.
#include "sandnet/client/async_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <variant>

#include "sandnet/common/jsonrpc.hpp"
#include "sandnet/common/scm.hpp"
#include "wire.hpp"

namespace sandnet::client {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace boost::asio::experimental::awaitable_operators;
using local_socket = asio::local::stream_protocol::socket;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

[[noreturn]] void throw_system(const boost::system::error_code& ec, const std::string& what) {
  if (ec == asio::error::eof) throw_error(errc::unavailable, what + ": daemon closed the connection");
  throw Error(std::error_code(ec.value(), std::generic_category()), what);
}

}  // namespace

struct AsyncClient::Impl {
  Impl(asio::any_io_executor ex, ClientOptions opts)
      : executor(ex), options(std::move(opts)), socket_path(resolve_socket_path(options)), socket(ex), queue(ex, 1) {}

  asio::any_io_executor executor;
  ClientOptions options;
  std::string socket_path;
  local_socket socket;
  detail::LineBuffer buffer;
  std::uint64_t next_id = 1;
  // A one-slot channel used as an async mutex: sending takes the slot
  // (waiting while it is taken), receiving frees it.
  asio::experimental::channel<void(boost::system::error_code)> queue;

  void drop_connection() {
    boost::system::error_code ignored;
    socket.close(ignored);
    buffer.clear();
  }

  asio::awaitable<void> ensure_connected() {
    if (socket.is_open() && !detail::connection_stale(socket.native_handle())) co_return;
    drop_connection();
    try {
      sockaddr_un addr = detail::unix_address(socket_path);
      (void)addr;  // validates the path length before Asio does
      asio::steady_timer timer(executor, options.connect_timeout);
      auto result = co_await (socket.async_connect(asio::local::stream_protocol::endpoint(socket_path), use_tuple) ||
                              timer.async_wait(use_tuple));
      if (result.index() == 1) throw_error(errc::timeout, "connect");
      if (auto [ec] = std::get<0>(result); ec) throw_system(ec, "connect");
    } catch (Error& e) {
      drop_connection();
      e.add_context("connect " + socket_path);
      throw;
    }
  }

  asio::awaitable<void> send_all(std::string_view data, int fd, asio::steady_timer& deadline) {
    socket.native_non_blocking(true);
    bool fd_sent = fd < 0;
    std::size_t sent = 0;
    while (sent < data.size()) {
      int fds[1] = {fd};
      std::span<const int> attach = fd_sent ? std::span<const int>() : std::span<const int>(fds);
      ssize_t n = scm::send_with_fds(socket.native_handle(), data.substr(sent), attach);
      if (n < 0) {
        if (errno != EAGAIN) throw_errno("send request");
        auto r = co_await (socket.async_wait(local_socket::wait_write, use_tuple) || deadline.async_wait(use_tuple));
        if (r.index() == 1) throw_error(errc::timeout, "send request");
        if (auto [ec] = std::get<0>(r); ec) throw_system(ec, "send request");
        continue;
      }
      fd_sent = true;
      sent += static_cast<std::size_t>(n);
    }
  }

  asio::awaitable<std::string> read_line(asio::steady_timer& deadline) {
    std::array<char, 64 * 1024> chunk;
    for (;;) {
      if (auto line = buffer.take_line()) co_return std::move(*line);
      auto r = co_await (socket.async_read_some(asio::buffer(chunk), use_tuple) || deadline.async_wait(use_tuple));
      if (r.index() == 1) throw_error(errc::timeout, "wait for reply");
      auto [ec, n] = std::get<0>(r);
      if (ec == asio::error::eof)
        throw_error(errc::unavailable, buffer.empty() ? "daemon closed the connection"
                                                      : "daemon closed the connection in the middle of a reply");
      if (ec) throw_system(ec, "read reply");
      buffer.append(std::string_view(chunk.data(), n));
    }
  }
};

AsyncClient::AsyncClient(asio::any_io_executor executor, ClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}
AsyncClient::~AsyncClient() = default;
AsyncClient::AsyncClient(AsyncClient&&) noexcept = default;
AsyncClient& AsyncClient::operator=(AsyncClient&&) noexcept = default;

asio::any_io_executor AsyncClient::get_executor() const { return impl_->executor; }

void AsyncClient::close() { impl_->drop_connection(); }

asio::awaitable<json::value> AsyncClient::call(std::string method, json::object params, int fd) {
  auto impl = impl_;  // keeps the state alive across suspensions
  if (auto [ec] = co_await impl->queue.async_send(boost::system::error_code{}, use_tuple); ec)
    throw_system(ec, std::string(method));
  // Frees the queue slot on every exit path.
  struct QueueSlot {
    Impl& impl;
    ~QueueSlot() { impl.queue.try_receive([](boost::system::error_code) {}); }
  } slot{*impl};
  co_await impl->ensure_connected();
  std::uint64_t id = impl->next_id++;
  std::string request = rpc::serialize_request(id, method, params);
  asio::steady_timer deadline(impl->executor, impl->options.request_timeout);
  rpc::Response reply;
  try {
    co_await impl->send_all(request, fd, deadline);
    reply = detail::parse_reply(co_await impl->read_line(deadline), id);
  } catch (Error&) {
    impl->drop_connection();  // out of step with our requests; reconnect next time
    throw;
  }
  co_return detail::result_or_throw(std::move(reply));
}

namespace {
json::object id_params(const std::string& id) { return json::object{{"id", id}}; }
}  // namespace

asio::awaitable<protocol::SandboxInfo> AsyncClient::setup(protocol::SetupParams params, int sandbox_fd) {
  bool wants_fd = params.ref == protocol::SandboxRef::pidfd || params.ref == protocol::SandboxRef::netns;
  if (wants_fd != (sandbox_fd >= 0))
    throw_error(errc::invalid_argument, "setup " + params.id + (wants_fd ? ": a pidfd or netns reference needs a file descriptor"
                                                                          : ": a file descriptor was given for a PID or create reference"));
  auto result = co_await call(protocol::method::kSetup, json::value_from(params).as_object(), sandbox_fd);
  co_return decode_sandbox(result, protocol::method::kSetup);
}

asio::awaitable<protocol::TeardownResult> AsyncClient::teardown(std::string id, bool force) {
  auto params = json::value_from(protocol::TeardownParams{std::move(id), force}).as_object();
  co_return decode_teardown(co_await call(protocol::method::kTeardown, std::move(params)));
}

asio::awaitable<void> AsyncClient::check(std::string id) {
  auto result = co_await call(protocol::method::kCheck, id_params(id));
  const auto* ok = result.is_object() ? result.get_object().if_contains("ok") : nullptr;
  if (!ok || !ok->is_bool()) throw_error(errc::protocol_error, "bad sandbox.check reply: no \"ok\" boolean");
  if (!ok->get_bool()) throw_error(errc::plugin_failed, "check " + id);
}

asio::awaitable<protocol::SandboxInfo> AsyncClient::get(std::string id) {
  co_return decode_sandbox(co_await call(protocol::method::kGet, id_params(id)), protocol::method::kGet);
}

asio::awaitable<std::vector<protocol::SandboxInfo>> AsyncClient::list() {
  co_return decode_sandbox_list(co_await call(protocol::method::kList, {}));
}

asio::awaitable<InspectResult> AsyncClient::inspect(std::string id) {
  co_return decode_inspect(co_await call(protocol::method::kInspect, id_params(id)));
}

asio::awaitable<std::vector<protocol::NetworkInfo>> AsyncClient::networks() {
  co_return decode_networks(co_await call(protocol::method::kNetworksList, {}));
}

asio::awaitable<protocol::RuntimeInfo> AsyncClient::info() {
  co_return decode_runtime_info(co_await call(protocol::method::kRuntimeInfo, {}));
}

asio::awaitable<GcResult> AsyncClient::gc() { co_return decode_gc(co_await call(protocol::method::kGc, {})); }

asio::awaitable<StatusResult> AsyncClient::status() {
  co_return decode_status(co_await call(protocol::method::kStatus, {}));
}

}  // namespace sandnet::client
