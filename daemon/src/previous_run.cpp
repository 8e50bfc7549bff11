#include "previous_run.hpp"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <charconv>
#include <optional>
#include <thread>

#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"

namespace sandnet::daemon {
namespace json = boost::json;

namespace {

struct ProcStat {
  pid_t session = 0;
  std::uint64_t start_time = 0;  // clock ticks since boot (field 22)
};

// /proc/<pid>/stat: "pid (comm) state ppid pgrp session ... starttime ...";
// comm may hold spaces and parentheses, so fields count from the last ')'.
std::optional<ProcStat> read_stat(pid_t pid) {
  std::string text;
  try {
    text = fs::read_file("/proc/" + std::to_string(pid) + "/stat");
  } catch (const Error&) {
    return std::nullopt;  // gone
  }
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state)
  std::string_view rest = std::string_view(text).substr(close + 1);
  while (!rest.empty()) {
    const auto start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const auto end = rest.find(' ');
    fields.push_back(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end);
  }
  if (fields.size() < 20) return std::nullopt;
  ProcStat st;
  auto number = [](std::string_view s, auto& out) { std::from_chars(s.data(), s.data() + s.size(), out); };
  number(fields[3], st.session);      // field 6
  number(fields[19], st.start_time);  // field 22
  return st;
}

std::vector<pid_t> members_of_session(pid_t session) {
  std::vector<pid_t> out;
  DIR* dir = ::opendir("/proc");
  if (!dir) return out;
  const pid_t self = ::getpid();
  while (auto* entry = ::readdir(dir)) {
    pid_t pid = 0;
    const std::string_view name = entry->d_name;
    if (std::from_chars(name.data(), name.data() + name.size(), pid).ec != std::errc() || pid == self) continue;
    if (auto st = read_stat(pid); st && st->session == session) out.push_back(pid);
  }
  ::closedir(dir);
  return out;
}

}  // namespace

bool lead_own_session() {
  if (::getsid(0) == ::getpid()) return true;
  return ::setsid() >= 0;
}

PreviousRunCleanup take_over_from_previous_run(const std::filesystem::path& state_dir, bool leading_session,
                                               std::chrono::milliseconds wait) {
  PreviousRunCleanup out;
  const auto path = state_dir / "run.json";
  std::optional<ProcStat> recorded;
  try {
    const auto doc = json::parse(fs::read_file(path));
    out.previous_pid = static_cast<pid_t>(doc.at("pid").to_number<std::int64_t>());
    recorded = ProcStat{out.previous_pid, doc.at("startTime").to_number<std::uint64_t>()};
  } catch (const std::exception&) {
    out.previous_pid = 0;  // none, or unreadable: nothing to take over from
  }
  if (out.previous_pid > 0 && out.previous_pid != ::getpid()) {
    const auto now = read_stat(out.previous_pid);
    if (now && now->start_time == recorded->start_time) {
      out.problems.push_back("the previous sandnetd (pid " + std::to_string(out.previous_pid) +
                             ") is still running; its plugins are left alone");
    } else if (now && now->session == out.previous_pid) {
      // The PID was reused by a process that leads a session of that number:
      // the session is that process's now.
    } else {
      const auto deadline = std::chrono::steady_clock::now() + wait;
      for (;;) {
        auto left = members_of_session(out.previous_pid);
        if (left.empty()) break;
        for (pid_t pid : left) {
          if (::kill(pid, SIGKILL) == 0 &&
              std::find(out.killed.begin(), out.killed.end(), pid) == out.killed.end())
            out.killed.push_back(pid);
        }
        if (std::chrono::steady_clock::now() >= deadline) {
          out.problems.push_back(std::to_string(left.size()) + " process(es) of the previous run's session " +
                                 std::to_string(out.previous_pid) + " did not exit in time");
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
  if (!leading_session) {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
    return out;
  }
  if (auto self = read_stat(::getpid())) {
    json::object doc{{"pid", ::getpid()}, {"startTime", self->start_time}};
    try {
      fs::write_file_atomic(path, json::serialize(doc) + "\n", 0600, fs::Durability::atomic_only);
    } catch (const std::exception& e) {
      out.problems.push_back(e.what());
    }
  }
  return out;
}

}  // namespace sandnet::daemon
