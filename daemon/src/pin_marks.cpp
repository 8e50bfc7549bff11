#include "sandnet/daemon/pin_marks.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"
#include "sandnet/common/unique_fd.hpp"
#include "sandnet/common/validate.hpp"

namespace sandnet::daemon {

PinMarks::PinMarks(const std::filesystem::path& state_dir) : dir_(state_dir / "pins") {
  with_context("pin marks " + dir_.string(), [&] { fs::ensure_directory(dir_, 0700); });
}

void PinMarks::mark(std::string_view name) const {
  validate::container_id(name);
  const auto path = dir_ / std::string(name);
  unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) throw_errno("mark pin " + path.string());
}

void PinMarks::unmark(std::string_view name) const {
  validate::container_id(name);
  const auto path = dir_ / std::string(name);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("unmark pin " + path.string());
}

bool PinMarks::is_marked(std::string_view name) const {
  struct stat st {};
  return validate::is_container_id(name) && ::lstat((dir_ / std::string(name)).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<std::string> PinMarks::all() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    auto name = entry.path().filename().string();
    if (validate::is_container_id(name)) names.push_back(std::move(name));
  }
  return names;
}

}  // namespace sandnet::daemon
