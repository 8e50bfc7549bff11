// The installed artefacts: `cmake --install` into a temp prefix, then a C
// program built with pkg-config flags and one built with find_package(sandnet).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/process.hpp"

namespace sandnet::test {
namespace {
namespace fs = std::filesystem;

constexpr const char* kProgram = R"(#include <errno.h>
#include <stdio.h>
#include <sandnet/sandnet.h>

int main(int argc, char** argv) {
  sandnet_client* client = NULL;
  sandnet_error* err = NULL;
  if (argc != 2 || sandnet_client_new(argv[1], &client, &err) != SANDNET_OK) return 10;
  char* result = NULL;
  int rc = sandnet_status_json(client, &result, &err);
  int ok = rc == SANDNET_E_SYSTEM && sandnet_error_errno(err) == ENOENT && result == NULL;
  printf("%s %d %s\n", sandnet_version(), rc, sandnet_error_message(err));
  sandnet_error_free(err);
  sandnet_client_free(client);
  return ok ? 0 : 1;
}
)";

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
    std::ofstream(fs::path(work_.path()) / "prog.c") << kProgram;
  }
  // Sanitized builds need the runtime in the consumer too.
  std::string sanitize_flags() const { return SANDNET_CLIENT_SANITIZE ? " -fsanitize=address,undefined" : ""; }

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
  auto out = run({work_.path() + "/prog", work_.path() + "/no-daemon.sock"});
  EXPECT_EQ(out.exit_code, 0) << out.out << out.err;
  EXPECT_NE(out.out.find("connect " + work_.path() + "/no-daemon.sock"), std::string::npos) << out.out;
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
  auto out = run({work_.path() + "/build/prog", work_.path() + "/none.sock"});
  EXPECT_EQ(out.exit_code, 0) << out.out << out.err;
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
