#include "wire.hpp"

#include <poll.h>

#include <cstring>

#include "sandnet/client/client.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/jsonrpc.hpp"

namespace sandnet::client {
namespace json = boost::json;

std::string resolve_socket_path(const ClientOptions& options) {
  if (!options.socket_path.empty()) return options.socket_path;
  if (const char* env = std::getenv(protocol::kSocketEnvVar); env && *env) return env;
  return protocol::kDefaultSocketPath;
}

namespace detail {

std::optional<std::string> LineBuffer::take_line() {
  auto nl = data_.find('\n');
  if (nl == std::string::npos) {
    if (data_.size() > rpc::kMaxLineBytes)
      throw_error(errc::protocol_error,
                  "reply longer than " + std::to_string(rpc::kMaxLineBytes) + " bytes");
    return std::nullopt;
  }
  if (nl > rpc::kMaxLineBytes)
    throw_error(errc::protocol_error, "reply longer than " + std::to_string(rpc::kMaxLineBytes) + " bytes");
  std::string line = data_.substr(0, nl);
  data_.erase(0, nl + 1);
  return line;
}

rpc::Response parse_reply(std::string_view line, std::uint64_t id) {
  rpc::Response response = rpc::parse_response(line);
  // Replies come in request order and we send one request at a time, so a
  // different id means the stream is out of step: refuse it. An error reply
  // to a request the daemon could not read carries id null; it is ours too.
  if (response.error && response.id.is_null()) return response;
  std::optional<std::uint64_t> got;
  if (auto* u = response.id.if_uint64()) got = *u;
  else if (auto* i = response.id.if_int64(); i && *i >= 0) got = static_cast<std::uint64_t>(*i);
  if (got != id)
    throw_error(errc::protocol_error,
                "reply for request " + json::serialize(response.id) + ", expected " + std::to_string(id));
  return response;
}

json::value result_or_throw(rpc::Response&& reply) {
  if (reply.error) throw rpc::to_error(*reply.error);
  return std::move(*reply.result);
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    throw_error(errc::invalid_argument, "socket path \"" + path + "\" is empty or longer than " +
                                            std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

unique_fd make_socket() {
  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw_errno("socket");
  return fd;
}

bool connection_stale(int fd) {
  pollfd p{fd, POLLIN, 0};
  int n = ::poll(&p, 1, 0);
  return n != 0;  // readable, hung up, or poll failed: do not reuse
}

}  // namespace detail

namespace {

template <class T>
T decode(const json::value& v, std::string_view what) {
  try {
    return json::value_to<T>(v);
  } catch (Error& e) {
    throw Error(errc::protocol_error, "bad " + std::string(what) + " reply: " + e.what());
  } catch (const std::exception& e) {
    throw Error(errc::protocol_error, "bad " + std::string(what) + " reply: " + e.what());
  }
}

const json::object& object_of(const json::value& v, std::string_view what) {
  const auto* o = v.if_object();
  if (!o) throw_error(errc::protocol_error, "bad " + std::string(what) + " reply: not an object");
  return *o;
}

const json::value& field(const json::value& v, std::string_view key, std::string_view what) {
  const auto* f = object_of(v, what).if_contains(key);
  if (!f) throw_error(errc::protocol_error, "bad " + std::string(what) + " reply: no \"" + std::string(key) + "\"");
  return *f;
}

json::array optional_array(const json::value& v, std::string_view key, std::string_view what) {
  const auto* f = object_of(v, what).if_contains(key);
  if (!f || f->is_null()) return {};
  if (!f->is_array())
    throw_error(errc::protocol_error, "bad " + std::string(what) + " reply: \"" + std::string(key) + "\" is not an array");
  return f->get_array();
}

// GC errors may be plain strings or objects; both become readable strings.
std::string as_text(const json::value& v) {
  if (const auto* s = v.if_string()) return std::string(*s);
  return json::serialize(v);
}

}  // namespace

protocol::SandboxInfo decode_sandbox(const json::value& result, std::string_view method) {
  return decode<protocol::SandboxInfo>(result, method);
}

std::vector<protocol::SandboxInfo> decode_sandbox_list(const json::value& result) {
  return decode<std::vector<protocol::SandboxInfo>>(field(result, "sandboxes", protocol::method::kList),
                                                    protocol::method::kList);
}

protocol::TeardownResult decode_teardown(const json::value& result) {
  return decode<protocol::TeardownResult>(result, protocol::method::kTeardown);
}

InspectResult decode_inspect(const json::value& result) {
  constexpr std::string_view what = protocol::method::kInspect;
  return InspectResult{optional_array(result, "links", what), optional_array(result, "addresses", what),
                       optional_array(result, "routes", what), optional_array(result, "antiSpoofing", what)};
}

std::vector<protocol::NetworkInfo> decode_networks(const json::value& result) {
  return decode<std::vector<protocol::NetworkInfo>>(field(result, "networks", protocol::method::kNetworksList),
                                                    protocol::method::kNetworksList);
}

protocol::RuntimeInfo decode_runtime_info(const json::value& result) {
  return decode<protocol::RuntimeInfo>(result, protocol::method::kRuntimeInfo);
}

GcResult decode_gc(const json::value& result) {
  constexpr std::string_view what = protocol::method::kGc;
  GcResult gc;
  for (const auto& id : optional_array(result, "removed", what)) gc.removed.push_back(as_text(id));
  for (const auto& e : optional_array(result, "errors", what)) gc.errors.push_back(as_text(e));
  return gc;
}

StatusResult decode_status(const json::value& result) {
  constexpr std::string_view what = protocol::method::kStatus;
  const auto& o = object_of(result, what);
  StatusResult status;
  auto number = [&](std::string_view key) -> std::int64_t {
    const auto* v = o.if_contains(key);
    if (!v || v->is_null()) return 0;
    if (!v->is_int64() && !v->is_uint64())
      throw_error(errc::protocol_error, "bad status reply: \"" + std::string(key) + "\" is not an integer");
    return v->to_number<std::int64_t>();
  };
  const auto* ready = o.if_contains("ready");
  if (!ready || !ready->is_bool()) throw_error(errc::protocol_error, "bad status reply: \"ready\" is not a boolean");
  status.ready = ready->get_bool();
  status.sandboxes = number("sandboxes");
  status.in_flight = number("inFlight");
  for (const auto& n : optional_array(result, "networks", what)) {
    const auto& no = object_of(n, what);
    NetworkStatus ns;
    if (const auto* s = no.if_contains("name"); s && s->is_string()) ns.name = std::string(s->get_string());
    if (const auto* b = no.if_contains("ok"); b && b->is_bool()) ns.ok = b->get_bool();
    if (const auto* e = no.if_contains("error"); e && !e->is_null()) ns.error = as_text(*e);
    status.networks.push_back(std::move(ns));
  }
  return status;
}

}  // namespace sandnet::client
