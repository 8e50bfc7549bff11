// The state store: one file per sandbox in <stateDir>/sandboxes/<id>.json
// (directory 0700, files 0600). A record is created atomically and durably
// before the first plugin runs; each later state is appended as one more JSON
// line, and a read takes the newest complete line. So a restart knows every
// attachment that may exist and rolls back or serves it again.
#pragma once

#include <sys/types.h>

#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sandnet/common/protocol.hpp"

namespace sandnet::daemon {

enum class SandboxState {
  setting_up,    // "setting-up": plugins may be running; roll back after a crash
  ready,         // "ready": every attachment added
  tearing_down,  // "tearing-down": DEL in progress; finish it after a crash
  failed,        // "failed": setup failed and rollback did not finish
};

enum class AttachmentPhase {
  adding,  // "adding": recorded before ADD ran; may or may not exist
  added,   // "added": ADD succeeded, result holds the CNI result
  failed,  // "failed": ADD failed; DEL still owed
};

std::string_view to_string(SandboxState s) noexcept;
std::string_view to_string(AttachmentPhase p) noexcept;
// Throw Error(invalid_argument) for an unknown name.
SandboxState sandbox_state_from_string(std::string_view s);
AttachmentPhase attachment_phase_from_string(std::string_view s);

struct AttachmentRecord {
  std::string network;
  std::string ifname;
  AttachmentPhase phase = AttachmentPhase::adding;
  boost::json::value result;  // the CNI result once added; null before
  std::string error;          // why ADD failed (phase failed)
};

struct SandboxRecord {
  std::string id;
  uid_t owner_uid = 0;
  gid_t owner_gid = 0;
  std::string pin_path;      // e.g. /run/netns/sandnet-pod1
  // The user namespace's pin, for a sandbox whose namespaces the daemon made
  // (sandbox.setup "create"); empty otherwise.
  std::string userns_pin_path;
  std::optional<pid_t> pid;  // the sandbox process, when known
  // Identify the netns again after a restart (a pin replaced behind our
  // back; a reused PID is caught by comparing its netns). 0 = unknown.
  std::uint64_t netns_inode = 0;
  std::uint64_t netns_device = 0;
  SandboxState state = SandboxState::setting_up;
  std::vector<AttachmentRecord> attachments;              // in setup order
  std::vector<std::pair<std::string, std::string>> args;  // validated CNI_ARGS pairs
  boost::json::object capabilities;                       // runtimeConfig as asked
  std::map<std::string, std::string> labels;
  std::int64_t created_unix = 0;
  std::int64_t updated_unix = 0;
};

// JSON form of a record (the file content). value_to throws
// Error(invalid_argument) naming the bad field; the id is validated.
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const AttachmentRecord& r);
AttachmentRecord tag_invoke(boost::json::value_to_tag<AttachmentRecord>,
                            const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const SandboxRecord& r);
SandboxRecord tag_invoke(boost::json::value_to_tag<SandboxRecord>, const boost::json::value& v);

// Parses the text of a record file: its newest state, the last complete
// line (a torn tail without a newline is ignored; a text without any newline
// is one record). source names the file in errors. Throws
// Error(invalid_argument).
SandboxRecord parse_record_text(std::string_view text, std::string_view source);

// The protocol view (sandbox.get / sandbox.list / setup reply).
protocol::SandboxInfo to_info(const SandboxRecord& record);

// Files under one directory; no in-memory cache, so methods on different ids
// may run concurrently from any thread. The daemon serialises operations on
// one sandbox, so the store does not lock.
class StateStore {
 public:
  // dir is the daemon's stateDir; records live in dir/sandboxes, created
  // here (0700) if missing and forced to 0700 if it exists.
  explicit StateStore(std::filesystem::path dir);

  const std::filesystem::path& records_dir() const noexcept { return records_dir_; }

  // Writes the record of record.id as a new file, atomically, with the file
  // and its directory fsync'd: it survives a machine crash. Replaces any
  // file of that id.
  void create(const SandboxRecord& record);
  // Records a later state of a sandbox: appends it as one JSON line (no
  // fsync, no rename: ~20 us where a rename over an fsync'd file costs
  // ~0.2 ms on ext4). Survives a crash of the daemon, not necessarily a
  // power loss, which is fine for states that describe pins and veths such a
  // loss removes anyway. A file grown past kCompactBytes is rewritten
  // atomically with only this state; a missing one is created that way.
  void update(const SandboxRecord& record);
  // The newest state of id, or nullopt when there is none: the last complete
  // line (a torn append, which has no newline yet, is ignored). A corrupt
  // file throws (load_all is the one that moves corrupt files aside).
  std::optional<SandboxRecord> load(std::string_view id) const;
  // Removes the record of id; fine when there is none.
  void remove(std::string_view id);

  struct LoadResult {
    std::vector<SandboxRecord> records;  // ordered by created_unix, then id
    // IDs whose record file was unreadable and set aside: their sandboxes may
    // still hold networks (recovery DELs them from the CNI cache).
    std::vector<std::string> unreadable_ids;
    // One message per unreadable file; such files are renamed to
    // <id>.json.corrupt (kept for a human) and left out of records.
    std::vector<std::string> errors;
  };
  LoadResult load_all();

  // Path of id's record; validates id (CNI container ID rules, length).
  std::filesystem::path path_for(std::string_view id) const;

  static constexpr std::size_t kCompactBytes = 64 * 1024;

 private:
  std::filesystem::path records_dir_;
};

}  // namespace sandnet::daemon
