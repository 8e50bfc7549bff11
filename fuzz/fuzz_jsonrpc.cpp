// The JSON-RPC line codec: parse_request (daemon side, never throws) and
// parse_response + to_error (client side, throws only sandnet::Error).
// Whatever parses must survive a trip through the serialisers unchanged.
#include <optional>
#include <variant>

#include "check.hpp"
#include "sandnet/common/jsonrpc.hpp"

namespace json = boost::json;
namespace rpc = sandnet::rpc;
using sandnet::fuzz::check;
using sandnet::fuzz::check_same;

namespace {

std::string_view without_newline(const std::string& line) {
  check(!line.empty() && line.back() == '\n' && line.find('\n') == line.size() - 1,
        "a serialised line is one '\\n'-terminated line", line);
  return std::string_view(line).substr(0, line.size() - 1);
}

void request_round_trip(const rpc::Request& req) {
  check(!req.method.empty(), "a parsed request has a method");
  json::object envelope{{"jsonrpc", "2.0"}, {"method", req.method}, {"params", req.params}};
  if (!req.notification) envelope["id"] = req.id;
  auto again = rpc::parse_request(json::serialize(envelope));
  const auto* req2 = std::get_if<rpc::Request>(&again);
  check(req2 != nullptr, "a re-serialised request parses", json::serialize(envelope));
  check(req2->notification == req.notification && req2->method == req.method, "same method and kind");
  check_same(req.id, req2->id, "same id");
  check_same(req.params, req2->params, "same params");

  // The client's serialiser, for the ids it uses.
  if (const auto* id = req.id.if_uint64()) {
    const std::string line = rpc::serialize_request(*id, req.method, req.params);
    auto parsed = rpc::parse_request(without_newline(line));
    const auto* req3 = std::get_if<rpc::Request>(&parsed);
    check(req3 != nullptr && req3->method == req.method, "serialize_request output parses", line);
    check_same(req.params, req3->params, "serialize_request keeps params");
  }
}

void error_reply_is_readable(const rpc::ErrorReply& reply) {
  const int code = reply.error.code;
  check(code == rpc::kParseError || code == rpc::kInvalidRequest || code == rpc::kInvalidParams,
        "parse_request answers -32700, -32600 or -32602");
  // The client must read the reply the daemon sends for it.
  const std::string line = rpc::serialize_error(reply.id, reply.error);
  rpc::Response r = rpc::parse_response(without_newline(line));
  check(r.error.has_value() && !r.result, "an error reply reads as an error", line);
  check(r.error->code == code && r.error->message == reply.error.message, "same code and message", line);
  check_same(reply.id, r.id, "same id");
}

void response_round_trip(const rpc::Response& resp) {
  const std::string line =
      resp.result ? rpc::serialize_result(resp.id, *resp.result) : rpc::serialize_error(resp.id, *resp.error);
  rpc::Response again = rpc::parse_response(without_newline(line));
  check_same(resp.id, again.id, "response id");
  check(resp.result.has_value() == again.result.has_value(), "result or error kept", line);
  if (resp.result) {
    check_same(*resp.result, *again.result, "response result");
    return;
  }
  check(again.error->code == resp.error->code && again.error->message == resp.error->message,
        "error code and message kept", line);
  check_same(resp.error->data, again.error->data, "error data");

  // The client rebuilds an Error; the daemon's conversion of that Error must
  // give the client the same Error again (what the two sides agree on).
  const sandnet::Error first = rpc::to_error(*resp.error);
  const sandnet::Error second = rpc::to_error(rpc::error_from(first));
  // An unknown code with a CNI error becomes plugin_failed on the way back.
  const bool promoted = first.is(sandnet::errc::internal) && first.cni();
  check(promoted || second.code() == first.code(), "to_error(error_from(e)) keeps the code", first.what());
  check(promoted || first.context().empty() || std::string_view(second.what()) == first.what(),
        "to_error(error_from(e)) keeps what()", std::string(first.what()) + " / " + second.what());
  check(first.cni().has_value() == second.cni().has_value(), "CNI error kept");
  if (first.cni())
    check(first.cni()->code == second.cni()->code && first.cni()->msg == second.cni()->msg &&
              first.cni()->details == second.cni()->details,
          "CNI error fields kept");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line = sandnet::fuzz::as_text(data, size);
  auto parsed = rpc::parse_request(line);
  if (const auto* req = std::get_if<rpc::Request>(&parsed)) {
    request_round_trip(*req);
  } else {
    error_reply_is_readable(std::get<rpc::ErrorReply>(parsed));
  }
  std::optional<rpc::Response> response;
  try {
    response = rpc::parse_response(line);
  } catch (const sandnet::Error&) {
    // Not a response: the client reports a protocol error.
  }
  // Outside the try: an Error from the round trip is a failure.
  if (response) response_round_trip(*response);
  return 0;
}
