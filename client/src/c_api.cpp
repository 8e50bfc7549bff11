// The C ABI over Client: every entry point catches everything, so no
// exception crosses into C.
#include "sandnet/sandnet.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "sandnet/client/client.hpp"
#include "sandnet/common/finite_json.hpp"
#include "sandnet/common/jsonrpc.hpp"

struct sandnet_client {
  sandnet::client::ClientOptions options;
  sandnet::client::Client client;
};

struct sandnet_error {
  int code = SANDNET_E_INTERNAL;
  int errno_value = 0;
  std::string message;
  bool has_cni = false;
  unsigned cni_code = 0;
  std::string cni_msg;
  std::string cni_details;
};

namespace {
namespace json = boost::json;
using sandnet::Error;
using sandnet::errc;

sandnet_error* to_c_error(const Error& e) {
  auto* out = new (std::nothrow) sandnet_error;
  if (!out) return nullptr;
  sandnet::rpc::ErrorObject object = sandnet::rpc::error_from(e);  // one code mapping for both sides
  out->code = object.code;
  if (e.code().category() == std::generic_category() || e.code().category() == std::system_category())
    out->errno_value = e.code().value();
  out->message = e.what();
  if (const auto& cni = e.cni()) {
    out->has_cni = true;
    out->cni_code = cni->code;
    out->cni_msg = cni->msg;
    out->cni_details = cni->details;
  }
  return out;
}

char* copy_string(std::string_view s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) throw std::bad_alloc();
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

// Reports e through err (if given) and returns its code.
int report(sandnet_error** err, const Error& e) {
  sandnet_error* c = to_c_error(e);
  int code = c ? c->code : SANDNET_E_INTERNAL;
  if (err) *err = c;
  else delete c;
  return code;
}

// Runs f, turning any exception into a code and an error object.
template <class F>
int guarded(sandnet_error** err, F&& f) {
  if (err) *err = nullptr;
  try {
    f();
    return SANDNET_OK;
  } catch (const Error& e) {
    return report(err, e);
  } catch (const std::exception& e) {
    return report(err, Error(errc::internal, e.what()));
  } catch (...) {
    return report(err, Error(errc::internal, "unknown exception"));
  }
}

void require(const void* p, const char* what) {
  if (!p) throw Error(errc::invalid_argument, std::string(what) + " must not be NULL");
}

json::object parse_params(const char* params_json) {
  if (!params_json) return {};
  json::error_code ec;
  json::value v = sandnet::parse_finite_json(params_json, ec);
  if (ec) throw Error(errc::invalid_argument, std::string("params: not JSON: ") + ec.message());
  if (!v.is_object()) throw Error(errc::invalid_argument, "params: must be a JSON object");
  return std::move(v.get_object());
}

int call_to_json(sandnet_client* client, const char* method, json::object params, int fd, char** result_json,
                 sandnet_error** err) {
  return guarded(err, [&] {
    require(client, "client");
    require(result_json, "result_json");
    *result_json = nullptr;
    json::value result = client->client.call(method, params, fd);
    *result_json = copy_string(json::serialize(result));
  });
}

json::object id_params(const char* id) {
  require(id, "id");
  return json::object{{"id", id}};
}

}  // namespace

extern "C" {

const char* sandnet_version(void) { return SANDNET_VERSION; }

int sandnet_client_new(const char* socket_path, sandnet_client** out, sandnet_error** err) {
  return guarded(err, [&] {
    require(out, "out");
    *out = nullptr;
    sandnet::client::ClientOptions options;
    if (socket_path) options.socket_path = socket_path;
    *out = new sandnet_client{options, sandnet::client::Client(options)};
  });
}

int sandnet_client_set_timeouts(sandnet_client* client, unsigned connect_ms, unsigned request_ms) {
  return guarded(nullptr, [&] {
    require(client, "client");
    // Options are fixed at construction: rebuild the client with the new
    // ones (the next request opens a fresh connection).
    if (connect_ms) client->options.connect_timeout = std::chrono::milliseconds(connect_ms);
    if (request_ms) client->options.request_timeout = std::chrono::milliseconds(request_ms);
    client->client = sandnet::client::Client(client->options);
  });
}

void sandnet_client_free(sandnet_client* client) { delete client; }

int sandnet_call_json(sandnet_client* client, const char* method, const char* params_json, int fd,
                      char** result_json, sandnet_error** err) {
  json::object params;
  int rc = guarded(err, [&] {
    require(method, "method");
    params = parse_params(params_json);
  });
  if (rc != SANDNET_OK) return rc;
  return call_to_json(client, method, std::move(params), fd, result_json, err);
}

int sandnet_setup_json(sandnet_client* client, const char* params_json, int fd_or_minus1, char** result_json,
                       sandnet_error** err) {
  return guarded(err, [&] {
    require(client, "client");
    require(params_json, "params_json");
    require(result_json, "result_json");
    *result_json = nullptr;
    // Through the typed conversion, so bad params are refused here with the
    // field named, and the fd/reference pairing is checked.
    auto params = json::value_to<sandnet::protocol::SetupParams>(json::value(parse_params(params_json)));
    auto info = client->client.setup(params, fd_or_minus1);
    *result_json = copy_string(json::serialize(json::value_from(info)));
  });
}

int sandnet_teardown_json(sandnet_client* client, const char* id, char** result_json, sandnet_error** err) {
  json::object params;
  if (int rc = guarded(err, [&] { params = id_params(id); }); rc != SANDNET_OK) return rc;
  return call_to_json(client, sandnet::protocol::method::kTeardown, std::move(params), -1, result_json, err);
}

int sandnet_check(sandnet_client* client, const char* id, sandnet_error** err) {
  return guarded(err, [&] {
    require(client, "client");
    require(id, "id");
    client->client.check(id);
  });
}

int sandnet_get_json(sandnet_client* client, const char* id, char** result_json, sandnet_error** err) {
  json::object params;
  if (int rc = guarded(err, [&] { params = id_params(id); }); rc != SANDNET_OK) return rc;
  return call_to_json(client, sandnet::protocol::method::kGet, std::move(params), -1, result_json, err);
}

int sandnet_list_json(sandnet_client* client, char** result_json, sandnet_error** err) {
  return call_to_json(client, sandnet::protocol::method::kList, {}, -1, result_json, err);
}

int sandnet_inspect_json(sandnet_client* client, const char* id, char** result_json, sandnet_error** err) {
  json::object params;
  if (int rc = guarded(err, [&] { params = id_params(id); }); rc != SANDNET_OK) return rc;
  return call_to_json(client, sandnet::protocol::method::kInspect, std::move(params), -1, result_json, err);
}

int sandnet_networks_json(sandnet_client* client, char** result_json, sandnet_error** err) {
  return call_to_json(client, sandnet::protocol::method::kNetworksList, {}, -1, result_json, err);
}

int sandnet_info_json(sandnet_client* client, char** result_json, sandnet_error** err) {
  return call_to_json(client, sandnet::protocol::method::kRuntimeInfo, {}, -1, result_json, err);
}

int sandnet_gc_json(sandnet_client* client, char** result_json, sandnet_error** err) {
  return call_to_json(client, sandnet::protocol::method::kGc, {}, -1, result_json, err);
}

int sandnet_status_json(sandnet_client* client, char** result_json, sandnet_error** err) {
  return call_to_json(client, sandnet::protocol::method::kStatus, {}, -1, result_json, err);
}

int sandnet_setup_pidfd(sandnet_client* client, const char* id, int pidfd, char** netns_path, sandnet_error** err) {
  return guarded(err, [&] {
    require(client, "client");
    require(id, "id");
    if (netns_path) *netns_path = nullptr;
    sandnet::protocol::SetupParams params;
    params.id = id;
    params.ref = sandnet::protocol::SandboxRef::pidfd;
    auto info = client->client.setup(params, pidfd);
    if (netns_path) *netns_path = copy_string(info.netns);
  });
}

int sandnet_setup_create(sandnet_client* client, const char* id, const sandnet_id_mapping* uid_mappings,
                         size_t uid_count, const sandnet_id_mapping* gid_mappings, size_t gid_count,
                         char** netns_path, char** userns_path, sandnet_error** err) {
  return guarded(err, [&] {
    require(client, "client");
    require(id, "id");
    if (netns_path) *netns_path = nullptr;
    if (userns_path) *userns_path = nullptr;
    if (uid_count == 0 || gid_count == 0 || !uid_mappings || !gid_mappings)
      throw Error(errc::invalid_argument, "setup " + std::string(id) + ": a uid and a gid mapping are required");
    sandnet::protocol::SetupParams params;
    params.id = id;
    params.ref = sandnet::protocol::SandboxRef::create;
    for (size_t k = 0; k < uid_count; ++k)
      params.create.uid_mappings.push_back({uid_mappings[k].container_id, uid_mappings[k].host_id, uid_mappings[k].size});
    for (size_t k = 0; k < gid_count; ++k)
      params.create.gid_mappings.push_back({gid_mappings[k].container_id, gid_mappings[k].host_id, gid_mappings[k].size});
    auto info = client->client.setup(params, -1);
    if (netns_path) *netns_path = copy_string(info.netns);
    if (userns_path) *userns_path = copy_string(info.userns);
  });
}

int sandnet_teardown(sandnet_client* client, const char* id, sandnet_error** err) {
  return guarded(err, [&] {
    require(client, "client");
    require(id, "id");
    auto result = client->client.teardown(id);
    if (!result.errors.empty()) {
      std::string all;
      for (const auto& e : result.errors) all += (all.empty() ? "" : "; ") + e;
      throw Error(errc::internal, "teardown " + std::string(id) + ": " + all);
    }
  });
}

int sandnet_error_code(const sandnet_error* err) { return err ? err->code : SANDNET_OK; }
const char* sandnet_error_message(const sandnet_error* err) { return err ? err->message.c_str() : ""; }
int sandnet_error_errno(const sandnet_error* err) { return err ? err->errno_value : 0; }
int sandnet_error_has_cni(const sandnet_error* err) { return err && err->has_cni ? 1 : 0; }
unsigned sandnet_error_cni_code(const sandnet_error* err) { return err ? err->cni_code : 0; }
const char* sandnet_error_cni_msg(const sandnet_error* err) { return err ? err->cni_msg.c_str() : ""; }
const char* sandnet_error_cni_details(const sandnet_error* err) { return err ? err->cni_details.c_str() : ""; }
void sandnet_error_free(sandnet_error* err) { delete err; }

void sandnet_free_string(char* s) { std::free(s); }

}  // extern "C"
