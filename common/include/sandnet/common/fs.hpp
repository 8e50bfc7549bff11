// Small file helpers shared by the CNI cache and the daemon's state store.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace sandnet::fs {

// Reads a whole regular file. Throws Error (errno code, context names the path).
std::string read_file(const std::filesystem::path& path);
// Reads path only if it is a regular file, never following a symlink (one
// open, then fstat: no window for a swap). Error(invalid_argument) otherwise.
std::string read_regular_file(const std::filesystem::path& path);

// How far write_file_atomic goes to survive a crash.
enum class Durability {
  // fsync of the file and of its directory: survives a machine crash.
  synced,
  // Atomic only: survives a crash of the process (the page cache does), not
  // necessarily a power loss. For data about kernel objects that die with the
  // machine anyway; an fsync costs ~0.3 ms here, per write.
  atomic_only,
};

// Writes data to path atomically: a temp file beside it (O_EXCL, mode),
// rename over path (with fsyncs for Durability::synced). Readers see the old
// or the new content, never a mix; a crash leaves at most a stray temp file.
void write_file_atomic(const std::filesystem::path& path, std::string_view data, mode_t mode,
                       Durability durability = Durability::synced);

// Whether name is one of write_file_atomic's temp files (".<name>.tmp-<12 hex>").
bool is_atomic_temp_name(std::string_view name);
// Removes write_file_atomic's temp files in dir last written before
// older_than: what a writer killed between create and rename left. Returns
// their names; never throws (a missing dir is empty).
std::vector<std::string> remove_stale_temp_files(const std::filesystem::path& dir,
                                                 std::filesystem::file_time_type older_than);

// Writes all of data to fd (retrying short writes and EINTR); what names the
// file in the error.
void write_all(int fd, std::string_view data, const std::string& what);

// Creates dir and its parents (mode for the ones it creates). Throws if a
// component exists and is not a directory.
void ensure_directory(const std::filesystem::path& dir, mode_t mode);

// Removes path; a missing file is fine. Throws on other errors.
void remove_file(const std::filesystem::path& path);

}  // namespace sandnet::fs
