// The parts of a client round trip shared by Client, AsyncClient and the C
// ABI: request framing, reply line splitting with the size limit, reply
// checking, and socket setup.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sandnet/common/jsonrpc.hpp"
#include "sandnet/common/unique_fd.hpp"

namespace sandnet::client::detail {

// Accumulates received bytes and hands out complete lines. A line longer
// than rpc::kMaxLineBytes is an Error(protocol_error): the daemon never
// sends one, and a client must not buffer without bound.
class LineBuffer {
 public:
  void append(std::string_view bytes) { data_.append(bytes); }
  // The next complete line without its '\n', or nullopt if none yet.
  std::optional<std::string> take_line();
  bool empty() const { return data_.empty(); }
  void clear() { data_.clear(); }

 private:
  std::string data_;
};

// Parses a reply line to request `id`; throws Error(protocol_error) for a
// line that is not a reply to it.
rpc::Response parse_reply(std::string_view line, std::uint64_t id);

// The result of a checked reply, or the daemon's error rebuilt (rpc::to_error).
boost::json::value result_or_throw(rpc::Response&& reply);

// sockaddr_un for path; throws Error(invalid_argument) when it does not fit.
sockaddr_un unix_address(const std::string& path);

// A non-blocking, close-on-exec Unix stream socket.
unique_fd make_socket();

// True when the connection has pending input or was closed by the peer:
// between requests either means it is unusable (idle-closed, daemon gone).
bool connection_stale(int fd);

}  // namespace sandnet::client::detail
