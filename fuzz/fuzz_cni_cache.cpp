// A libcni result cache file (cni/src/cache.cpp), which other tools sharing
// the cache dir may have written: deserialize, serialize, deserialize must
// give the same entry. Also base64 (the "config" field) both ways.
#include <optional>

#include "check.hpp"
#include "sandnet/cni/cache.hpp"
#include "sandnet/common/error.hpp"

namespace json = boost::json;
namespace cni = sandnet::cni;
using sandnet::fuzz::check;
using sandnet::fuzz::check_same;
using sandnet::fuzz::fail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes = sandnet::fuzz::as_text(data, size);

  try {
    check(cni::base64_decode(cni::base64_encode(bytes)) == bytes, "base64 round trip");
  } catch (const sandnet::Error& e) {
    fail(std::string("base64_decode refuses base64_encode's output: ") + e.what());
  }
  try {
    const std::string decoded = cni::base64_decode(bytes);
    check(decoded.size() <= bytes.size() / 4 * 3, "base64 decodes 4 characters to at most 3 bytes");
  } catch (const sandnet::Error&) {
  }

  std::optional<cni::CachedAttachment> first;
  try {
    first = cni::ResultCache::deserialize(bytes);
  } catch (const sandnet::Error&) {
    return 0;
  }
  const std::string text = cni::ResultCache::serialize(*first);
  std::optional<cni::CachedAttachment> second;
  try {
    second = cni::ResultCache::deserialize(text);
  } catch (const sandnet::Error& e) {
    fail(std::string("a serialised entry does not deserialize: ") + e.what(), text);
  }
  check(second->container_id == first->container_id && second->ifname == first->ifname &&
            second->network_name == first->network_name && second->netns == first->netns &&
            second->config == first->config && second->cni_args == first->cni_args,
        "cache entry fields round trip", text);
  check_same(first->capability_args, second->capability_args, "capabilityArgs round trip");
  check(first->result.has_value() == second->result.has_value(), "result kept", text);
  if (first->result) check_same(*first->result, *second->result, "result round trip");
  return 0;
}
