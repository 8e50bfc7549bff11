// The synchronous client: a blocking round trip on a non-blocking socket,
// with poll() enforcing the connect and request deadlines.
#include "sandnet/client/client.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <mutex>

#include "sandnet/common/jsonrpc.hpp"
#include "sandnet/common/scm.hpp"
#include "wire.hpp"

namespace sandnet::client {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

// Waits until fd is ready for events or the deadline passes (Error timeout).
void wait_for(int fd, short events, Clock::time_point deadline, const char* what) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) throw_error(errc::timeout, what);
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), INT32_MAX)));
    if (n > 0) return;  // ready, or an error/hangup the next call reports
    if (n < 0 && errno != EINTR) throw_errno(what);
  }
}

}  // namespace

struct Client::Impl {
  ClientOptions options;
  std::string socket_path;
  std::mutex mutex;  // one request at a time on the one connection
  unique_fd sock;
  detail::LineBuffer buffer;
  std::uint64_t next_id = 1;

  void connect_locked() {
    if (sock && !detail::connection_stale(sock.get())) return;
    sock.reset();
    buffer.clear();
    with_context("connect " + socket_path, [&] {
      sockaddr_un addr = detail::unix_address(socket_path);
      unique_fd fd = detail::make_socket();
      if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        // A Unix socket with a full backlog says EAGAIN; wait for room.
        if (errno != EAGAIN && errno != EINPROGRESS) throw_errno("connect");
        wait_for(fd.get(), POLLOUT, Clock::now() + options.connect_timeout, "connect");
        int err = 0;
        socklen_t len = sizeof(err);
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) throw_errno("connect");
        if (err != 0) throw_errno(err, "connect");
      }
      sock = std::move(fd);
    });
  }

  void send_all(std::string_view data, int fd, Clock::time_point deadline) {
    bool fd_sent = fd < 0;
    std::size_t sent = 0;
    while (sent < data.size()) {
      int fds[1] = {fd};
      std::span<const int> attach = fd_sent ? std::span<const int>() : std::span<const int>(fds);
      ssize_t n = scm::send_with_fds(sock.get(), data.substr(sent), attach);
      if (n < 0) {
        if (errno != EAGAIN) throw_errno("send request");
        wait_for(sock.get(), POLLOUT, deadline, "send request");
        continue;
      }
      fd_sent = true;
      sent += static_cast<std::size_t>(n);
    }
  }

  std::string read_line(Clock::time_point deadline) {
    char chunk[64 * 1024];
    for (;;) {
      if (auto line = buffer.take_line()) return std::move(*line);
      wait_for(sock.get(), POLLIN, deadline, "wait for reply");
      ssize_t n = ::recv(sock.get(), chunk, sizeof(chunk), 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        throw_errno("read reply");
      }
      if (n == 0)
        throw_error(errc::unavailable, buffer.empty() ? "daemon closed the connection"
                                                      : "daemon closed the connection in the middle of a reply");
      buffer.append(std::string_view(chunk, static_cast<std::size_t>(n)));
    }
  }

  json::value call(std::string_view method, const json::object& params, int fd) {
    std::lock_guard lock(mutex);
    connect_locked();
    std::uint64_t id = next_id++;
    std::string request = rpc::serialize_request(id, method, params);
    auto deadline = Clock::now() + options.request_timeout;
    rpc::Response reply;
    try {
      send_all(request, fd, deadline);
      reply = detail::parse_reply(read_line(deadline), id);
    } catch (Error&) {
      // Timeout, short reply, over-long line: the stream is out of step with
      // our requests. Drop the connection; the next request reconnects.
      sock.reset();
      buffer.clear();
      throw;
    }
    return detail::result_or_throw(std::move(reply));
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->socket_path = resolve_socket_path(options);
  impl_->options = std::move(options);
}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::connect() {
  std::lock_guard lock(impl_->mutex);
  impl_->connect_locked();
}

json::value Client::call(std::string_view method, const json::object& params, int fd) {
  return impl_->call(method, params, fd);
}

namespace {

json::object id_params(std::string_view id) { return json::object{{"id", id}}; }

void check_setup_fd(const protocol::SetupParams& params, int fd) {
  bool wants_fd = params.ref == protocol::SandboxRef::pidfd || params.ref == protocol::SandboxRef::netns;
  if (wants_fd && fd < 0)
    throw_error(errc::invalid_argument, "setup " + params.id + ": a pidfd or netns reference needs a file descriptor");
  if (!wants_fd && fd >= 0)
    throw_error(errc::invalid_argument, "setup " + params.id + ": a file descriptor was given for a PID or create reference");
}

}  // namespace

protocol::SandboxInfo Client::setup(const protocol::SetupParams& params, int sandbox_fd) {
  check_setup_fd(params, sandbox_fd);
  auto result = call(protocol::method::kSetup, json::value_from(params).as_object(), sandbox_fd);
  return decode_sandbox(result, protocol::method::kSetup);
}

protocol::TeardownResult Client::teardown(std::string_view id, bool force) {
  auto params = json::value_from(protocol::TeardownParams{std::string(id), force}).as_object();
  return decode_teardown(call(protocol::method::kTeardown, params));
}

void Client::check(std::string_view id) {
  auto result = call(protocol::method::kCheck, id_params(id));
  const auto* ok = result.is_object() ? result.get_object().if_contains("ok") : nullptr;
  if (!ok || !ok->is_bool())
    throw_error(errc::protocol_error, "bad sandbox.check reply: no \"ok\" boolean");
  if (!ok->get_bool()) throw_error(errc::plugin_failed, "check " + std::string(id));
}

protocol::SandboxInfo Client::get(std::string_view id) {
  return decode_sandbox(call(protocol::method::kGet, id_params(id)), protocol::method::kGet);
}

std::vector<protocol::SandboxInfo> Client::list() { return decode_sandbox_list(call(protocol::method::kList, {})); }

InspectResult Client::inspect(std::string_view id) {
  return decode_inspect(call(protocol::method::kInspect, id_params(id)));
}

std::vector<protocol::NetworkInfo> Client::networks() {
  return decode_networks(call(protocol::method::kNetworksList, {}));
}

protocol::RuntimeInfo Client::info() { return decode_runtime_info(call(protocol::method::kRuntimeInfo, {})); }

GcResult Client::gc() { return decode_gc(call(protocol::method::kGc, {})); }

StatusResult Client::status() { return decode_status(call(protocol::method::kStatus, {})); }

}  // namespace sandnet::client
