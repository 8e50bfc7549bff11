#include "fake_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sandnet/common/error.hpp"
#include "sandnet/common/scm.hpp"

namespace sandnet::test {
namespace json = boost::json;

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // the client went away; the test checks what it saw
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

Step reply_result(json::value result) {
  return [result](int conn, const ReceivedRequest& r) {
    write_all(conn, rpc::serialize_result(r.id, result));
    return After::keep_open;
  };
}

Step reply_error(rpc::ErrorObject error) {
  return [error](int conn, const ReceivedRequest& r) {
    write_all(conn, rpc::serialize_error(r.id, error));
    return After::keep_open;
  };
}

Step reply_raw(std::string bytes) {
  return [bytes](int conn, const ReceivedRequest&) {
    write_all(conn, bytes);
    return After::keep_open;
  };
}

Step close_mid_reply() {
  return [](int conn, const ReceivedRequest& r) {
    std::string line = rpc::serialize_result(r.id, json::object{{"version", "0.1.0"}});
    write_all(conn, line.substr(0, line.size() / 2));
    return After::close;
  };
}

Step reply_oversized() {
  return [](int conn, const ReceivedRequest& r) {
    std::string big(rpc::kMaxLineBytes + 16, 'x');
    write_all(conn, rpc::serialize_result(r.id, json::object{{"version", big}}));
    return After::close;
  };
}

Step stall() {
  return [](int, const ReceivedRequest&) { return After::keep_open; };
}

FakeServer::FakeServer(std::vector<Step> script) : script_(std::move(script)) {
  path_ = dir_.path() + "/sandnetd.sock";
  listener_ = unique_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener_) throw_errno("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
  if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) throw_errno("bind " + path_);
  if (::listen(listener_.get(), 8) != 0) throw_errno("listen");
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("pipe2");
  stop_read_ = unique_fd(p[0]);
  stop_write_ = unique_fd(p[1]);
  thread_ = std::thread([this] { serve(); });
}

FakeServer::~FakeServer() {
  char c = 0;
  [[maybe_unused]] auto n = ::write(stop_write_.get(), &c, 1);
  thread_.join();
}

std::vector<ReceivedRequest> FakeServer::requests() {
  std::lock_guard lock(mutex_);
  return requests_;
}

int FakeServer::connections() {
  std::lock_guard lock(mutex_);
  return connections_;
}

void FakeServer::serve() {
  for (int number = 1;; ++number) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_read_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    unique_fd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) continue;
    {
      std::lock_guard lock(mutex_);
      connections_ = number;
    }
    serve_connection(std::move(conn), number);
  }
}

void FakeServer::serve_connection(unique_fd conn, int number) {
  std::string buffer;
  std::vector<unique_fd> fds;
  for (;;) {
    pollfd p[2] = {{conn.get(), POLLIN, 0}, {stop_read_.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    char chunk[4096];
    ssize_t n = scm::recv_with_fds(conn.get(), chunk, fds);
    if (n <= 0) return;
    buffer.append(chunk, static_cast<std::size_t>(n));
    for (auto nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n')) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      ReceivedRequest request;
      request.connection = number;
      auto parsed = rpc::parse_request(line);
      if (auto* r = std::get_if<rpc::Request>(&parsed)) {
        request.method = r->method;
        request.params = r->params;
        request.id = r->id;
      }
      for (auto& fd : fds) {
        char target[256] = {};
        auto len = ::readlink(("/proc/self/fd/" + std::to_string(fd.get())).c_str(), target, sizeof(target) - 1);
        request.fd_kinds.emplace_back(target, len > 0 ? static_cast<std::size_t>(len) : 0);
      }
      fds.clear();
      Step step;
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
        if (next_step_ < script_.size()) step = script_[next_step_++];
      }
      if (!step) return;  // script exhausted: hang up
      if (step(conn.get(), request) == After::close) return;
    }
  }
}

}  // namespace sandnet::test
