// Which pins in netnsDir sandnet made. netnsDir is shared (/run/netns is
// iproute2's too): a "sandnet-x" made by `ip netns add` must survive our
// start-up and gc. A pin is marked (<stateDir>/pins/<name>) before it is made
// and unmarked after it is removed, so a crash in between leaves a mark
// without a pin (harmless), never a pin of ours without a mark.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace sandnet::daemon {

class PinMarks {
 public:
  // dir: the daemon's stateDir; marks live in dir/pins (0700, made here).
  explicit PinMarks(const std::filesystem::path& state_dir);

  // Blocking file calls: run on the blocking pool. name is a validated pin name.
  void mark(std::string_view name) const;
  void unmark(std::string_view name) const;  // a missing mark is fine
  bool is_marked(std::string_view name) const;
  std::vector<std::string> all() const;      // names of every mark

 private:
  std::filesystem::path dir_;
};

}  // namespace sandnet::daemon
