#include "sandnet/daemon/state.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "config_json.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"
#include "sandnet/common/unique_fd.hpp"
#include "sandnet/common/validate.hpp"

namespace sandnet::daemon {
namespace json = boost::json;
using detail::fail_at;
using detail::index_path;
using detail::ObjectReader;

namespace {

constexpr std::int64_t kRecordVersion = 1;
constexpr std::string_view kRecordSuffix = ".json";
constexpr std::string_view kCorruptSuffix = ".corrupt";
constexpr mode_t kDirMode = 0700;
constexpr mode_t kFileMode = 0600;
constexpr std::string_view kRecordSource = "sandbox record";

}  // namespace

std::string_view to_string(SandboxState s) noexcept {
  switch (s) {
    case SandboxState::setting_up:
      return "setting-up";
    case SandboxState::ready:
      return "ready";
    case SandboxState::tearing_down:
      return "tearing-down";
    case SandboxState::failed:
      return "failed";
  }
  return "unknown";
}

std::string_view to_string(AttachmentPhase p) noexcept {
  switch (p) {
    case AttachmentPhase::adding:
      return "adding";
    case AttachmentPhase::added:
      return "added";
    case AttachmentPhase::failed:
      return "failed";
  }
  return "unknown";
}

SandboxState sandbox_state_from_string(std::string_view s) {
  for (auto v : {SandboxState::setting_up, SandboxState::ready, SandboxState::tearing_down,
                 SandboxState::failed}) {
    if (to_string(v) == s) return v;
  }
  throw_error(errc::invalid_argument,
              "unknown sandbox state \"" + std::string(s) +
                  "\" (expected setting-up, ready, tearing-down or failed)");
}

AttachmentPhase attachment_phase_from_string(std::string_view s) {
  for (auto v : {AttachmentPhase::adding, AttachmentPhase::added, AttachmentPhase::failed}) {
    if (to_string(v) == s) return v;
  }
  throw_error(errc::invalid_argument, "unknown attachment phase \"" + std::string(s) +
                                          "\" (expected adding, added or failed)");
}

void tag_invoke(json::value_from_tag, json::value& v, const AttachmentRecord& r) {
  json::object o{{"network", r.network},
                 {"ifname", r.ifname},
                 {"phase", to_string(r.phase)},
                 {"result", r.result}};
  if (!r.error.empty()) o["error"] = r.error;
  v = std::move(o);
}

namespace {

AttachmentRecord read_attachment(const json::value& v, const std::string& path) {
  ObjectReader r(v, kRecordSource, path);
  r.only({"network", "ifname", "phase", "result", "error"});
  AttachmentRecord a;
  a.network = r.required_string("network");
  a.ifname = r.required_string("ifname");
  try {
    validate::network_name(a.network);
    validate::interface_name(a.ifname);
    a.phase = attachment_phase_from_string(r.required_string("phase"));
  } catch (const Error& e) {
    fail_at(kRecordSource, path, e.what());
  }
  if (auto* result = r.find("result")) a.result = *result;
  a.error = r.string("error").value_or("");
  return a;
}

}  // namespace

AttachmentRecord tag_invoke(json::value_to_tag<AttachmentRecord>, const json::value& v) {
  return read_attachment(v, "attachment");
}

void tag_invoke(json::value_from_tag, json::value& v, const SandboxRecord& r) {
  json::array attachments;
  for (const auto& a : r.attachments) attachments.push_back(json::value_from(a));
  json::array args;
  for (const auto& [k, val] : r.args)
    args.push_back(json::array{json::string(k), json::string(val)});
  json::object labels;
  for (const auto& [k, val] : r.labels) labels[k] = val;
  json::object o{
      {"version", kRecordVersion},     {"id", r.id},
      {"ownerUid", r.owner_uid},       {"ownerGid", r.owner_gid},
      {"pinPath", r.pin_path},
      {"netnsInode", r.netns_inode},   {"netnsDevice", r.netns_device},
      {"state", to_string(r.state)},   {"attachments", std::move(attachments)},
      {"args", std::move(args)},       {"capabilities", r.capabilities},
      {"labels", std::move(labels)},   {"createdUnix", r.created_unix},
      {"updatedUnix", r.updated_unix},
  };
  if (r.pid) o["pid"] = *r.pid;
  if (!r.userns_pin_path.empty()) o["usernsPinPath"] = r.userns_pin_path;
  v = std::move(o);
}

SandboxRecord tag_invoke(json::value_to_tag<SandboxRecord>, const json::value& v) {
  ObjectReader r(v, kRecordSource, "");
  r.only({"version", "id", "ownerUid", "ownerGid", "pinPath", "usernsPinPath", "pid", "pidStartTime", "netnsInode",
          "netnsDevice", "state", "attachments", "args", "capabilities", "labels", "createdUnix",
          "updatedUnix"});
  auto version = r.required_integer<std::int64_t>("version");
  if (version != kRecordVersion)
    r.fail("version", "is " + std::to_string(version) + "; this sandnetd reads version " +
                          std::to_string(kRecordVersion));

  SandboxRecord rec;
  rec.id = r.required_string("id");
  try {
    validate::sandbox_id(rec.id);
  } catch (const Error& e) {
    r.fail("id", e.what());
  }
  rec.owner_uid = r.required_integer<uid_t>("ownerUid");
  rec.owner_gid = r.required_integer<gid_t>("ownerGid");
  rec.pin_path = r.string("pinPath").value_or("");
  rec.userns_pin_path = r.string("usernsPinPath").value_or("");
  if (auto pid = r.integer<pid_t>("pid", 1)) rec.pid = *pid;
  // "pidStartTime" (written by earlier versions, never read) is accepted and
  // ignored: a PID is told apart by its pidfd and netns identity instead.
  (void)r.integer<std::uint64_t>("pidStartTime");
  rec.netns_inode = r.integer<std::uint64_t>("netnsInode").value_or(0);
  rec.netns_device = r.integer<std::uint64_t>("netnsDevice").value_or(0);
  try {
    rec.state = sandbox_state_from_string(r.required_string("state"));
  } catch (const Error& e) {
    r.fail("state", e.what());
  }
  if (auto* list = r.array("attachments")) {
    for (std::size_t i = 0; i < list->size(); ++i)
      rec.attachments.push_back(read_attachment((*list)[i], index_path("attachments", i)));
  }
  if (auto* list = r.array("args")) {
    for (std::size_t i = 0; i < list->size(); ++i) {
      const auto* pair = (*list)[i].if_array();
      if (!pair || pair->size() != 2 || !(*pair)[0].is_string() || !(*pair)[1].is_string())
        fail_at(kRecordSource, index_path("args", i), "must be a [key, value] pair of strings");
      rec.args.emplace_back(std::string((*pair)[0].get_string()),
                            std::string((*pair)[1].get_string()));
    }
  }
  if (auto* caps = r.object("capabilities")) rec.capabilities = *caps;
  if (auto* labels = r.object("labels")) {
    for (const auto& [k, val] : *labels) {
      if (!val.is_string())
        fail_at(kRecordSource, r.path_of("labels") + "." + std::string(k), "must be a string");
      rec.labels.emplace(std::string(k), std::string(val.get_string()));
    }
  }
  rec.created_unix = r.integer<std::int64_t>("createdUnix").value_or(0);
  rec.updated_unix = r.integer<std::int64_t>("updatedUnix").value_or(0);
  return rec;
}

protocol::SandboxInfo to_info(const SandboxRecord& record) {
  protocol::SandboxInfo info;
  info.id = record.id;
  info.netns = record.pin_path;
  info.userns = record.userns_pin_path;
  info.owner_uid = record.owner_uid;
  info.owner_gid = record.owner_gid;
  info.state = std::string(to_string(record.state));
  info.pid = record.pid;
  // Every attempted attachment is listed; one that is not (yet) added has a
  // null result, and the sandbox state says why.
  for (const auto& a : record.attachments)
    info.attachments.push_back({a.network, a.ifname, a.result});
  info.labels = record.labels;
  info.created_unix = record.created_unix;
  return info;
}

StateStore::StateStore(std::filesystem::path dir) : records_dir_(std::move(dir) / "sandboxes") {
  with_context("state store " + records_dir_.string(), [&] {
    fs::ensure_directory(records_dir_, kDirMode);
    // Records name every sandbox and its owner: root only, whatever the
    // directory's mode was before.
    struct stat st {};
    if (::lstat(records_dir_.c_str(), &st) != 0) throw_errno("lstat");
    if (!S_ISDIR(st.st_mode)) throw_error(errc::invalid_argument, "not a directory (a symlink?)");
    if ((st.st_mode & 07777) != kDirMode && ::chmod(records_dir_.c_str(), kDirMode) != 0)
      throw_errno("chmod");
  });
}

std::filesystem::path StateStore::path_for(std::string_view id) const {
  // Record files are "<id>.json", renamed to "<id>.json.corrupt" and written
  // via ".<id>.json.tmp-XXXXXXXXXXXX": sandbox_id's length limit keeps them in NAME_MAX.
  validate::sandbox_id(id);
  return records_dir_ / (std::string(id) + std::string(kRecordSuffix));
}

namespace {

std::string record_line(const SandboxRecord& record) {
  return json::serialize(json::value_from(record)) + "\n";
}

}  // namespace

void StateStore::create(const SandboxRecord& record) {
  with_context("save sandbox " + record.id, [&] {
    fs::write_file_atomic(path_for(record.id), record_line(record), kFileMode, fs::Durability::synced);
  });
}

void StateStore::update(const SandboxRecord& record) {
  with_context("save sandbox " + record.id, [&] {
    const auto path = path_for(record.id);
    const std::string line = record_line(record);
    unique_fd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW));
    struct stat st {};
    if (fd && ::fstat(fd.get(), &st) != 0) throw_errno("fstat " + path.string());
    // Append only after a complete line: a torn tail would swallow this one.
    auto ends_a_line = [&] {
      char last = 0;
      return st.st_size > 0 && ::pread(fd.get(), &last, 1, st.st_size - 1) == 1 && last == '\n';
    };
    if (!fd || !S_ISREG(st.st_mode) || static_cast<std::size_t>(st.st_size) + line.size() > kCompactBytes ||
        !ends_a_line()) {
      if (!fd && errno != ENOENT && errno != ELOOP) throw_errno("open " + path.string());
      fs::write_file_atomic(path, line, kFileMode, fs::Durability::atomic_only);
      return;
    }
    fs::write_all(fd.get(), line, path.string());
  });
}

namespace {

// The newest state in a record file: its last newline-terminated line. A
// file without any newline is one record (as written by hand). An append
// torn by a power loss may leave NUL bytes before a later line: skipped.
std::string_view newest_line(std::string_view text) {
  const std::size_t end = text.rfind('\n');
  if (end == std::string_view::npos) return text;
  const std::string_view before = text.substr(0, end);
  const std::size_t prev = before.rfind('\n');
  std::string_view line = before.substr(prev == std::string_view::npos ? 0 : prev + 1);
  while (!line.empty() && line.front() == '\0') line.remove_prefix(1);
  return line;
}

}  // namespace

SandboxRecord parse_record_text(std::string_view text, std::string_view source) {
  json::value doc = detail::parse_json(newest_line(text), source);
  return with_context(source, [&] { return json::value_to<SandboxRecord>(doc); });
}

namespace {

SandboxRecord read_record(const std::filesystem::path& path, std::string_view expected_id) {
  SandboxRecord rec = parse_record_text(fs::read_regular_file(path), path.string());
  if (rec.id != expected_id)
    throw_error(errc::invalid_argument, path.string() + ": holds sandbox \"" + rec.id +
                                            "\", not \"" + std::string(expected_id) + "\"");
  return rec;
}

}  // namespace

std::optional<SandboxRecord> StateStore::load(std::string_view id) const {
  return with_context("load sandbox " + std::string(id), [&]() -> std::optional<SandboxRecord> {
    auto path = path_for(id);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return std::nullopt;
      throw_errno("lstat " + path.string());
    }
    return read_record(path, id);
  });
}

void StateStore::remove(std::string_view id) {
  with_context("remove sandbox " + std::string(id), [&] { fs::remove_file(path_for(id)); });
}

StateStore::LoadResult StateStore::load_all() {
  LoadResult out;
  std::error_code ec;
  std::filesystem::directory_iterator it(records_dir_, ec);
  if (ec) throw Error(ec, "load sandboxes: list " + records_dir_.string());

  // Moves a bad file aside so that it no longer blocks its ID, but stays for
  // a human to look at.
  auto set_aside = [&](const std::filesystem::path& path, std::string why) {
    auto target = path;
    target += std::string(kCorruptSuffix);
    if (::rename(path.c_str(), target.c_str()) == 0) {
      why += " (moved to " + target.string() + ")";
    } else {
      why += " (could not move it aside: " +
             std::error_code(errno, std::generic_category()).message() + ")";
    }
    out.errors.push_back(std::move(why));
  };

  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const auto& path = it->path();
    const std::string name = path.filename().string();
    // Temp files of an interrupted write_file_atomic and files already set
    // aside are not records.
    if (name.starts_with('.') || !name.ends_with(kRecordSuffix)) continue;
    const std::string id = name.substr(0, name.size() - kRecordSuffix.size());
    try {
      with_context(path.string(), [&] { path_for(id); });  // the name itself must be a valid ID
      out.records.push_back(read_record(path, id));
    } catch (const Error& e) {
      set_aside(path, e.what());
      if (validate::is_container_id(id) && id.size() <= validate::kMaxSandboxIdLength) out.unreadable_ids.push_back(id);
    }
  }
  if (ec) throw Error(ec, "load sandboxes: list " + records_dir_.string());

  std::sort(
      out.records.begin(), out.records.end(), [](const SandboxRecord& a, const SandboxRecord& b) {
        return a.created_unix != b.created_unix ? a.created_unix < b.created_unix : a.id < b.id;
      });
  return out;
}

}  // namespace sandnet::daemon
