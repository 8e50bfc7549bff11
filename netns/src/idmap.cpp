#include "sandnet/netns/idmap.hpp"

#include <charconv>
#include <string>

#include "sandnet/common/error.hpp"

namespace sandnet::netns {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

// Next whitespace-separated field of line, consumed from the front.
std::string_view next_field(std::string_view& line) {
  while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
  std::size_t end = 0;
  while (end < line.size() && !is_space(line[end])) ++end;
  std::string_view field = line.substr(0, end);
  line.remove_prefix(end);
  return field;
}

std::uint32_t parse_u32(std::string_view field, std::string_view line) {
  std::uint32_t value = 0;
  auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (field.empty() || ec != std::errc() || ptr != field.data() + field.size())
    throw_error(errc::invalid_argument, "id map: bad number '" + std::string(field) + "' in line '" +
                                            std::string(line) + "'");
  return value;
}

}  // namespace

std::vector<IdMapEntry> parse_id_map(std::string_view text) {
  std::vector<IdMapEntry> entries;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    std::string_view rest = line;
    std::string_view first = next_field(rest);
    if (first.empty()) continue;  // blank line
    IdMapEntry entry;
    entry.inside = parse_u32(first, line);
    entry.outside = parse_u32(next_field(rest), line);
    entry.count = parse_u32(next_field(rest), line);
    if (!next_field(rest).empty())
      throw_error(errc::invalid_argument, "id map: extra field in line '" + std::string(line) + "'");
    if (entry.count == 0)
      throw_error(errc::invalid_argument, "id map: zero count in line '" + std::string(line) + "'");
    entries.push_back(entry);
  }
  return entries;
}

bool map_within_range(const std::vector<IdMapEntry>& map, std::uint32_t first, std::uint32_t count) {
  if (map.empty()) return false;
  const std::uint64_t range_end = std::uint64_t{first} + count;
  for (const IdMapEntry& entry : map) {
    const std::uint64_t entry_end = std::uint64_t{entry.outside} + entry.count;
    if (entry.outside < first || entry_end > range_end) return false;
  }
  return true;
}

}  // namespace sandnet::netns
