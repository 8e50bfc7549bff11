// CNI spec versions: the ones this runtime speaks, comparison, and the
// selection rule for a network list (highest of cniVersion + cniVersions that
// we support).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace sandnet::cni {

inline constexpr std::array<std::string_view, 7> kSupportedVersions = {
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

// The version a config without "cniVersion" means (libcni's rule).
inline constexpr std::string_view kImplicitVersion = "0.1.0";

bool is_supported_version(std::string_view version) noexcept;

// Semver-style comparison of "X.Y.Z": <0, 0, >0. Throws Error(invalid_argument)
// naming the malformed version.
int compare_versions(std::string_view a, std::string_view b);

// a >= b.
bool version_at_least(std::string_view a, std::string_view b);

// The highest of cni_version and cni_versions that is supported. Entries we do
// not support are skipped; throws Error(invalid_argument) when none is left.
std::string select_version(std::string_view cni_version,
                           const std::vector<std::string>& cni_versions);

}  // namespace sandnet::cni
