// Checks on JSON text that a parsed boost::json::value can no longer show.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sandnet::json_strict {

// The first key that appears twice in one object of `text` (at any depth), or
// nullopt. Boost.JSON keeps the last of duplicate keys and Go's decoder the
// last one too, but other readers differ: a request whose meaning depends on
// the reader is refused rather than guessed. Text that is not JSON gives nullopt
// (the real parser reports it).
std::optional<std::string> find_duplicate_key(std::string_view text);

}  // namespace sandnet::json_strict
