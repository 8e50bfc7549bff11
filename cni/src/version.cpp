#include "sandnet/cni/version.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "sandnet/common/error.hpp"

namespace sandnet::cni {
namespace {

std::array<unsigned, 3> parse_semver(std::string_view v) {
  std::array<unsigned, 3> parts{};
  std::string_view rest = v;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), parts[i]);
    const bool last = i + 1 == parts.size();
    const bool ok = ec == std::errc{} && ptr != rest.data() &&
                    (last ? ptr == rest.data() + rest.size()
                          : ptr != rest.data() + rest.size() && *ptr == '.');
    if (!ok) throw_error(errc::invalid_argument, "malformed CNI version \"" + std::string(v) + "\"");
    rest.remove_prefix(static_cast<std::size_t>(ptr - rest.data()) + (last ? 0 : 1));
  }
  return parts;
}

}  // namespace

bool is_supported_version(std::string_view version) noexcept {
  return std::find(kSupportedVersions.begin(), kSupportedVersions.end(), version) !=
         kSupportedVersions.end();
}

int compare_versions(std::string_view a, std::string_view b) {
  auto pa = parse_semver(a);
  auto pb = parse_semver(b);
  if (pa < pb) return -1;
  if (pa > pb) return 1;
  return 0;
}

bool version_at_least(std::string_view a, std::string_view b) { return compare_versions(a, b) >= 0; }

std::string select_version(std::string_view cni_version,
                           const std::vector<std::string>& cni_versions) {
  std::string best;
  auto consider = [&](std::string_view v) {
    if (!is_supported_version(v)) return;
    if (best.empty() || compare_versions(v, best) > 0) best = std::string(v);
  };
  consider(cni_version.empty() ? kImplicitVersion : cni_version);
  for (const auto& v : cni_versions) consider(v);
  if (best.empty()) {
    std::string asked = "\"" + std::string(cni_version) + "\"";
    for (const auto& v : cni_versions) asked += ", \"" + v + "\"";
    throw_error(errc::invalid_argument, "no supported CNI version among " + asked);
  }
  return best;
}

}  // namespace sandnet::cni
