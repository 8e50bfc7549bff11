// JSON-RPC 2.0 over NDJSON: one object per line, '\n'-terminated.
// Codes below -32000 are JSON-RPC's own; -32001.. are sandnet's, stable once
// released (documented in the README).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "sandnet/common/error.hpp"

namespace sandnet::rpc {

// Hard limit on one line (request or response) in bytes, newline excluded.
inline constexpr std::size_t kMaxLineBytes = 1 << 20;

enum Code : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
  kPermissionDenied = -32001,
  kNotFound = -32002,
  kAlreadyExists = -32003,
  kPluginFailed = -32004,  // data.cni holds the CNI error object
  kTimeout = -32005,
  kProcessGone = -32006,   // the sandbox process exited / PID reused
  kBusy = -32007,
  kUnavailable = -32008,
  kSystemError = -32009,   // an OS call failed; data.errno holds the errno
};

struct ErrorObject {
  int code = kInternalError;
  std::string message;
  boost::json::value data;  // null, or {"context":..,"cni":{..},"errno":N}
};

struct Request {
  boost::json::value id;  // string, number, or null; absent => notification
  bool notification = false;
  std::string method;
  boost::json::object params;  // by-name params only; absent => {}
};

struct ErrorReply {
  boost::json::value id;  // the request's id if it could be read, else null
  ErrorObject error;
};

// Parses one request line. Never throws for bad input: returns an ErrorReply
// (-32700 for bad JSON, -32600 for a bad envelope, -32602 for non-object params).
std::variant<Request, ErrorReply> parse_request(std::string_view line);

// The JSON-RPC error object for an Error thrown while serving a request.
ErrorObject error_from(const Error& e);

// Reply lines, '\n'-terminated.
std::string serialize_result(const boost::json::value& id, const boost::json::value& result);
std::string serialize_error(const boost::json::value& id, const ErrorObject& error);

// A request line, '\n'-terminated.
std::string serialize_request(std::uint64_t id, std::string_view method,
                              const boost::json::object& params);

struct Response {
  boost::json::value id;
  std::optional<boost::json::value> result;
  std::optional<ErrorObject> error;
};

// Parses one response line; throws Error(protocol_error) when it is not one.
Response parse_response(std::string_view line);

// Client side: rebuilds an Error from a reply's error object (errc from the
// code, context and CNI error from data), so callers see one error type.
Error to_error(const ErrorObject& error);

}  // namespace sandnet::rpc
