// The installed artefacts: `cmake --install` into a temp prefix, then the C
// example (client/examples/sandnet-status.c) built with pkg-config flags and
// with find_package(sandnet), run against a socket nobody listens on.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/process.hpp"

namespace sandnet::test {
namespace {
namespace fs = std::filesystem;

std::string quote(const std::string& s) { return "'" + s + "'"; }

class Installed : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = run({CMAKE_COMMAND_PATH, "--install", SANDNET_CLIENT_BUILD_DIR, "--prefix", prefix_.path(),
                  "--component", "client"},
                 {}, std::chrono::seconds(120));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    for (const auto& e : fs::recursive_directory_iterator(prefix_.path()))
      if (e.path().filename() == "sandnet.pc") pc_dir_ = e.path().parent_path();
    ASSERT_FALSE(pc_dir_.empty()) << "no sandnet.pc installed";
    fs::copy_file(SANDNET_CLIENT_EXAMPLES_DIR "/sandnet-status.c", fs::path(work_.path()) / "prog.c");
  }
  // Sanitized builds need the runtime in the consumer too.
  std::string sanitize_flags() const { return SANDNET_CLIENT_SANITIZE ? " -fsanitize=address,undefined" : ""; }

  // The example's report for a socket nobody listens on: the version, then
  // the connect error with its errno on stderr, exit 1.
  void expect_no_daemon(const std::string& program) const {
    const std::string socket = work_.path() + "/no-daemon.sock";
    auto out = run({program, socket});
    EXPECT_EQ(out.exit_code, 1) << out.out << out.err;
    EXPECT_EQ(out.out, "libsandnet " SANDNET_VERSION_FOR_TESTS "\n");
    EXPECT_NE(out.err.find("connect " + socket), std::string::npos) << out.err;
    EXPECT_NE(out.err.find("(code -32009, errno 2)"), std::string::npos) << out.err;
  }

  TempDir prefix_, work_;
  fs::path pc_dir_;
};

TEST_F(Installed, PkgConfigBuildsAndRunsACProgram) {
  auto flags = sh("PKG_CONFIG_PATH=" + quote(pc_dir_.string()) + " pkg-config --cflags --libs sandnet");
  ASSERT_EQ(flags.exit_code, 0) << flags.err;
  EXPECT_NE(flags.out.find("-I" + prefix_.path() + "/"), std::string::npos) << flags.out;
  EXPECT_NE(flags.out.find("-lsandnet"), std::string::npos) << flags.out;
  std::string flag_text = flags.out.substr(0, flags.out.find('\n'));
  std::string libdir = pc_dir_.parent_path().string();
  auto cc = sh("cd " + quote(work_.path()) + " && cc -std=c11 -Wall -Werror prog.c -o prog " + flag_text +
               " -Wl,-rpath," + libdir + sanitize_flags());
  ASSERT_EQ(cc.exit_code, 0) << cc.out << cc.err;
  expect_no_daemon(work_.path() + "/prog");
}

TEST_F(Installed, CMakePackageGivesTheTarget) {
  std::ofstream(fs::path(work_.path()) / "CMakeLists.txt")
      << "cmake_minimum_required(VERSION 3.20)\nproject(consumer C CXX)\n"
         "find_package(sandnet 0.1 REQUIRED)\n"
         "add_executable(prog prog.c)\ntarget_link_libraries(prog PRIVATE sandnet::sandnet)\n";
  std::string flags = sanitize_flags();
  auto configure = run({CMAKE_COMMAND_PATH, "-S", work_.path(), "-B", work_.path() + "/build",
                        "-DCMAKE_PREFIX_PATH=" + prefix_.path(), "-DCMAKE_C_FLAGS=" + flags,
                        "-DCMAKE_EXE_LINKER_FLAGS=" + flags},
                       {}, std::chrono::seconds(300));
  ASSERT_EQ(configure.exit_code, 0) << configure.out << configure.err;
  auto build = run({CMAKE_COMMAND_PATH, "--build", work_.path() + "/build"}, {}, std::chrono::seconds(300));
  ASSERT_EQ(build.exit_code, 0) << build.out << build.err;
  expect_no_daemon(work_.path() + "/build/prog");
}

}  // namespace
}  // namespace sandnet::test

namespace sandnet::test {
namespace {

// The hook and its hooks.d files, which name the hook where it was installed.
TEST(InstalledHook, HooksDFilesNameTheInstalledHook) {
  TempDir prefix;
  auto r = run({CMAKE_COMMAND_PATH, "--install", SANDNET_CLIENT_BUILD_DIR, "--prefix", prefix.path(), "--component",
                "client"},
               {}, std::chrono::seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string hook = prefix.path() + "/bin/sandnet-oci-hook";
  for (const char* name : {"sandnet-setup.json", "sandnet-teardown.json"}) {
    const std::filesystem::path file = prefix.path() + "/share/containers/oci/hooks.d/" + name;
    ASSERT_TRUE(std::filesystem::exists(file)) << file;
    auto text = sh("cat '" + file.string() + "'");
    EXPECT_NE(text.out.find("\"path\": \"" + hook + "\""), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("io\\\\.sandnet\\\\.networks"), std::string::npos) << text.out;
  }
  EXPECT_TRUE(std::filesystem::exists(prefix.path() + "/share/doc/sandnet/examples/lxc/sandnet.conf"));
  EXPECT_TRUE(std::filesystem::exists(prefix.path() + "/share/doc/sandnet/examples/lxc/default.conf"));
  auto version = run({hook, "--version"}, {}, std::chrono::seconds(10),
                     {"LD_LIBRARY_PATH=" + prefix.path() + "/lib"});
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_EQ(version.out.rfind("sandnet-oci-hook ", 0), 0u) << version.out;
}

// A staged install (DESTDIR, as packaging does it): the hooks.d files land
// under DESTDIR once, and name the hook where it will be, without DESTDIR.
TEST(InstalledHook, HooksDFilesUnderDestdir) {
  TempDir stage;
  auto r = run({CMAKE_COMMAND_PATH, "--install", SANDNET_CLIENT_BUILD_DIR, "--prefix", "/usr", "--component", "client"},
               {}, std::chrono::seconds(120), {"DESTDIR=" + stage.path()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::filesystem::path file = stage.path() + "/usr/share/containers/oci/hooks.d/sandnet-setup.json";
  ASSERT_TRUE(std::filesystem::exists(file)) << r.out;
  auto text = sh("cat '" + file.string() + "'");
  EXPECT_NE(text.out.find("\"path\": \"/usr/bin/sandnet-oci-hook\""), std::string::npos) << text.out;
}

}  // namespace
}  // namespace sandnet::test
