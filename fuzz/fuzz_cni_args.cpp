// CNI_ARGS text "K=V;K=V" (parse_cni_args, as cnitool reads it) and the
// validated join the runtime passes to plugins (build_cni_args): pairs that
// validate join back to the very text they were parsed from.
#include <optional>

#include "check.hpp"
#include "sandnet/cni/config.hpp"
#include "sandnet/common/error.hpp"

namespace cni = sandnet::cni;
using sandnet::fuzz::check;
using sandnet::fuzz::fail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sandnet::fuzz::as_text(data, size);
  std::vector<std::pair<std::string, std::string>> pairs;
  try {
    pairs = cni::parse_cni_args(text);
  } catch (const sandnet::Error&) {
    return 0;
  }
  for (const auto& [k, v] : pairs) check(!k.empty() && !v.empty(), "parsed pairs have both sides");
  std::optional<std::string> joined;
  try {
    joined = cni::build_cni_args(pairs);
  } catch (const sandnet::Error&) {
    return 0;  // a key or value the runtime refuses to pass on
  }
  check(*joined == text, "build_cni_args(parse_cni_args(t)) == t", *joined);
  try {
    check(cni::parse_cni_args(*joined) == pairs, "joined pairs parse to the same pairs");
  } catch (const sandnet::Error& e) {
    fail(std::string("joined CNI_ARGS do not parse: ") + e.what(), *joined);
  }
  return 0;
}
