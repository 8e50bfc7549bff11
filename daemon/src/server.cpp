#include "sandnet/daemon/server.hpp"

#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <set>
#include <spdlog/spdlog.h>
#include <string>

#include "sandnet/common/error.hpp"
#include "sandnet/common/scm.hpp"

namespace sandnet::daemon {
namespace asio = boost::asio;
namespace json = boost::json;
using asio::local::stream_protocol;
using namespace asio::experimental::awaitable_operators;

struct Server::State {
  State(asio::io_context& io_, unique_fd listener, ServerOptions opts, Handler h)
      : io(io_), acceptor(io_), options(opts), handler(std::move(h)) {
    acceptor.assign(stream_protocol(), listener.release());
  }

  asio::io_context& io;
  stream_protocol::acceptor acceptor;
  ServerOptions options;
  Handler handler;
  bool stopping = false;
  std::size_t active = 0;
  // Each session's idle timer; stop() cancels them to wake idle sessions.
  std::set<asio::steady_timer*> idle_timers;
};

namespace {

std::string error_line(const json::value& id, int code, std::string message) {
  return rpc::serialize_error(id, rpc::ErrorObject{code, std::move(message), nullptr});
}

std::string too_long(std::size_t limit) {
  return error_line(nullptr, rpc::kInvalidRequest, "request line longer than " + std::to_string(limit) + " bytes");
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

// One request line -> one reply line ("" for a notification).
asio::awaitable<std::string> serve_line(Server::State& st, const Caller& caller,
                                        std::string_view line, std::vector<unique_fd> fds) {
  auto parsed = rpc::parse_request(line);
  if (auto* bad = std::get_if<rpc::ErrorReply>(&parsed)) {
    co_return rpc::serialize_error(bad->id, bad->error);
  }
  const auto& request = std::get<rpc::Request>(parsed);
  if (!st.handler.has_method(request.method)) {
    if (request.notification) co_return std::string();
    co_return error_line(request.id, rpc::kMethodNotFound, "unknown method \"" + request.method + "\"");
  }
  std::optional<rpc::ErrorObject> failure;
  json::value result;
  try {
    result = co_await st.handler.call(caller, request, std::move(fds));
  } catch (const Error& e) {
    failure = rpc::error_from(e);
  } catch (const std::exception& e) {
    failure = rpc::ErrorObject{rpc::kInternalError, std::string("internal error: ") + e.what(), nullptr};
  }
  if (failure) {
    spdlog::debug("uid {} {}: {}", caller.uid, request.method, failure->message);
  }
  if (request.notification) co_return std::string();
  co_return failure ? rpc::serialize_error(request.id, *failure)
                    : rpc::serialize_result(request.id, result);
}

asio::awaitable<void> session(std::shared_ptr<Server::State> st, stream_protocol::socket sock,
                              Caller caller) {
  ++st->active;
  asio::steady_timer idle(sock.get_executor());
  st->idle_timers.insert(&idle);
  struct Leave {
    Server::State& st;
    asio::steady_timer* timer;
    ~Leave() {
      st.idle_timers.erase(timer);
      --st.active;
    }
  } leave{*st, &idle};

  auto send = [&](const std::string& line) -> asio::awaitable<bool> {
    auto [ec, n] = co_await asio::async_write(sock, asio::buffer(line), asio::as_tuple(asio::use_awaitable));
    co_return !ec;
  };

  std::string buffer;
  std::vector<unique_fd> pending_fds;  // arrived with the line being accumulated
  std::array<char, 64 * 1024> chunk{};
  bool eof = false;
  while (true) {
    std::size_t newline;
    while ((newline = buffer.find('\n')) != std::string::npos || (eof && !buffer.empty())) {
      if (newline == std::string::npos) newline = buffer.size();  // last line, unterminated
      std::string line = buffer.substr(0, newline);
      buffer.erase(0, std::min(newline + 1, buffer.size()));
      auto fds = std::move(pending_fds);
      pending_fds.clear();
      if (line.size() > st->options.max_line_bytes) {
        std::string reply = too_long(st->options.max_line_bytes);
        co_await send(reply);
        co_return;
      }
      if (is_blank(line)) continue;
      std::string reply = co_await serve_line(*st, caller, line, std::move(fds));
      if (!reply.empty() && !co_await send(reply)) co_return;
      if (st->stopping) co_return;
    }
    if (eof || st->stopping) co_return;
    if (buffer.size() > st->options.max_line_bytes) {
      std::string reply = too_long(st->options.max_line_bytes);
      co_await send(reply);
      co_return;
    }

    idle.expires_after(st->options.idle_timeout);
    auto which = co_await (sock.async_wait(stream_protocol::socket::wait_read, asio::as_tuple(asio::use_awaitable)) ||
                           idle.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (which.index() == 1) {
      if (!st->stopping) spdlog::debug("uid {}: connection idle, closing", caller.uid);
      co_return;
    }
    if (std::get<0>(std::get<0>(which))) co_return;

    ssize_t n = scm::recv_with_fds(sock.native_handle(), chunk, pending_fds);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      if (errno == EMSGSIZE) {
        std::string reply = error_line(nullptr, rpc::kInvalidRequest, "too many file descriptors in one message");
        co_await send(reply);
      }
      co_return;
    }
    if (n == 0) {
      eof = true;
      continue;
    }
    // A request needs at most one fd; more than a message's worth is refused
    // by closing the surplus (unique_fd does it).
    if (pending_fds.size() > scm::kMaxFdsPerMessage) pending_fds.resize(scm::kMaxFdsPerMessage);
    buffer.append(chunk.data(), static_cast<std::size_t>(n));
  }
}

std::optional<Caller> peer_credentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  return Caller{cred.uid, cred.gid, cred.pid};
}

asio::awaitable<void> accept_loop(std::shared_ptr<Server::State> st) {
  asio::steady_timer backoff(st->io);
  while (!st->stopping) {
    auto [ec] = co_await st->acceptor.async_wait(stream_protocol::acceptor::wait_read,
                                                 asio::as_tuple(asio::use_awaitable));
    if (st->stopping) co_return;
    if (ec) {
      spdlog::error("accept: {}", ec.message());
      co_return;
    }
    // accept4 ourselves: asio's accept does not set SOCK_CLOEXEC, and plugins
    // we fork must never inherit a client's socket.
    unique_fd fd(::accept4(st->acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd) {
      int err = errno;
      if (err == EAGAIN || err == EINTR || err == ECONNABORTED) continue;
      spdlog::warn("accept: {}", std::strerror(err));
      // Out of fds or memory: back off instead of spinning.
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    auto caller = peer_credentials(fd.get());
    if (!caller) {
      spdlog::warn("accept: SO_PEERCRED: {}", std::strerror(errno));
      continue;
    }
    if (st->active >= st->options.max_connections) {
      // Refuse politely: one error line (best effort, never blocks), then close.
      std::string line = error_line(nullptr, rpc::kBusy, "too many connections, try again later");
      [[maybe_unused]] auto sent = ::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      spdlog::warn("refused connection from uid {} pid {}: {} connections open", caller->uid, caller->pid,
                   st->active);
      continue;
    }
    stream_protocol::socket sock(st->io, stream_protocol(), fd.release());
    asio::co_spawn(st->io, session(st, std::move(sock), *caller), asio::detached);
  }
}

}  // namespace

Server::Server(asio::io_context& io, unique_fd listener, ServerOptions options, Handler handler)
    : state_(std::make_shared<State>(io, std::move(listener), options, std::move(handler))) {}

Server::~Server() { stop(); }

void Server::start() { asio::co_spawn(state_->io, accept_loop(state_), asio::detached); }

void Server::stop() {
  if (state_->stopping) return;
  state_->stopping = true;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
  for (auto* timer : state_->idle_timers) timer->cancel();
}

std::size_t Server::connections() const { return state_->active; }

}  // namespace sandnet::daemon
