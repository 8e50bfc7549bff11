// CNI spec versions (cni/src/version.cpp): comparison of "X.Y.Z" strings
// from config files and results, and the selection of a list's version.
// Input: versions separated by '\n'; the first is "cniVersion", the rest
// "cniVersions".
#include <algorithm>
#include <optional>
#include <vector>

#include "check.hpp"
#include "sandnet/cni/version.hpp"
#include "sandnet/common/error.hpp"

namespace cni = sandnet::cni;
using sandnet::fuzz::check;

namespace {

std::optional<int> compare(std::string_view a, std::string_view b) {
  try {
    return cni::compare_versions(a, b);
  } catch (const sandnet::Error&) {
    return std::nullopt;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = sandnet::fuzz::as_text(data, size);
  std::vector<std::string> parts;
  for (;;) {
    const auto nl = text.find('\n');
    parts.emplace_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  const std::string& declared = parts.front();
  const std::vector<std::string> listed(parts.begin() + 1, parts.end());

  // Pairs among the first few only: all pairs of hundreds of lines would
  // spend the run on exceptions.
  const std::size_t paired = std::min<std::size_t>(parts.size(), 8);
  for (std::size_t i = 0; i < paired; ++i) {
    const std::string& a = parts[i];
    const auto self = compare(a, a);
    check(!self || *self == 0, "a version equals itself", a);
    for (std::size_t j = 0; j < paired; ++j) {
      const std::string& b = parts[j];
      const auto ab = compare(a, b);
      const auto ba = compare(b, a);
      check(ab.has_value() == ba.has_value(), "both orders parse or neither", a + " / " + b);
      if (ab) check(*ab == -*ba && *ab >= -1 && *ab <= 1, "comparison is antisymmetric", a + " / " + b);
    }
  }

  std::string selected;
  try {
    selected = cni::select_version(declared, listed);
  } catch (const sandnet::Error&) {
    // None supported: fine, as long as that is true.
    check(!cni::is_supported_version(declared.empty() ? cni::kImplicitVersion : std::string_view(declared)),
          "select_version refused a supported cniVersion", declared);
    for (const auto& v : listed) check(!cni::is_supported_version(v), "select_version refused a supported entry", v);
    return 0;
  }
  check(cni::is_supported_version(selected), "the selected version is supported", selected);
  for (const auto& v : listed)
    if (cni::is_supported_version(v)) check(cni::version_at_least(selected, v), "the highest is selected", v);
  return 0;
}
