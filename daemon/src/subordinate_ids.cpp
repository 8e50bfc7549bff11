#include "subordinate_ids.hpp"

#include <pwd.h>

#include <charconv>
#include <limits>

#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"

namespace sandnet::daemon {
namespace {

template <class T>
bool parse_number(std::string_view s, T& out) {
  return !s.empty() && std::from_chars(s.data(), s.data() + s.size(), out).ptr == s.data() + s.size();
}

std::string user_name(uid_t uid) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return {};
  return pw.pw_name;
}

}  // namespace

std::vector<protocol::IdRange> parse_subordinate_ranges(std::string_view text, uid_t uid, std::string_view name) {
  std::vector<protocol::IdRange> out;
  const std::string uid_text = std::to_string(uid);
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    const auto first_colon = line.find(':');
    const auto second_colon = first_colon == std::string_view::npos ? first_colon : line.find(':', first_colon + 1);
    if (second_colon == std::string_view::npos) continue;
    const std::string_view who = line.substr(0, first_colon);
    if (who != uid_text && (name.empty() || who != name)) continue;
    std::uint32_t first = 0, count = 0;
    if (!parse_number(line.substr(first_colon + 1, second_colon - first_colon - 1), first) ||
        !parse_number(line.substr(second_colon + 1), count) || count == 0 ||
        static_cast<std::uint64_t>(first) + count > std::numeric_limits<std::uint32_t>::max())
      continue;
    out.push_back(protocol::IdRange{first, count});
  }
  return out;
}

std::vector<protocol::IdRange> read_subordinate_ranges(const std::filesystem::path& file, uid_t uid) {
  std::string text;
  try {
    text = fs::read_file(file);
  } catch (const Error&) {
    return {};
  }
  return parse_subordinate_ranges(text, uid, user_name(uid));
}

}  // namespace sandnet::daemon
