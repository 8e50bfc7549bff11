// libsandnet: the C++ client of sandnetd.
//
// Client is synchronous and blocking; AsyncClient (async_client.hpp) is the
// same API as C++20 coroutines on the caller's Asio executor. Both keep one
// Unix-socket connection to the daemon, opened on first use and reopened
// when the daemon has closed it (idle timeout, restart), and send one
// request at a time (JSON-RPC 2.0 over NDJSON, see the README).
//
// Every failure is a sandnet::Error. Daemon errors are rebuilt from the
// JSON-RPC error object, so code(), context() and cni() (the CNI plugin's
// code/msg/details) read as they did inside the daemon.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandnet/common/error.hpp"
#include "sandnet/common/protocol.hpp"

namespace sandnet::client {

struct ClientOptions {
  // Empty: $SANDNET_SOCKET, else /run/sandnet/sandnetd.sock.
  std::string socket_path;
  // Whole request, from sending the first byte to the end of the reply. A
  // setup runs a whole CNI plugin chain: just above the daemon's own bound
  // (300 s by default), so its timeout error arrives before ours.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(310)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
};

// The socket path options name: the explicit one, $SANDNET_SOCKET, or the default.
std::string resolve_socket_path(const ClientOptions& options);

// sandbox.inspect: the daemon's netlink view of the sandbox's namespace.
// Each entry is an object as the daemon reports it (e.g. {"name","state",...}).
struct InspectResult {
  boost::json::array links;
  boost::json::array addresses;
  boost::json::array routes;
  // Anti-spoofing per attachment: {"network","ifname","enforced", and
  // "hostInterface","mac","ips" for what the host end lets through, or
  // "reason" when nothing is enforced}. Empty from a daemon without it.
  boost::json::array anti_spoofing;
};

struct GcResult {
  std::vector<std::string> removed;  // sandbox IDs whose leftovers were removed
  std::vector<std::string> errors;
};

struct NetworkStatus {
  std::string name;
  bool ok = false;
  std::string error;
};

struct StatusResult {
  bool ready = false;
  std::int64_t sandboxes = 0;
  std::int64_t in_flight = 0;
  std::vector<NetworkStatus> networks;
};

// Typed views of raw results (json::value_to<T> with a clear error). Each
// throws Error(protocol_error) naming the method when the reply is malformed.
protocol::SandboxInfo decode_sandbox(const boost::json::value& result, std::string_view method);
std::vector<protocol::SandboxInfo> decode_sandbox_list(const boost::json::value& result);
protocol::TeardownResult decode_teardown(const boost::json::value& result);
InspectResult decode_inspect(const boost::json::value& result);
std::vector<protocol::NetworkInfo> decode_networks(const boost::json::value& result);
protocol::RuntimeInfo decode_runtime_info(const boost::json::value& result);
GcResult decode_gc(const boost::json::value& result);
StatusResult decode_status(const boost::json::value& result);

// Thread-safe: requests from several threads are serialised on the one
// connection. Move-only.
class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Opens the connection now (otherwise the first request does).
  void connect();

  // Sets up a sandbox named by params.ref: SandboxRef::pid uses params.pid;
  // SandboxRef::pidfd and SandboxRef::netns need sandbox_fd, a pidfd or a
  // netns fd sent with the request (SCM_RIGHTS). The fd stays the caller's.
  protocol::SandboxInfo setup(const protocol::SetupParams& params, int sandbox_fd = -1);
  // force (root only): forget the sandbox even if its DEL fails.
  protocol::TeardownResult teardown(std::string_view id, bool force = false);
  // Throws when the daemon's CHECK of the sandbox's networks fails.
  void check(std::string_view id);
  protocol::SandboxInfo get(std::string_view id);
  std::vector<protocol::SandboxInfo> list();
  InspectResult inspect(std::string_view id);
  std::vector<protocol::NetworkInfo> networks();
  protocol::RuntimeInfo info();
  GcResult gc();
  StatusResult status();

  // Any method with raw params and result; fd (if >= 0) travels with the request.
  boost::json::value call(std::string_view method, const boost::json::object& params, int fd = -1);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sandnet::client
