#include "sandnet/common/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <random>

#include "sandnet/common/error.hpp"
#include "sandnet/common/unique_fd.hpp"

namespace sandnet::fs {

namespace {

std::string read_all_of(int fd, const std::filesystem::path& path) {
  std::string out;
  std::array<char, 16384> buf{};
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read " + path.string());
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

std::string read_file(const std::filesystem::path& path) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) throw_errno("open " + path.string());
  return read_all_of(fd.get(), path);
}

std::string read_regular_file(const std::filesystem::path& path) {
  // O_NONBLOCK: a FIFO put in its place must not hang the reader.
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) {
    if (errno == ELOOP) throw_error(errc::invalid_argument, path.string() + ": a symlink, not a regular file");
    throw_errno("open " + path.string());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_errno("fstat " + path.string());
  if (!S_ISREG(st.st_mode)) throw_error(errc::invalid_argument, path.string() + ": not a regular file");
  return read_all_of(fd.get(), path);
}

void write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write " + what);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

namespace {

constexpr std::string_view kTempInfix = ".tmp-";
constexpr std::size_t kTempSuffixLength = 12;

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(kTempSuffixLength, '0');
  for (auto& c : s) c = kHex[rng() % 16];
  return s;
}

}  // namespace

void write_file_atomic(const std::filesystem::path& path, std::string_view data, mode_t mode,
                       Durability durability) {
  const bool sync = durability == Durability::synced;
  auto dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::filesystem::path tmp = dir / ("." + path.filename().string() + std::string(kTempInfix) + random_suffix());
  unique_fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd) throw_errno("create " + tmp.string());
  try {
    if (::fchmod(fd.get(), mode) != 0) throw_errno("chmod " + tmp.string());
    write_all(fd.get(), data, tmp.string());
    if (sync && ::fsync(fd.get()) != 0) throw_errno("fsync " + tmp.string());
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno("rename " + tmp.string() + " to " + path.string());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  if (!sync) return;
  unique_fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
}

void ensure_directory(const std::filesystem::path& dir, mode_t mode) {
  std::filesystem::path current;
  for (const auto& part : dir) {
    current /= part;
    if (current.empty() || current == "/") continue;
    if (::mkdir(current.c_str(), mode) == 0) continue;
    if (errno != EEXIST) throw_errno("mkdir " + current.string());
    struct stat st {};
    if (::stat(current.c_str(), &st) != 0) throw_errno("stat " + current.string());
    if (!S_ISDIR(st.st_mode)) throw_errno(ENOTDIR, "mkdir " + current.string());
  }
}

void remove_file(const std::filesystem::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("remove " + path.string());
}

bool is_atomic_temp_name(std::string_view name) {
  const auto infix = name.rfind(kTempInfix);
  if (name.size() < 2 || name.front() != '.' || infix == std::string_view::npos ||
      name.size() - infix - kTempInfix.size() != kTempSuffixLength)
    return false;
  return name.substr(infix + kTempInfix.size()).find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::vector<std::string> remove_stale_temp_files(const std::filesystem::path& dir,
                                                 std::filesystem::file_time_type older_than) {
  std::vector<std::string> removed;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return removed;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const auto name = it->path().filename().string();
    if (!is_atomic_temp_name(name)) continue;
    std::error_code stat_ec;
    if (!it->is_regular_file(stat_ec) || it->is_symlink(stat_ec)) continue;
    const auto mtime = std::filesystem::last_write_time(it->path(), stat_ec);
    if (stat_ec || mtime >= older_than) continue;
    if (::unlink(it->path().c_str()) == 0) removed.push_back(name);
  }
  return removed;
}

}  // namespace sandnet::fs
