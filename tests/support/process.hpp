// Running commands from tests: capture output, exit status, with a timeout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace sandnet::test {

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal or timed out
  std::string out;
  std::string err;
  bool ok() const { return exit_code == 0; }
};

// Runs argv (argv[0] is looked up in PATH), feeding stdin_data, with extra_env
// ("NAME=VALUE", replacing our value of NAME) added to our environment. Never throws
// for a failing command; throws sandnet::Error when it cannot start at all.
CommandResult run(const std::vector<std::string>& argv, const std::string& stdin_data = {},
                  std::chrono::seconds timeout = std::chrono::seconds(60),
                  const std::vector<std::string>& extra_env = {});

// run({"sh","-c",script}).
CommandResult sh(const std::string& script);

// argv as another user, through setpriv: uid as the real and effective uid
// and gid, no supplementary groups. uid 0: argv unchanged.
std::vector<std::string> as_user(uid_t uid, std::vector<std::string> argv);

// Runs a callable at scope exit (test cleanup that must happen on failure too).
class Defer {
 public:
  explicit Defer(std::function<void()> f) : f_(std::move(f)) {}
  Defer(const Defer&) = delete;
  Defer& operator=(const Defer&) = delete;
  ~Defer() {
    if (f_) f_();
  }

 private:
  std::function<void()> f_;
};

// A fresh temporary directory, removed recursively (after unmounting nothing:
// tests unmount their own pins) at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A name unique to this test process, for bridges, networks and sandboxes:
// prefix + pid + counter, at most 15 bytes when prefix is short.
std::string unique_name(const std::string& prefix);

}  // namespace sandnet::test
