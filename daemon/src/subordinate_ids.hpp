// The subordinate ID ranges a user owns (/etc/subuid, /etc/subgid), read the
// way newuidmap(1) reads them: "NAME_OR_UID:FIRST:COUNT" lines, matched by
// the user's name or its decimal uid.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "sandnet/common/protocol.hpp"

namespace sandnet::daemon {

// The ranges of text (a subuid/subgid file) for the user uid named name
// (empty if it has no passwd entry). Malformed lines are skipped, as
// newuidmap skips them.
std::vector<protocol::IdRange> parse_subordinate_ranges(std::string_view text, uid_t uid, std::string_view name);

// The user's ranges in file; none when the file is missing or unreadable.
// Blocking (file and NSS): run on the blocking pool.
std::vector<protocol::IdRange> read_subordinate_ranges(const std::filesystem::path& file, uid_t uid);

}  // namespace sandnet::daemon
