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
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <spdlog/spdlog.h>
#include <string>
#include <vector>

#include "sandnet/common/error.hpp"
#include "sandnet/common/scm.hpp"

namespace sandnet::daemon {
namespace asio = boost::asio;
namespace json = boost::json;
using asio::local::stream_protocol;
using namespace asio::experimental::awaitable_operators;

namespace {

using Clock = std::chrono::steady_clock;

// One client connection. A watchdog closes the socket when the deadline of
// the current phase passes, which aborts whatever the session awaits on it.
struct Session {
  enum class Phase { reading, serving, writing };

  Session(stream_protocol::socket s, Caller c) : sock(std::move(s)), timer(sock.get_executor()), caller(c) {}

  // Re-arms the watchdog (a cancelled wait makes it read the deadline again).
  void set_deadline(Clock::time_point when) {
    deadline = when;
    timer.cancel();
  }
  void close() {
    boost::system::error_code ignored;
    sock.close(ignored);
    timer.cancel();
  }

  stream_protocol::socket sock;
  asio::steady_timer timer;
  Caller caller;
  Phase phase = Phase::reading;
  Clock::time_point deadline = Clock::time_point::max();
  bool timed_out = false;
};

}  // namespace

struct Server::State {
  State(asio::io_context& io_, unique_fd listener, ServerOptions opts, Handler h)
      : io(io_), acceptor(io_), options(std::move(opts)), handler(std::move(h)) {
    acceptor.assign(stream_protocol(), listener.release());
  }

  asio::io_context& io;
  stream_protocol::acceptor acceptor;
  ServerOptions options;
  Handler handler;
  bool stopping = false;
  std::size_t active = 0;
  std::map<uid_t, std::size_t> per_uid;  // open connections of each uid
  std::set<Session*> sessions;           // stop() wakes or hurries them
  // Refusals are logged at most once a second (a crowd must not flood the journal).
  Clock::time_point last_refusal_log{};
  std::size_t unlogged_refusals = 0;
  Clock::time_point last_accept_error_log{};
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

asio::awaitable<void> watchdog(std::shared_ptr<Session> s) {
  while (s->sock.is_open()) {
    if (Clock::now() >= s->deadline) {
      s->timed_out = true;
      boost::system::error_code ignored;
      s->sock.close(ignored);
      co_return;
    }
    s->timer.expires_at(s->deadline);
    co_await s->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> session(std::shared_ptr<Server::State> st, std::shared_ptr<Session> s) {
  // The accept loop counted us in; we count ourselves out.
  struct Leave {
    Server::State& st;
    Session& s;
    ~Leave() {
      s.close();
      st.sessions.erase(&s);
      --st.active;
      if (auto it = st.per_uid.find(s.caller.uid); it != st.per_uid.end() && --it->second == 0) st.per_uid.erase(it);
    }
  } leave{*st, *s};
  const Caller& caller = s->caller;
  const auto& options = st->options;

  // The next request line must be complete within idle_timeout from now, no
  // matter how its bytes trickle in.
  auto await_line = [&] {
    s->phase = Session::Phase::reading;
    s->set_deadline(Clock::now() + options.idle_timeout);
  };
  auto send = [&](const std::string& line) -> asio::awaitable<bool> {
    s->phase = Session::Phase::writing;
    auto budget = st->stopping ? std::min(options.write_timeout, options.stop_grace) : options.write_timeout;
    s->set_deadline(Clock::now() + budget);
    auto [ec, n] = co_await asio::async_write(s->sock, asio::buffer(line), asio::as_tuple(asio::use_awaitable));
    if (ec && s->timed_out)
      spdlog::info("uid {} pid {}: reply of {} bytes not read in time, closing", caller.uid, caller.pid, line.size());
    co_return !ec;
  };

  std::string buffer;
  std::vector<unique_fd> pending_fds;  // arrived with the line being accumulated
  std::array<char, 64 * 1024> chunk{};
  bool eof = false;
  await_line();
  while (true) {
    std::size_t newline;
    while ((newline = buffer.find('\n')) != std::string::npos || (eof && !buffer.empty())) {
      if (newline == std::string::npos) newline = buffer.size();  // last line, unterminated
      std::string line = buffer.substr(0, newline);
      buffer.erase(0, std::min(newline + 1, buffer.size()));
      auto fds = std::move(pending_fds);
      pending_fds.clear();
      if (line.size() > options.max_line_bytes) {
        co_await send(too_long(options.max_line_bytes));
        co_return;
      }
      if (is_blank(line)) continue;
      // No deadline while the request is served (a setup is bounded by its
      // plugins' timeouts).
      s->phase = Session::Phase::serving;
      s->set_deadline(Clock::time_point::max());
      std::string reply = co_await serve_line(*st, caller, line, std::move(fds));
      if (!reply.empty() && !co_await send(reply)) co_return;
      if (st->stopping) co_return;
      await_line();
    }
    if (eof || st->stopping) co_return;
    if (buffer.size() > options.max_line_bytes) {
      co_await send(too_long(options.max_line_bytes));
      co_return;
    }

    auto [ec] = co_await s->sock.async_wait(stream_protocol::socket::wait_read, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (s->timed_out) spdlog::debug("uid {}: no complete request in time, closing", caller.uid);
      co_return;
    }
    ssize_t n = scm::recv_with_fds(s->sock.native_handle(), chunk, pending_fds);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      if (errno == EMSGSIZE) co_await send(error_line(nullptr, rpc::kInvalidRequest, "too many file descriptors in one message"));
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

// Why a new connection from caller is refused, or nullopt to accept it.
std::optional<std::string> refusal(const Server::State& st, const Caller& caller) {
  const auto& o = st.options;
  if (caller.is_root()) {
    if (st.active >= o.max_connections + o.root_reserve) return "too many connections (root's reserve is used up too)";
    return std::nullopt;
  }
  if (st.active >= o.max_connections) return "too many connections, try again later";
  if (o.max_connections_for) {
    const std::size_t limit = o.max_connections_for(caller);
    auto it = st.per_uid.find(caller.uid);
    const std::size_t open = it == st.per_uid.end() ? 0 : it->second;
    if (open >= limit)
      return "too many connections from uid " + std::to_string(caller.uid) + " (at most " + std::to_string(limit) + ")";
  }
  return std::nullopt;
}

void log_refusal(Server::State& st, const Caller& caller, const std::string& why) {
  auto now = Clock::now();
  if (now - st.last_refusal_log < std::chrono::seconds(1)) {
    ++st.unlogged_refusals;
    return;
  }
  spdlog::warn("refused connection from uid {} pid {}: {} ({} open; {} more refused since the last message)",
               caller.uid, caller.pid, why, st.active, st.unlogged_refusals);
  st.last_refusal_log = now;
  st.unlogged_refusals = 0;
}

// The peer's supplementary groups as they were at its connect(). The kernel
// answers ERANGE with the size it needs; the peer's groups may not change
// between the calls (they are a copy of its credentials then), so one retry
// at that size suffices. Empty, with a warning, if they cannot be read: groups
// only ever grant, so a caller without them has less, never more.
std::vector<gid_t> peer_groups(int fd) {
  // The kernel's NGROUPS_MAX: no process can have more.
  constexpr std::size_t kMaxGroups = 65536;
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE || len / sizeof(gid_t) > kMaxGroups) break;
    groups.resize(len / sizeof(gid_t));
  }
  spdlog::warn("accept: SO_PEERGROUPS: {}; the caller's supplementary groups are not used", std::strerror(errno));
  return {};
}

std::optional<Caller> peer_credentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  // Root needs no groups; skipping the call keeps its accepts cheap.
  std::vector<gid_t> groups = cred.uid == 0 ? std::vector<gid_t>() : peer_groups(fd);
  return Caller{cred.uid, cred.gid, cred.pid, std::move(groups)};
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
      if (Clock::now() - st->last_accept_error_log >= std::chrono::seconds(1)) {
        spdlog::warn("accept: {}; retrying every 100 ms", std::strerror(err));
        st->last_accept_error_log = Clock::now();
      }
      // Out of fds (EMFILE, ENFILE) or memory: back off instead of spinning.
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    auto caller = peer_credentials(fd.get());
    if (!caller) {
      spdlog::warn("accept: SO_PEERCRED: {}", std::strerror(errno));
      continue;
    }
    if (auto why = refusal(*st, *caller)) {
      // Refuse politely: one error line (best effort, never blocks), then close.
      std::string line = error_line(nullptr, rpc::kBusy, *why);
      [[maybe_unused]] auto sent = ::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      log_refusal(*st, *caller, *why);
      continue;
    }
    // Counted here, not when the session starts: the next accept must see it.
    ++st->active;
    ++st->per_uid[caller->uid];
    auto s = std::make_shared<Session>(stream_protocol::socket(st->io, stream_protocol(), fd.release()), *caller);
    st->sessions.insert(s.get());
    asio::co_spawn(st->io, watchdog(s), asio::detached);
    asio::co_spawn(st->io, session(st, std::move(s)), asio::detached);
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
  // Waiting for a line: close now. Writing a reply: at most stop_grace more.
  // Serving: the session writes its reply (within stop_grace) and leaves.
  const auto hurry = Clock::now() + state_->options.stop_grace;
  for (auto* s : state_->sessions) {
    if (s->phase == Session::Phase::reading) s->close();
    else if (s->phase == Session::Phase::writing && s->deadline > hurry) s->set_deadline(hurry);
  }
}

std::size_t Server::connections() const { return state_->active; }

}  // namespace sandnet::daemon
