#include "oci-hook/state.hpp"

#include <array>
#include <limits>

#include <boost/json.hpp>

#include "sandnet/common/error.hpp"
#include "sandnet/common/json_strict.hpp"

namespace sandnet::oci_hook {
namespace json = boost::json;

namespace {

[[noreturn]] void bad(const std::string& problem) { throw_error(errc::invalid_argument, "OCI state: " + problem); }

const json::value* member(const json::object& o, std::string_view key, bool required) {
  const json::value* v = o.if_contains(key);
  if (!v && required) bad("\"" + std::string(key) + "\" is missing");
  return v;
}

std::string string_member(const json::object& o, std::string_view key) {
  const json::value* v = member(o, key, true);
  if (!v->is_string()) bad("\"" + std::string(key) + "\" must be a string");
  return std::string(v->as_string());
}

}  // namespace

OciState parse_state(std::string_view text) {
  if (text.size() > kMaxStateBytes) bad("longer than " + std::to_string(kMaxStateBytes) + " bytes");
  json::value root;
  {
    boost::system::error_code ec;
    root = json::parse(text, ec);
    if (ec) bad(text.empty() ? "stdin is empty (is this program run as an OCI hook?)" : "not JSON: " + ec.message());
  }
  if (!root.is_object()) bad("must be a JSON object");
  if (auto dup = json_strict::find_duplicate_key(text)) bad("key \"" + *dup + "\" appears twice");
  const json::object& o = root.as_object();

  OciState state;
  state.oci_version = string_member(o, "ociVersion");
  if (state.oci_version.empty()) bad("\"ociVersion\" is empty");
  state.id = string_member(o, "id");
  if (state.id.empty()) bad("\"id\" is empty");
  state.status = string_member(o, "status");
  static constexpr std::array<std::string_view, 4> kStatuses{"creating", "created", "running", "stopped"};
  bool known = false;
  for (auto s : kStatuses) known = known || state.status == s;
  if (!known) bad("\"status\" \"" + state.status + "\" is none of creating, created, running, stopped");
  state.bundle = string_member(o, "bundle");

  if (const json::value* pid = member(o, "pid", false)) {
    if (pid->is_uint64()) bad("\"pid\" is out of range");  // Boost.JSON: only above INT64_MAX
    if (!pid->is_int64()) bad("\"pid\" must be an integer");
    const std::int64_t n = pid->as_int64();
    if (n < 0 || n > std::numeric_limits<pid_t>::max()) bad("\"pid\" " + std::to_string(n) + " is out of range");
    // runc and crun report 0 for a container whose process is gone.
    if (n > 0) state.pid = static_cast<pid_t>(n);
  }
  if (const json::value* annotations = member(o, "annotations", false)) {
    if (!annotations->is_object()) bad("\"annotations\" must be an object");
    for (const auto& [key, value] : annotations->as_object()) {
      if (!value.is_string()) bad("annotation \"" + std::string(key) + "\" must be a string");
      state.annotations.emplace(std::string(key), std::string(value.as_string()));
    }
  }
  return state;
}

}  // namespace sandnet::oci_hook
