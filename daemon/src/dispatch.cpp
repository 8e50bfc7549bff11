#include "sandnet/daemon/dispatch.hpp"

#include <functional>
#include <map>
#include <string>

#include "sandnet/common/error.hpp"
#include "sandnet/common/protocol.hpp"

namespace sandnet::daemon {
namespace asio = boost::asio;
namespace json = boost::json;
namespace method = protocol::method;

namespace {

using Method = std::function<asio::awaitable<json::value>(SandboxService&, const Caller&, const rpc::Request&,
                                                          std::vector<unique_fd>)>;

std::string id_param(const rpc::Request& r) { return json::value_to<protocol::IdParams>(json::value(r.params)).id; }

// Methods without params refuse unknown ones rather than ignore them.
void no_params(const rpc::Request& r) {
  if (!r.params.empty())
    throw_error(errc::invalid_argument, r.method + " takes no params, got \"" + std::string(r.params.begin()->key()) + "\"");
}

const std::map<std::string, Method, std::less<>>& methods() {
  static const std::map<std::string, Method, std::less<>> table = {
      {method::kSetup,
       [](SandboxService& s, const Caller& c, const rpc::Request& r, std::vector<unique_fd> fds) -> asio::awaitable<json::value> {
         auto params = json::value_to<protocol::SetupParams>(json::value(r.params));
         auto out = co_await s.setup(c, std::move(params), std::move(fds));
         co_return json::value_from(out);
       }},
      {method::kTeardown,
       [](SandboxService& s, const Caller& c, const rpc::Request& r, std::vector<unique_fd>) -> asio::awaitable<json::value> {
         auto params = json::value_to<protocol::TeardownParams>(json::value(r.params));
         auto out = co_await s.teardown(c, std::move(params.id), params.force);
         co_return json::value_from(out);
       }},
      {method::kCheck,
       [](SandboxService& s, const Caller& c, const rpc::Request& r, std::vector<unique_fd>) -> asio::awaitable<json::value> {
         auto id = id_param(r);
         co_return co_await s.check(c, id);
       }},
      {method::kGet,
       [](SandboxService& s, const Caller& c, const rpc::Request& r, std::vector<unique_fd>) -> asio::awaitable<json::value> {
         auto id = id_param(r);
         auto out = co_await s.get(c, id);
         co_return json::value_from(out);
       }},
      {method::kList,
       [](SandboxService& s, const Caller& c, const rpc::Request& r, std::vector<unique_fd>) -> asio::awaitable<json::value> {
         no_params(r);
         json::object out;
         auto sandboxes = co_await s.list(c);
         out["sandboxes"] = json::value_from(sandboxes);
         co_return out;
       }},
      {method::kInspect,
       [](SandboxService& s, const Caller& c, const rpc::Request& r, std::vector<unique_fd>) -> asio::awaitable<json::value> {
         auto id = id_param(r);
         co_return co_await s.inspect(c, id);
       }},
      {method::kExplain,
       [](SandboxService& s, const Caller& c, const rpc::Request& r, std::vector<unique_fd> fds) -> asio::awaitable<json::value> {
         // {"id"} alone: an existing sandbox. Anything else: a setup's params
         // (the id optional), explained without being carried out.
         if (r.params.size() == 1 && r.params.contains("id") && fds.empty()) co_return co_await s.explain_sandbox(c, id_param(r));
         json::object params = r.params;
         const bool id_given = params.contains("id");
         if (!id_given) params["id"] = "explain";
         auto setup = json::value_to<protocol::SetupParams>(json::value(std::move(params)));
         co_return co_await s.explain_setup(c, std::move(setup), std::move(fds), id_given);
       }},
      {method::kNetworksList,
       [](SandboxService& s, const Caller& c, const rpc::Request& r, std::vector<unique_fd>) -> asio::awaitable<json::value> {
         no_params(r);
         json::object out;
         auto networks = co_await s.networks(c);
         out["networks"] = json::value_from(networks);
         co_return out;
       }},
      {method::kRuntimeInfo,
       [](SandboxService& s, const Caller& c, const rpc::Request& r, std::vector<unique_fd>) -> asio::awaitable<json::value> {
         no_params(r);
         auto info = co_await s.runtime_info(c);
         co_return json::value_from(info);
       }},
      {method::kGc,
       [](SandboxService& s, const Caller& c, const rpc::Request& r, std::vector<unique_fd>) -> asio::awaitable<json::value> {
         no_params(r);
         co_return co_await s.gc(c);
       }},
      {method::kStatus,
       [](SandboxService& s, const Caller& c, const rpc::Request& r, std::vector<unique_fd>) -> asio::awaitable<json::value> {
         no_params(r);
         co_return co_await s.status(c);
       }},
  };
  return table;
}

}  // namespace

Handler make_handler(SandboxService& service) {
  Handler h;
  h.has_method = [](std::string_view name) { return methods().count(name) != 0; };
  h.call = [&service](const Caller& caller, const rpc::Request& request,
                      std::vector<unique_fd> fds) -> asio::awaitable<json::value> {
    const auto& method = methods().find(request.method)->second;
    return method(service, caller, request, std::move(fds));
  };
  return h;
}

}  // namespace sandnet::daemon
