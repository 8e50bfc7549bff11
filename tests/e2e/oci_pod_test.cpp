// The pods the end-to-end tests build on, checked on their own: runc and crun
// start a busybox pod with new user + network namespaces, its netns is owned
// by its own user namespace, and (because of that) it may mount sysfs.
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <gtest/gtest.h>

#include "sandnet/common/error.hpp"
#include "sandnet/common/unique_fd.hpp"
#include "support/oci.hpp"
#include "support/sandbox.hpp"

namespace sandnet::test {
namespace {

struct NsIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const NsIdentity&) const = default;
};

NsIdentity identity_of(int fd) {
  struct stat st {};
  EXPECT_EQ(::fstat(fd, &st), 0);
  return {st.st_dev, st.st_ino};
}

unique_fd open_ns(pid_t pid, const char* type) {
  std::string path = "/proc/" + std::to_string(pid) + "/ns/" + type;
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(fd) << path;
  return fd;
}

class OciPodTest : public ::testing::TestWithParam<OciRuntime> {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root";
    if (!oci_runtime_available(GetParam())) GTEST_SKIP() << to_string(GetParam()) << " not installed";
  }
};

TEST_P(OciPodTest, PodHasItsOwnUserOwnedNetnsAndMapping) {
  PodOptions options;
  options.runtime = GetParam();
  options.bundle.host_id = 300000;
  OciPod pod(options);
  ASSERT_GT(pod.pid(), 0);
  EXPECT_EQ(pod.status(), "running");

  // The mapping is the bundle's.
  CommandResult map = run({"cat", "/proc/" + std::to_string(pod.pid()) + "/uid_map"});
  ASSERT_TRUE(map.ok()) << map.err;
  EXPECT_NE(map.out.find("300000"), std::string::npos) << map.out;

  // NS_GET_USERNS of the pod's netns is the pod's user namespace, not ours.
  unique_fd netns = open_ns(pod.pid(), "net");
  unique_fd owner(::ioctl(netns.get(), NS_GET_USERNS));
  ASSERT_TRUE(owner) << "NS_GET_USERNS: " << std::strerror(errno);
  unique_fd pod_userns = open_ns(pod.pid(), "user");
  unique_fd our_userns = open_ns(::getpid(), "user");
  EXPECT_EQ(identity_of(owner.get()), identity_of(pod_userns.get()));
  EXPECT_FALSE(identity_of(owner.get()) == identity_of(our_userns.get()));
  // Its owner is whoever ran the runtime: root here.
  uid_t owner_uid = 12345;
  ASSERT_EQ(::ioctl(owner.get(), NS_GET_OWNER_UID, &owner_uid), 0);
  EXPECT_EQ(owner_uid, 0u);

  // The runtime brought lo up; nothing else is there before CNI runs.
  CommandResult links = pod.exec({"ls", "/sys/class/net"});
  ASSERT_TRUE(links.ok()) << links.err;
  EXPECT_EQ(links.out, "lo\n");
}

TEST_P(OciPodTest, PodMountsSysfs) {
  PodOptions options;
  options.runtime = GetParam();
  OciPod pod(options);
  CommandResult r = pod.exec({"sh", "-c", "mkdir -p /tmp/sys && mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /tmp/sys && ls /tmp/sys/class/net"});
  EXPECT_TRUE(r.ok()) << r.out << r.err;
  EXPECT_EQ(r.out, "lo\n");
}

TEST_P(OciPodTest, DestroyRemovesEverything) {
  PodOptions options;
  options.runtime = GetParam();
  std::filesystem::path bundle;
  unique_fd pidfd;
  {
    OciPod pod(options);
    bundle = pod.bundle_dir();
    pidfd = pod.open_pidfd();
    EXPECT_TRUE(pod.destroy().empty());
    EXPECT_TRUE(pod.destroy().empty()) << "destroy twice";
  }
  EXPECT_FALSE(std::filesystem::exists(bundle));
  // A pidfd polls readable once its process has exited.
  pollfd p{pidfd.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 5000), 1) << "pod process still alive";
}

TEST(OciBundle, RefusesBadInput) {
  TempDir dir;
  BundleOptions empty_args;
  empty_args.args.clear();
  EXPECT_THROW(write_busybox_bundle(dir.path(), empty_args), Error);
  BundleOptions escaping;
  escaping.files = {{"../outside", "x"}};
  EXPECT_THROW(write_busybox_bundle(dir.path(), escaping), Error);
}

INSTANTIATE_TEST_SUITE_P(Runtimes, OciPodTest, ::testing::Values(OciRuntime::runc, OciRuntime::crun),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace sandnet::test
