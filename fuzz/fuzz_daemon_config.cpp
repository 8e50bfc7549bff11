// sandnetd.json (daemon/src/config.cpp): parse_config refuses bad documents
// with an Error naming the key; a config it accepts, written back by
// to_json, parses to the same config (the documented contract).
#include <optional>

#include "check.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/daemon/config.hpp"

namespace json = boost::json;
namespace sd = sandnet::daemon;
using sandnet::fuzz::check_same;
using sandnet::fuzz::fail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::optional<sd::Config> first;
  try {
    first = sd::parse_config(sandnet::fuzz::as_text(data, size), "fuzz");
  } catch (const sandnet::Error&) {
    return 0;
  }
  const json::value effective = sd::to_json(*first);
  const std::string text = json::serialize(effective);
  std::optional<sd::Config> second;
  try {
    second = sd::parse_config(text, "effective config");
  } catch (const sandnet::Error& e) {
    fail(std::string("to_json output does not parse: ") + e.what(), text);
  }
  check_same(effective, sd::to_json(*second), "parse_config(to_json(c)) == c");
  return 0;
}
