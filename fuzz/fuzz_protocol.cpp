// Params and results of every method (protocol.cpp): the daemon decodes
// SetupParams and IdParams, the client decodes SandboxInfo (setup, get,
// list), TeardownResult, NetworkInfo (networks.list) and RuntimeInfo. A value
// that decodes must encode to JSON that decodes to the same value.
#include <optional>
#include <vector>

#include "check.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/finite_json.hpp"
#include "sandnet/common/protocol.hpp"

namespace json = boost::json;
namespace protocol = sandnet::protocol;
using sandnet::fuzz::check_same;
using sandnet::fuzz::fail;

namespace {

template <class T>
void round_trip(const json::value& input, const char* what) {
  std::optional<T> first;
  try {
    first = json::value_to<T>(input);
  } catch (const sandnet::Error&) {
    return;  // refused, naming the field: fine
  }
  // Through text, as on the wire.
  const std::string text = json::serialize(json::value_from(*first));
  const json::value wire = json::parse(text);
  T second;
  try {
    second = json::value_to<T>(wire);
  } catch (const sandnet::Error& e) {
    fail(std::string(what) + ": its own encoding does not decode: " + e.what(), text);
  }
  check_same(wire, json::value_from(second), what);
}

// List replies ("sandboxes", "networks") are arrays of one type.
template <class T>
void array_round_trip(const json::value& input, const char* what) {
  if (input.is_array()) round_trip<std::vector<T>>(input, what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  json::error_code ec;
  // As the daemon and the client read params and results (parse_request,
  // parse_response): numbers beyond a double are refused there.
  const json::value input = sandnet::parse_finite_json(sandnet::fuzz::as_text(data, size), ec);
  if (ec) return 0;
  round_trip<protocol::SetupParams>(input, "SetupParams");
  round_trip<protocol::IdParams>(input, "IdParams");
  round_trip<protocol::NetworkRequest>(input, "NetworkRequest");
  round_trip<protocol::SandboxInfo>(input, "SandboxInfo");
  round_trip<protocol::Attachment>(input, "Attachment");
  round_trip<protocol::TeardownResult>(input, "TeardownResult");
  round_trip<protocol::NetworkInfo>(input, "NetworkInfo");
  round_trip<protocol::RuntimeInfo>(input, "RuntimeInfo");
  round_trip<protocol::IdRange>(input, "IdRange");
  array_round_trip<protocol::SandboxInfo>(input, "sandbox list");
  array_round_trip<protocol::NetworkInfo>(input, "network list");
  return 0;
}
