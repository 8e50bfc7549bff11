#include "support/oci.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <thread>

#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"

namespace sandnet::test {
namespace {

namespace json = boost::json;
namespace stdfs = std::filesystem;

constexpr const char* kBusybox = "/bin/busybox";

// Capabilities of root in the pod (over its own user namespace only): enough
// to mount sysfs, configure its interfaces and bind port 80.
const std::vector<std::string>& pod_capabilities() {
  static const std::vector<std::string> caps{
      "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FOWNER",       "CAP_FSETID",           "CAP_KILL",
      "CAP_SETGID", "CAP_SETUID",       "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
      "CAP_SYS_CHROOT", "CAP_SYS_ADMIN", "CAP_NET_ADMIN",   "CAP_AUDIT_WRITE"};
  return caps;
}

json::object mount_entry(const char* destination, const char* type, std::vector<std::string> options) {
  json::array opts;
  for (auto& o : options) opts.emplace_back(o);
  return json::object{{"destination", destination}, {"type", type}, {"source", type}, {"options", std::move(opts)}};
}

json::object make_config(const BundleOptions& o) {
  json::array args;
  for (const auto& a : o.args) args.emplace_back(a);
  json::array caps;
  for (const auto& c : pod_capabilities()) caps.emplace_back(c);
  json::array namespaces;
  for (const char* type : {"user", "network", "mount", "pid", "ipc", "uts"}) {
    json::object ns{{"type", type}};
    if (auto it = o.namespace_paths.find(type); it != o.namespace_paths.end()) ns["path"] = it->second;
    namespaces.emplace_back(std::move(ns));
  }
  json::array mapping{json::object{{"containerID", 0}, {"hostID", o.host_id}, {"size", o.size}}};

  json::array mounts{
      mount_entry("/proc", "proc", {}),
      mount_entry("/dev", "tmpfs", {"nosuid", "mode=755", "size=1024k"}),
      mount_entry("/tmp", "tmpfs", {"nosuid", "nodev"}),
      // A fully visible sysfs in the pod's mount namespace is what lets the
      // pod mount another one (see oci.hpp); it is also what a CRI gives pods.
      mount_entry("/sys", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
  };
  json::object annotations;
  for (const auto& [k, v] : o.annotations) annotations[k] = v;
  json::object config{
      {"ociVersion", "1.0.2"},
      {"process",
       json::object{{"terminal", false},
                    {"user", json::object{{"uid", 0}, {"gid", 0}}},
                    {"args", std::move(args)},
                    {"env", json::array{"PATH=/bin", "HOME=/"}},
                    {"cwd", "/"},
                    {"capabilities",
                     json::object{{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
                    {"noNewPrivileges", true}}},
      {"root", json::object{{"path", "rootfs"}, {"readonly", false}}},
      {"hostname", o.hostname},
      {"mounts", std::move(mounts)},
      {"linux", json::object{{"uidMappings", mapping},
                             {"gidMappings", mapping},
                             {"namespaces", std::move(namespaces)}}},
  };
  if (!o.hooks.empty()) config["hooks"] = o.hooks;
  if (!annotations.empty()) config["annotations"] = std::move(annotations);
  return config;
}

void chown_tree(const stdfs::path& root, uid_t uid, gid_t gid) {
  auto chown_one = [&](const stdfs::path& p) {
    if (::lchown(p.c_str(), uid, gid) != 0) throw_errno("chown " + p.string());
  };
  chown_one(root);
  for (const auto& entry : stdfs::recursive_directory_iterator(root)) chown_one(entry.path());
}

std::string make_work_dir() {
  std::string tmpl = (stdfs::temp_directory_path() / "sne2e-pod-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw_errno("mkdtemp " + tmpl);
  // The runtime's init runs as the pod's mapped root while it prepares the
  // rootfs; it must be able to traverse down to it.
  if (::chmod(tmpl.c_str(), 0711) != 0) throw_errno("chmod " + tmpl);
  return tmpl;
}

}  // namespace

const char* to_string(OciRuntime runtime) { return runtime == OciRuntime::runc ? "runc" : "crun"; }

bool oci_runtime_available(OciRuntime runtime) {
  for (const char* dir : {"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/", "/usr/local/bin/", "/usr/local/sbin/"}) {
    if (::access((std::string(dir) + to_string(runtime)).c_str(), X_OK) == 0) return true;
  }
  return false;
}

const std::vector<std::string>& busybox_applets() {
  static const std::vector<std::string> applets{"sh",    "sleep", "ip",    "ifconfig", "wget", "httpd",
                                                "mount", "umount", "cat",  "ls",       "echo", "ping",
                                                "mkdir", "grep",  "true",  "false",    "id",   "hostname"};
  return applets;
}

void write_busybox_bundle(const stdfs::path& dir, const BundleOptions& options) {
  with_context("write bundle " + dir.string(), [&] {
    if (options.args.empty()) throw_error(errc::invalid_argument, "process args are empty");
    if (options.size == 0) throw_error(errc::invalid_argument, "id mapping size is 0");
    const stdfs::path rootfs = dir / "rootfs";
    for (const char* sub : {"bin", "proc", "sys", "dev", "tmp", "etc", "www", "mnt"})
      fs::ensure_directory(rootfs / sub, 0755);
    std::error_code ec;
    stdfs::copy_file(kBusybox, rootfs / "bin" / "busybox", stdfs::copy_options::overwrite_existing, ec);
    if (ec) throw Error(ec, std::string("copy ") + kBusybox + " (is busybox-static installed?)");
    for (const auto& applet : busybox_applets()) {
      stdfs::create_symlink("busybox", rootfs / "bin" / applet, ec);
      if (ec) throw Error(ec, "symlink /bin/" + applet);
    }
    fs::write_file_atomic(rootfs / "etc" / "passwd", "root:x:0:0:root:/:/bin/sh\n", 0644);
    fs::write_file_atomic(rootfs / "etc" / "group", "root:x:0:\n", 0644);
    for (const auto& [path, content] : options.files) {
      stdfs::path rel(path);
      if (rel.is_absolute() || path.find("..") != std::string::npos)
        throw_error(errc::invalid_argument, "bundle file path must be relative without '..': " + path);
      fs::ensure_directory((rootfs / rel).parent_path(), 0755);
      fs::write_file_atomic(rootfs / rel, content, 0644);
    }
    chown_tree(rootfs, options.host_id, options.host_id);
    fs::write_file_atomic(dir / "config.json", json::serialize(make_config(options)), 0644);
  });
}

OciPod::OciPod(const PodOptions& options)
    : runtime_(options.runtime), as_uid_(options.as_uid), id_(options.id.empty() ? unique_name("sne2e") : options.id) {
  const std::string ctx = std::string(to_string(runtime_)) + " pod " + id_;
  work_dir_ = make_work_dir();
  bundle_dir_ = work_dir_ / "bundle";
  state_dir_ = work_dir_ / "state";
  try {
    fs::ensure_directory(bundle_dir_, 0755);
    fs::ensure_directory(state_dir_, 0700);
    if (as_uid_ != 0) {
      if (runtime_ != OciRuntime::runc) throw_error(errc::invalid_argument, ctx + ": rootless pods are runc only");
      if (::chown(state_dir_.c_str(), as_uid_, as_uid_) != 0) throw_errno("chown " + state_dir_.string());
    }
    write_busybox_bundle(bundle_dir_, options.bundle);

    // run -d hands the runtime's stdio to the pod's process, which outlives
    // the command: give it a log file, not our pipes, or we would wait on it.
    const stdfs::path log = work_dir_ / "run.log";
    std::vector<std::string> argv{"sh", "-c", "log=$1; shift; exec \"$@\" </dev/null >>\"$log\" 2>&1", "sh",
                                  log.string()};
    for (auto& a : runtime_argv({"run", "-d", "--bundle", bundle_dir_.string(), id_})) argv.push_back(a);
    started_ = true;  // from here on, destroy() must try to delete it
    CommandResult r = run(argv);
    if (!r.ok()) {
      const std::string out = run_log();
      throw_error(errc::internal, ctx + ": run failed (exit " + std::to_string(r.exit_code) + "): " + out);
    }
    CommandResult state = run(runtime_argv({"state", id_}));
    if (!state.ok()) throw_error(errc::internal, ctx + ": state: " + state.err);
    try {
      pid_ = static_cast<pid_t>(json::parse(state.out).at("pid").to_number<std::int64_t>());
    } catch (const std::exception& e) {
      throw_error(errc::internal, ctx + ": state output has no pid: " + state.out);
    }
    if (pid_ <= 0) throw_error(errc::internal, ctx + ": state reports pid " + std::to_string(pid_));
  } catch (...) {
    destroy();
    throw;
  }
}

OciPod::~OciPod() { destroy(); }

std::vector<std::string> OciPod::runtime_argv(const std::vector<std::string>& args) const {
  std::vector<std::string> argv;
  if (runtime_ == OciRuntime::crun) {
    argv = {"unshare", "--mount", "--propagation", "private", "sh", "-c",
            "umount -l /sys/fs/cgroup/unified 2>/dev/null; exec \"$@\"", "sh", "crun"};
  } else {
    argv = as_user(as_uid_, {"runc"});
  }
  argv.push_back("--root");
  argv.push_back(state_dir_.string());
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string OciPod::run_log() const {
  try {
    return fs::read_file(work_dir_ / "run.log");
  } catch (const Error&) {
    return {};
  }
}

unique_fd OciPod::open_pidfd() const {
  unique_fd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  if (!fd) throw_errno("pidfd_open " + std::to_string(pid_) + " (pod " + id_ + ")");
  return fd;
}

CommandResult OciPod::exec(const std::vector<std::string>& argv, std::chrono::seconds timeout) const {
  std::vector<std::string> args{"exec", id_};
  args.insert(args.end(), argv.begin(), argv.end());
  return run(runtime_argv(args), {}, timeout);
}

std::string OciPod::status() const {
  CommandResult r = run(runtime_argv({"state", id_}));
  if (!r.ok()) return "unknown";
  try {
    return std::string(json::parse(r.out).at("status").as_string());
  } catch (const std::exception&) {
    return "unknown";
  }
}

std::vector<std::string> OciPod::destroy() {
  std::vector<std::string> errors;
  if (started_) {
    // A pod the runtime does not know (run failed early) has nothing to delete.
    if (!run(runtime_argv({"state", id_})).ok()) started_ = false;
  }
  if (started_) {
    started_ = false;
    // kill may fail when the process is already gone; delete -f is what counts.
    run(runtime_argv({"kill", id_, "KILL"}));
    CommandResult del;
    for (int attempt = 0; attempt < 20; ++attempt) {
      del = run(runtime_argv({"delete", "-f", id_}));
      if (del.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!del.ok()) errors.push_back(std::string(to_string(runtime_)) + " delete " + id_ + ": " + del.err);
    pid_ = -1;
  }
  if (!work_dir_.empty()) {
    std::error_code ec;
    stdfs::remove_all(work_dir_, ec);
    if (ec) errors.push_back("remove " + work_dir_.string() + ": " + ec.message());
    work_dir_.clear();
  }
  return errors;
}

}  // namespace sandnet::test
