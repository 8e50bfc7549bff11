#include "sandnet/common/jsonrpc.hpp"
#include "sandnet/common/finite_json.hpp"

#include "sandnet/common/json_strict.hpp"

namespace sandnet::rpc {
namespace json = boost::json;

namespace {

ErrorReply make_reply(json::value id, int code, std::string message) {
  return ErrorReply{std::move(id), ErrorObject{code, std::move(message), nullptr}};
}

bool valid_id(const json::value& id) { return id.is_string() || id.is_number() || id.is_null(); }

}  // namespace

std::variant<Request, ErrorReply> parse_request(std::string_view line) {
  if (line.size() > kMaxLineBytes) return make_reply(nullptr, kInvalidRequest, "request line too long");
  json::error_code ec;
  json::value v = parse_finite_json(line, ec);
  if (ec) return make_reply(nullptr, kParseError, "parse error: " + ec.message());
  if (!v.is_object()) return make_reply(nullptr, kInvalidRequest, "request must be a JSON object");
  auto& obj = v.get_object();

  Request req;
  if (auto* id = obj.if_contains("id")) {
    if (!valid_id(*id)) return make_reply(nullptr, kInvalidRequest, "id must be a string, number or null");
    req.id = *id;
  } else {
    req.notification = true;
  }
  auto* version = obj.if_contains("jsonrpc");
  if (!version || !version->is_string() || version->get_string() != "2.0")
    return make_reply(req.id, kInvalidRequest, "jsonrpc must be \"2.0\"");
  auto* method = obj.if_contains("method");
  if (!method || !method->is_string() || method->get_string().empty())
    return make_reply(req.id, kInvalidRequest, "method must be a non-empty string");
  // Every field is read once, by the daemon: a key given twice has no one meaning.
  if (auto duplicate = json_strict::find_duplicate_key(line))
    return make_reply(req.id, kInvalidParams, "the key \"" + duplicate->substr(0, 64) + "\" appears twice in one object");
  req.method = std::string(method->get_string());
  if (auto* params = obj.if_contains("params")) {
    if (params->is_object()) {
      req.params = std::move(params->get_object());
    } else if (!(params->is_array() && params->get_array().empty())) {
      return make_reply(req.id, kInvalidParams, "params must be an object (by-name parameters)");
    }
  }
  return req;
}

ErrorObject error_from(const Error& e) {
  ErrorObject out;
  out.message = e.what();
  json::object data;
  if (!e.context().empty()) data["context"] = e.context();
  const auto& code = e.code();
  if (code.category() == sandnet_category()) {
    switch (static_cast<errc>(code.value())) {
      case errc::invalid_argument: out.code = kInvalidParams; break;
      case errc::not_found: out.code = kNotFound; break;
      case errc::already_exists: out.code = kAlreadyExists; break;
      case errc::permission_denied: out.code = kPermissionDenied; break;
      case errc::plugin_failed: out.code = kPluginFailed; break;
      case errc::timeout: out.code = kTimeout; break;
      case errc::protocol_error: out.code = kInvalidRequest; break;
      case errc::process_gone: out.code = kProcessGone; break;
      case errc::busy: out.code = kBusy; break;
      case errc::unavailable: out.code = kUnavailable; break;
      default: out.code = kInternalError; break;
    }
  } else if (code.category() == std::generic_category() || code.category() == std::system_category()) {
    out.code = kSystemError;
    data["errno"] = code.value();
  }
  if (const auto& cni = e.cni()) {
    data["cni"] = json::object{{"code", cni->code}, {"msg", cni->msg}, {"details", cni->details}};
    if (out.code == kInternalError) out.code = kPluginFailed;
  }
  if (!data.empty()) out.data = std::move(data);
  return out;
}

std::string serialize_result(const json::value& id, const json::value& result) {
  json::object obj{{"jsonrpc", "2.0"}, {"id", id}, {"result", result}};
  std::string s = json::serialize(obj);
  s += '\n';
  return s;
}

std::string serialize_error(const json::value& id, const ErrorObject& error) {
  json::object err{{"code", error.code}, {"message", error.message}};
  if (!error.data.is_null()) err["data"] = error.data;
  json::object obj{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(err)}};
  std::string s = json::serialize(obj);
  s += '\n';
  return s;
}

std::string serialize_request(std::uint64_t id, std::string_view method, const json::object& params) {
  json::object obj{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
  std::string s = json::serialize(obj);
  s += '\n';
  return s;
}

Response parse_response(std::string_view line) {
  json::error_code ec;
  json::value v = parse_finite_json(line, ec);
  if (ec) throw_error(errc::protocol_error, "bad response from daemon: " + ec.message());
  if (!v.is_object()) throw_error(errc::protocol_error, "bad response from daemon: not an object");
  auto& obj = v.get_object();
  Response r;
  if (auto* id = obj.if_contains("id")) r.id = *id;
  if (auto* result = obj.if_contains("result")) {
    r.result = *result;
  } else if (auto* error = obj.if_contains("error"); error && error->is_object()) {
    const auto& e = error->get_object();
    ErrorObject eo;
    if (auto* c = e.if_contains("code"); c && c->is_int64()) eo.code = static_cast<int>(c->get_int64());
    if (auto* m = e.if_contains("message"); m && m->is_string()) eo.message = std::string(m->get_string());
    if (auto* d = e.if_contains("data")) eo.data = *d;
    r.error = std::move(eo);
  } else {
    throw_error(errc::protocol_error, "bad response from daemon: neither result nor error");
  }
  return r;
}

Error to_error(const ErrorObject& error) {
  std::error_code code;
  switch (error.code) {
    case kInvalidParams: code = errc::invalid_argument; break;
    case kNotFound: code = errc::not_found; break;
    case kAlreadyExists: code = errc::already_exists; break;
    case kPermissionDenied: code = errc::permission_denied; break;
    case kPluginFailed: code = errc::plugin_failed; break;
    case kTimeout: code = errc::timeout; break;
    case kProcessGone: code = errc::process_gone; break;
    case kBusy: code = errc::busy; break;
    case kUnavailable: code = errc::unavailable; break;
    case kParseError:
    case kInvalidRequest:
    case kMethodNotFound: code = errc::protocol_error; break;
    default: code = errc::internal; break;
  }
  const json::object* data = error.data.if_object();
  if (error.code == kSystemError && data) {
    if (auto* e = data->if_contains("errno"); e && e->is_int64())
      code = std::error_code(static_cast<int>(e->get_int64()), std::generic_category());
  }
  // Rebuild context + code (+ CNI error) so what() reads as it did in the daemon.
  std::string context = error.message;
  if (data) {
    if (auto* c = data->if_contains("context"); c && c->is_string()) context = std::string(c->get_string());
  }
  Error out(code, std::move(context));
  if (data) {
    if (auto* cni = data->if_contains("cni"); cni && cni->is_object()) {
      CniErrorInfo info;
      const auto& c = cni->get_object();
      // A code that is no uint32 (negative, fractional, huge) is left 0: to_number
      // would throw a non-Error for it.
      if (auto* v = c.if_contains("code")) {
        json::error_code ec;
        const auto code = v->to_number<std::uint32_t>(ec);
        if (!ec) info.code = code;
      }
      if (auto* v = c.if_contains("msg"); v && v->is_string()) info.msg = std::string(v->get_string());
      if (auto* v = c.if_contains("details"); v && v->is_string()) info.details = std::string(v->get_string());
      out.set_cni(std::move(info));
    }
  }
  return out;
}

}  // namespace sandnet::rpc
