// Parsing of /proc/<pid>/uid_map and gid_map (pure, testable without root).
#pragma once

#include <string_view>
#include <vector>

#include "sandnet/netns/facts.hpp"

namespace sandnet::netns {

// Parses the kernel's map format: lines of "inside outside count" separated by
// whitespace. Throws Error(invalid_argument) naming the bad line.
std::vector<IdMapEntry> parse_id_map(std::string_view text);

// True when every ID in [first, first+count) of the outside (host) side is
// covered by the map; false for an empty map.
bool map_outside_within(const std::vector<IdMapEntry>& map, std::uint32_t first, std::uint32_t count);

}  // namespace sandnet::netns
