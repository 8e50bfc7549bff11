// Parsing of /proc/<pid>/uid_map and gid_map (pure, testable without root).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "sandnet/netns/facts.hpp"

namespace sandnet::netns {

// Parses the kernel's map format: lines of "inside outside count" separated by
// whitespace. Throws Error(invalid_argument) naming the bad line.
std::vector<IdMapEntry> parse_id_map(std::string_view text);

// True when every outside (host) range of the map lies inside the host ID
// range [first, first+count); false for an empty map (nothing is mapped yet).
bool map_within_range(const std::vector<IdMapEntry>& map, std::uint32_t first, std::uint32_t count);

}  // namespace sandnet::netns
