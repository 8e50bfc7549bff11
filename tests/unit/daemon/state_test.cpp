#include "sandnet/daemon/state.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <string>

#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"
#include "support/process.hpp"

namespace sandnet::daemon {
namespace {
namespace json = boost::json;
namespace stdfs = std::filesystem;

SandboxRecord sample(std::string id, std::int64_t created = 1700000000) {
  SandboxRecord r;
  r.id = std::move(id);
  r.owner_uid = 1501;
  r.owner_gid = 1502;
  r.pin_path = "/run/netns/sandnet-" + r.id;
  r.pid = 4242;
  r.netns_inode = 4026532001;
  r.netns_device = 4;
  r.state = SandboxState::ready;
  AttachmentRecord a;
  a.network = "sandnet";
  a.ifname = "eth0";
  a.phase = AttachmentPhase::added;
  a.result = json::parse(R"({"cniVersion":"1.0.0","ips":[{"address":"10.89.0.5/16"}]})");
  AttachmentRecord b;
  b.network = "extra";
  b.ifname = "eth1";
  b.phase = AttachmentPhase::failed;
  b.error = "plugin bridge: File exists";
  r.attachments = {a, b};
  r.args = {{"K8S_POD_NAME", "web"}, {"IgnoreUnknown", "1"}};
  r.capabilities = json::object{{"portMappings", json::array{json::object{{"hostPort", 30080}}}}};
  r.labels = {{"app", "web"}};
  r.created_unix = created;
  r.updated_unix = created + 5;
  return r;
}

void expect_same(const SandboxRecord& a, const SandboxRecord& b) {
  EXPECT_EQ(json::value_from(a), json::value_from(b));
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.owner_uid, b.owner_uid);
  EXPECT_EQ(a.owner_gid, b.owner_gid);
  EXPECT_EQ(a.pin_path, b.pin_path);
  EXPECT_EQ(a.pid, b.pid);
  EXPECT_EQ(a.netns_inode, b.netns_inode);
  EXPECT_EQ(a.netns_device, b.netns_device);
  EXPECT_EQ(a.state, b.state);
  ASSERT_EQ(a.attachments.size(), b.attachments.size());
  for (std::size_t i = 0; i < a.attachments.size(); ++i) {
    EXPECT_EQ(a.attachments[i].network, b.attachments[i].network);
    EXPECT_EQ(a.attachments[i].ifname, b.attachments[i].ifname);
    EXPECT_EQ(a.attachments[i].phase, b.attachments[i].phase);
    EXPECT_EQ(a.attachments[i].result, b.attachments[i].result);
    EXPECT_EQ(a.attachments[i].error, b.attachments[i].error);
  }
  EXPECT_EQ(a.args, b.args);
  EXPECT_EQ(a.capabilities, b.capabilities);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.created_unix, b.created_unix);
  EXPECT_EQ(a.updated_unix, b.updated_unix);
}

mode_t mode_of(const stdfs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

std::size_t count_files(const stdfs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : stdfs::directory_iterator(dir)) ++n;
  return n;
}

TEST(StateRecord, ReadsRecordsOfEarlierVersionsAndTheCreatedFields) {
  SandboxRecord r = sample("old1");
  json::object o = json::value_from(r).as_object();
  o["pidStartTime"] = 123456;  // written by earlier builds, ignored now
  expect_same(parse_record_text(json::serialize(o) + "\n", "test"), r);
  r.userns_pin_path = "/run/sandnet/userns/sandnet-old1";
  r.pid.reset();
  SandboxRecord back = parse_record_text(json::serialize(json::value_from(r)) + "\n", "test");
  EXPECT_EQ(back.userns_pin_path, r.userns_pin_path);
  EXPECT_FALSE(back.pid);
}

TEST(StateNames, RoundTrip) {
  for (auto s : {SandboxState::setting_up, SandboxState::ready, SandboxState::tearing_down,
                 SandboxState::failed})
    EXPECT_EQ(sandbox_state_from_string(to_string(s)), s);
  for (auto p : {AttachmentPhase::adding, AttachmentPhase::added, AttachmentPhase::failed})
    EXPECT_EQ(attachment_phase_from_string(to_string(p)), p);
  EXPECT_EQ(to_string(SandboxState::setting_up), "setting-up");
  EXPECT_EQ(to_string(SandboxState::tearing_down), "tearing-down");
  EXPECT_THROW(sandbox_state_from_string("running"), Error);
  EXPECT_THROW(attachment_phase_from_string(""), Error);
}

TEST(StateRecord, JsonRoundTrip) {
  SandboxRecord r = sample("pod1");
  json::value v = json::value_from(r);
  EXPECT_EQ(v.at("state"), "ready");
  EXPECT_EQ(v.at("attachments").at(1).at("phase"), "failed");
  expect_same(json::value_to<SandboxRecord>(v), r);

  // Optional parts absent.
  SandboxRecord minimal;
  minimal.id = "m";
  minimal.state = SandboxState::setting_up;
  json::value mv = json::value_from(minimal);
  EXPECT_FALSE(mv.as_object().contains("pid"));
  SandboxRecord back = json::value_to<SandboxRecord>(mv);
  EXPECT_FALSE(back.pid);
  expect_same(back, minimal);
}

TEST(StateRecord, BadRecordsNameTheField) {
  json::value good = json::value_from(sample("pod1"));
  auto error_with = [&](std::string_view key, json::value bad) {
    json::value v = good;
    v.as_object()[key] = std::move(bad);
    try {
      json::value_to<SandboxRecord>(v);
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument));
      return std::string(e.what());
    }
    ADD_FAILURE() << "accepted bad " << key;
    return std::string();
  };
  EXPECT_NE(error_with("id", "../etc").find("id"), std::string::npos);
  EXPECT_NE(error_with("state", "running").find("state"), std::string::npos);
  EXPECT_NE(error_with("version", 2).find("version"), std::string::npos);
  EXPECT_NE(error_with("ownerUid", "1501").find("ownerUid"), std::string::npos);
  EXPECT_NE(error_with("pid", 0).find("pid"), std::string::npos);
  EXPECT_NE(error_with("args", json::array{json::array{"k"}}).find("args[0]"), std::string::npos);
  EXPECT_NE(error_with("labels", json::object{{"a", 1}}).find("labels.a"), std::string::npos);
  EXPECT_NE(error_with("surprise", 1).find("surprise: unknown key"), std::string::npos);
  EXPECT_NE(error_with("attachments", json::array{json::object{
                                          {"network", "n"}, {"ifname", "a/b"}, {"phase", "added"}}})
                .find("attachments[0]"),
            std::string::npos);
}

TEST(StateRecord, ToInfo) {
  protocol::SandboxInfo info = to_info(sample("pod1"));
  EXPECT_EQ(info.id, "pod1");
  EXPECT_EQ(info.netns, "/run/netns/sandnet-pod1");
  EXPECT_EQ(info.owner_uid, 1501U);
  EXPECT_EQ(info.owner_gid, 1502U);
  EXPECT_EQ(info.state, "ready");
  EXPECT_EQ(info.pid, std::optional<pid_t>(4242));
  ASSERT_EQ(info.attachments.size(), 2U);
  EXPECT_EQ(info.attachments[0].network, "sandnet");
  EXPECT_EQ(info.attachments[0].ifname, "eth0");
  EXPECT_EQ(info.attachments[0].result.at("ips").at(0).at("address"), "10.89.0.5/16");
  EXPECT_TRUE(info.attachments[1].result.is_null());
  EXPECT_EQ(info.labels.at("app"), "web");
  EXPECT_EQ(info.created_unix, 1700000000);
}

TEST(StateStore, CreatesPrivateDirectory) {
  test::TempDir dir;
  auto state_dir = stdfs::path(dir.path()) / "state";
  StateStore store(state_dir);
  EXPECT_EQ(store.records_dir(), state_dir / "sandboxes");
  EXPECT_EQ(mode_of(store.records_dir()), 0700U);

  // An existing, too-open directory is tightened.
  ASSERT_EQ(::chmod(store.records_dir().c_str(), 0755), 0);
  StateStore again(state_dir);
  EXPECT_EQ(mode_of(again.records_dir()), 0700U);

  // A symlink in place of the directory is refused.
  auto other = stdfs::path(dir.path()) / "other";
  stdfs::create_directories(other / "real");
  stdfs::create_directory_symlink(other / "real", other / "sandboxes");
  EXPECT_THROW(StateStore{other}, Error);
}

TEST(StateStore, SaveLoadRemove) {
  test::TempDir dir;
  StateStore store(dir.path());
  EXPECT_FALSE(store.load("pod1"));

  SandboxRecord r = sample("pod1");
  store.create(r);
  auto path = store.records_dir() / "pod1.json";
  EXPECT_EQ(store.path_for("pod1"), path);
  EXPECT_EQ(mode_of(path), 0600U);
  auto loaded = store.load("pod1");
  ASSERT_TRUE(loaded);
  expect_same(*loaded, r);

  store.remove("pod1");
  EXPECT_FALSE(stdfs::exists(path));
  EXPECT_FALSE(store.load("pod1"));
  EXPECT_NO_THROW(store.remove("pod1"));  // idempotent
  EXPECT_EQ(count_files(store.records_dir()), 0U);
}

TEST(StateStore, UpdateAppendsAndLoadTakesTheNewestState) {
  test::TempDir dir;
  StateStore store(dir.path());
  SandboxRecord r = sample("pod1");
  r.state = SandboxState::setting_up;
  r.attachments.resize(1);
  r.attachments[0].phase = AttachmentPhase::adding;
  r.attachments[0].result = nullptr;
  store.create(r);
  auto path = store.path_for("pod1");
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);

  r.state = SandboxState::ready;
  r.attachments[0].phase = AttachmentPhase::added;
  r.attachments[0].result = json::object{{"cniVersion", "1.0.0"}};
  store.update(r);
  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  // Appended in place: the same inode, one line per state.
  EXPECT_EQ(before.st_ino, after.st_ino);
  const std::string text = fs::read_file(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  auto loaded = store.load("pod1");
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->state, SandboxState::ready);
  EXPECT_EQ(loaded->attachments[0].phase, AttachmentPhase::added);
  EXPECT_EQ(count_files(store.records_dir()), 1U);

  // create() starts the file afresh.
  r.state = SandboxState::failed;
  store.create(r);
  const std::string fresh = fs::read_file(path);
  EXPECT_EQ(std::count(fresh.begin(), fresh.end(), '\n'), 1);
  EXPECT_EQ(store.load("pod1")->state, SandboxState::failed);
}

TEST(StateStore, TornAppendIsIgnored) {
  test::TempDir dir;
  StateStore store(dir.path());
  SandboxRecord r = sample("pod1");
  r.state = SandboxState::ready;
  store.create(r);
  const auto path = store.path_for("pod1");
  const std::string complete = fs::read_file(path);

  r.state = SandboxState::tearing_down;
  const std::string next = json::serialize(json::value_from(r)) + "\n";
  // Cut mid-line (a write in progress, or a power loss): the last complete
  // line is the state.
  fs::write_file_atomic(path, complete + next.substr(0, next.size() / 2), 0600);
  EXPECT_EQ(store.load("pod1")->state, SandboxState::ready);
  // What ext4 can leave after a power loss (NULs where an append's data did
  // not reach the disk) followed by a later complete state.
  fs::write_file_atomic(path, complete + std::string(100, '\0') + next, 0600);
  EXPECT_EQ(store.load("pod1")->state, SandboxState::tearing_down);
  // An update after a torn tail is not swallowed by it.
  fs::write_file_atomic(path, complete + next.substr(0, next.size() / 2), 0600);
  r.state = SandboxState::failed;
  store.update(r);
  EXPECT_EQ(store.load("pod1")->state, SandboxState::failed);
  // A complete line that is not a record is corruption, not a torn write.
  fs::write_file_atomic(path, complete + next.substr(0, 10) + "\n", 0600);
  EXPECT_THROW(store.load("pod1"), Error);
}

TEST(StateStore, UpdateCompactsALongFileAndRecreatesAMissingOne) {
  test::TempDir dir;
  StateStore store(dir.path());
  SandboxRecord r = sample("pod1");
  store.update(r);  // no file yet: written whole
  const auto path = store.path_for("pod1");
  EXPECT_EQ(mode_of(path), 0600U);
  const std::size_t line = fs::read_file(path).size();
  for (std::size_t i = 0; i * line < 2 * StateStore::kCompactBytes; ++i) {
    r.updated_unix = static_cast<std::int64_t>(i);
    store.update(r);
    ASSERT_LE(stdfs::file_size(path), StateStore::kCompactBytes);
  }
  const std::string text = fs::read_file(path);
  EXPECT_LT(std::count(text.begin(), text.end(), '\n'),
            static_cast<long>(2 * StateStore::kCompactBytes / line));
  EXPECT_EQ(store.load("pod1")->updated_unix, r.updated_unix);
  EXPECT_EQ(count_files(store.records_dir()), 1U);
}

TEST(StateStore, BadIdsAreRefusedBeforeTouchingFiles) {
  test::TempDir dir;
  StateStore store(dir.path());
  for (const std::string& bad : std::vector<std::string>{"", "../escape", "a/b", ".hidden", "-dash",
                                                         "a b", "x\n", std::string(129, 'a')}) {
    SandboxRecord r = sample("ok");
    r.id = bad;
    try {
      store.create(r);
      ADD_FAILURE() << "saved id " << bad;
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    }
    EXPECT_THROW(store.load(bad), Error) << bad;
    EXPECT_THROW(store.remove(bad), Error) << bad;
  }
  EXPECT_NO_THROW(store.path_for(std::string(128, 'a')));
  EXPECT_EQ(count_files(store.records_dir()), 0U);
  EXPECT_FALSE(stdfs::exists(stdfs::path(dir.path()) / "escape.json"));
}

TEST(StateStore, LoadOfCorruptRecordThrows) {
  test::TempDir dir;
  StateStore store(dir.path());
  fs::write_file_atomic(store.path_for("pod1"), "{not json", 0600);
  try {
    store.load("pod1");
    ADD_FAILURE() << "corrupt record loaded";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("load sandbox pod1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
  }
  // A record under the wrong name is corrupt too.
  json::value other = json::value_from(sample("pod2"));
  fs::write_file_atomic(store.path_for("pod1"), json::serialize(other), 0600);
  EXPECT_THROW(store.load("pod1"), Error);
  // load() leaves the file alone.
  EXPECT_TRUE(stdfs::exists(store.path_for("pod1")));
}

TEST(StateStore, LoadAllOrdersAndSetsCorruptFilesAside) {
  test::TempDir dir;
  StateStore store(dir.path());
  store.create(sample("c-late", 300));
  store.create(sample("b-early", 100));
  store.create(sample("a-same", 200));
  store.create(sample("z-same", 200));
  fs::write_file_atomic(store.records_dir() / "broken.json", "{\"version\": 1", 0600);
  fs::write_file_atomic(store.records_dir() / "wrongname.json",
                        json::serialize(json::value_from(sample("other"))), 0600);
  fs::write_file_atomic(store.records_dir() / "bad name.json", "{}", 0600);
  // Not records: a temp file of an interrupted write, an old .corrupt, other files.
  fs::write_file_atomic(store.records_dir() / ".x.json.tmp-0123456789ab", "{", 0600);
  fs::write_file_atomic(store.records_dir() / "old.json.corrupt", "{", 0600);
  fs::write_file_atomic(store.records_dir() / "README", "hi", 0600);
  // A symlink posing as a record is not followed.
  stdfs::create_symlink(store.path_for("c-late"), store.records_dir() / "link.json");

  StateStore::LoadResult result = store.load_all();
  std::vector<std::string> ids;
  for (const auto& r : result.records) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"b-early", "a-same", "z-same", "c-late"}));
  ASSERT_EQ(result.errors.size(), 4U);
  for (const auto& e : result.errors) EXPECT_NE(e.find("moved to"), std::string::npos) << e;

  for (std::string name : {"broken.json", "wrongname.json", "bad name.json", "link.json"}) {
    EXPECT_FALSE(stdfs::exists(stdfs::symlink_status(store.records_dir() / name))) << name;
    EXPECT_TRUE(stdfs::exists(stdfs::symlink_status(store.records_dir() / (name + ".corrupt"))))
        << name;
  }
  // The good records are untouched and a second pass finds no errors.
  StateStore::LoadResult second = store.load_all();
  EXPECT_EQ(second.records.size(), 4U);
  EXPECT_TRUE(second.errors.empty());
  // The corrupt file no longer blocks its ID.
  EXPECT_FALSE(store.load("broken"));
}

// Found by fuzz_state_record (after the same bug in fuzz_jsonrpc): a record
// holding a number beyond a double read back as infinity, which the next
// update would have written as "Infinity" (not JSON).
TEST(StateStore, RecordWithANumberBeyondADoubleIsRefused) {
  SandboxRecord r = sample("pod1");
  std::string line = json::serialize(json::value_from(r));
  EXPECT_EQ(parse_record_text(line + "\n", "t").id, "pod1");
  const std::string caps = R"("capabilities":{)";
  line.replace(line.find(caps), caps.size(), caps + R"("x":1e400,)");
  try {
    parse_record_text(line + "\n", "t");
    ADD_FAILURE() << "accepted " << line;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sandnet::daemon
