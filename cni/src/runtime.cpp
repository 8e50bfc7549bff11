#include "sandnet/cni/runtime.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <exception>
#include <functional>
#include <thread>

#include "sandnet/cni/exec.hpp"
#include "sandnet/cni/result.hpp"
#include "sandnet/cni/version.hpp"
#include "sandnet/common/unique_fd.hpp"
#include "sandnet/common/validate.hpp"
#include "sandnet/netns/loopback.hpp"
#include "sandnet/netns/pin.hpp"

namespace asio = boost::asio;
namespace json = boost::json;

namespace sandnet::cni {
namespace {

std::string plugin_type(const json::object& plugin) {
  return std::string(plugin.at("type").as_string());
}

// Errors from a best-effort path (DEL, GC): every step runs, then one Error
// carries them all (the first one's code and CNI error object).
class ErrorCollector {
 public:
  void add(Error e) { errors_.push_back(std::move(e)); }
  bool empty() const noexcept { return errors_.empty(); }
  void throw_if_any(std::string_view context) const {
    if (errors_.empty()) return;
    if (errors_.size() == 1) throw Error(errors_.front()).add_context(context);
    std::string all;
    for (const auto& e : errors_) all += (all.empty() ? "" : "; ") + std::string(e.what());
    Error combined(errors_.front().code(), std::string(context) + ": " + all);
    if (errors_.front().cni()) combined.set_cni(*errors_.front().cni());
    throw combined;
  }

 private:
  std::vector<Error> errors_;
};

// Any non-sandnet exception that slips through (Boost.JSON, std) becomes
// Error(internal), so callers deal with one type only.
Error as_error(std::exception_ptr p, std::string_view context) {
  try {
    std::rethrow_exception(p);
  } catch (const Error& e) {
    return Error(e).add_context(context);
  } catch (const std::exception& e) {
    return Error(errc::internal, std::string(context) + ": " + e.what());
  }
}

void validate_runtime_conf(const NetworkConfigList& list, const RuntimeConf& rt) {
  validate::network_name(list.name);
  validate::container_id(rt.container_id);
  validate::interface_name(rt.ifname);
}

// Whether path (followed: a /proc/<pid>/ns/net or a symlink to a pin are
// what callers give) still refers to a network namespace. A pin file whose
// mount is gone does not, and plugins would fail on it.
bool refers_to_netns(const std::string& path) {
  if (path.empty()) return false;
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  struct statfs fs {};
  return ::fstatfs(fd.get(), &fs) == 0 && fs.f_type == NSFS_MAGIC &&
         ::ioctl(fd.get(), NS_GET_NSTYPE) == CLONE_NEWNET;
}

template <class T>
T run_sync(asio::awaitable<T> op) {
  asio::io_context ctx;
  std::exception_ptr failure;
  std::optional<T> value;
  asio::co_spawn(ctx, std::move(op), [&](std::exception_ptr e, T v) {
    failure = e;
    if (!e) value = std::move(v);
  });
  ctx.run();
  if (failure) std::rethrow_exception(failure);
  return std::move(*value);
}

void run_sync(asio::awaitable<void> op) {
  asio::io_context ctx;
  std::exception_ptr failure;
  asio::co_spawn(ctx, std::move(op), [&](std::exception_ptr e) { failure = e; });
  ctx.run();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

Runtime::Runtime(RuntimeOptions options) : options_(std::move(options)), cache_(options_.cache_dir) {}

struct Runtime::Call {
  const Runtime& runtime;
  std::string command;
  std::string container_id, netns, ifname, cni_args;

  asio::awaitable<std::string> run(const json::object& plugin, const json::object& stdin_conf,
                                   std::function<asio::awaitable<void>()> before_input = {}) const {
    PluginInvocation inv;
    inv.plugin = find_plugin(plugin_type(plugin), runtime.options_.plugin_dirs);
    inv.command = command;
    inv.container_id = container_id;
    inv.netns = netns;
    inv.ifname = ifname;
    inv.cni_args = cni_args;
    for (const auto& dir : runtime.options_.plugin_dirs)
      inv.cni_path += (inv.cni_path.empty() ? "" : ":") + dir.string();
    inv.stdin_data = json::serialize(stdin_conf);
    inv.timeout = runtime.options_.plugin_timeout;
    inv.before_input = std::move(before_input);
    co_return co_await exec_plugin(std::move(inv));
  }
};

asio::awaitable<json::object> Runtime::add(const NetworkConfigList& list, const RuntimeConf& rt,
                                           std::function<asio::awaitable<void>()> before_first_input) {
  const std::string ctx = "add " + rt.container_id + " to " + list.name;
  std::optional<json::object> prev;
  try {
    validate_runtime_conf(list, rt);
    Call call{*this, "ADD", rt.container_id, rt.netns, rt.ifname, build_cni_args(rt.args)};
    for (const auto& plugin : list.plugins) {
      const std::string type = plugin_type(plugin);
      json::value prev_value;
      if (prev) prev_value = *prev;
      const json::object conf = build_plugin_stdin(plugin, list.name, list.cni_version,
                                                   prev ? &prev_value : nullptr, rt.capability_args);
      std::string out;
      // Native loopback does not wait for the gate: `lo` up leaves nothing a
      // DEL would have to undo after a crash. The first exec'd plugin does.
      if (options_.native_loopback && type == "loopback") {
        out = co_await native_loopback(true, rt.netns, conf);
      } else {
        out = co_await call.run(plugin, conf, std::exchange(before_first_input, {}));
      }
      // A result that is not well-formed is the plugin's failure: it is
      // neither passed on nor cached.
      json::object result;
      try {
        result = parse_result(out, list.cni_version);
      } catch (const Error& e) {
        throw Error(errc::plugin_failed, type + ": invalid result: " + e.what());
      }
      // Plugins must answer in the config's version; convert one that did not
      // (when the conversion is possible) so that the chain sees one version.
      if (result_version(result) != list.cni_version) {
        try {
          result = convert_result(result, list.cni_version);
        } catch (const Error&) {
        }
      }
      prev = std::move(result);
    }
    if (before_first_input) {  // no plugin was exec'd
      auto wait = before_first_input();  // named: g++ 12 destroys co_await temporaries twice
      co_await std::move(wait);
    }
    CachedAttachment entry;
    entry.container_id = rt.container_id;
    entry.ifname = rt.ifname;
    entry.network_name = list.name;
    entry.netns = rt.netns;
    entry.config = list.bytes;
    entry.cni_args = rt.args;
    entry.capability_args = rt.capability_args;
    entry.result = prev;
    cache_.write(entry);
  } catch (...) {
    throw as_error(std::current_exception(), ctx);
  }
  co_return std::move(*prev);
}

asio::awaitable<void> Runtime::del(const NetworkConfigList& list, const RuntimeConf& rt) {
  const std::string ctx = "del " + rt.container_id + " from " + list.name;
  try {
    validate_runtime_conf(list, rt);
    std::optional<json::value> prev;
    // libcni hands DEL a prevResult from 0.4.0 on; a cache it cannot use is
    // treated as absent so that DEL still runs.
    if (version_at_least(list.cni_version, "0.4.0")) {
      try {
        if (auto cached = cache_.read(list.name, rt.container_id, rt.ifname); cached && cached->result)
          prev = convert_result(*cached->result, list.cni_version);
      } catch (const Error&) {
      }
    }
    // The caller's path as given while it still is a network namespace;
    // empty only once the namespace is gone (plugins then release IPs and
    // host-side state).
    const std::string netns = refers_to_netns(rt.netns) ? rt.netns : std::string();
    Call call{*this, "DEL", rt.container_id, netns, rt.ifname, build_cni_args(rt.args)};
    // SPEC "Deleting an attachment": reverse order, halt at the first error
    // (a missing plugin is one) and return it. The cache entry stays, so
    // that a retry or GC still has the attachment and its prevResult.
    for (auto it = list.plugins.rbegin(); it != list.plugins.rend(); ++it) {
      const std::string type = plugin_type(*it);
      const json::object conf = build_plugin_stdin(*it, list.name, list.cni_version,
                                                   prev ? &*prev : nullptr, rt.capability_args);
      try {
        if (options_.native_loopback && type == "loopback")
          co_await native_loopback(false, netns, conf);
        else
          co_await call.run(*it, conf);
      } catch (...) {
        throw as_error(std::current_exception(), type);
      }
    }
    cache_.remove(list.name, rt.container_id, rt.ifname);
  } catch (...) {
    throw as_error(std::current_exception(), ctx);
  }
}

asio::awaitable<void> Runtime::check(const NetworkConfigList& list, const RuntimeConf& rt) {
  const std::string ctx = "check " + rt.container_id + " in " + list.name;
  try {
    if (list.disable_check) co_return;
    validate_runtime_conf(list, rt);
    if (!version_at_least(list.cni_version, "0.4.0"))
      throw_error(errc::invalid_argument,
                  "configuration version " + list.cni_version + " does not support CHECK");
    std::optional<json::object> cached = cached_result(list, rt);
    if (!cached) throw_error(errc::not_found, "no cached result");
    const json::value prev = *cached;
    Call call{*this, "CHECK", rt.container_id, rt.netns, rt.ifname, build_cni_args(rt.args)};
    for (const auto& plugin : list.plugins) {
      const std::string type = plugin_type(plugin);
      const json::object conf =
          build_plugin_stdin(plugin, list.name, list.cni_version, &prev, rt.capability_args);
      // Native loopback has nothing to check beyond what ADD guarantees.
      if (options_.native_loopback && type == "loopback") continue;
      co_await call.run(plugin, conf);
    }
  } catch (...) {
    throw as_error(std::current_exception(), ctx);
  }
}

asio::awaitable<void> Runtime::gc(const NetworkConfigList& list, const std::vector<GcAttachment>& valid) {
  const std::string ctx = "gc " + list.name;
  if (list.disable_gc) co_return;
  ErrorCollector errors;
  std::vector<CachedAttachment> cached;
  try {
    cached = cache_.list(list.name);
  } catch (...) {
    errors.add(as_error(std::current_exception(), "list cached attachments"));
  }
  for (const auto& entry : cached) {
    const GcAttachment key{entry.container_id, entry.ifname};
    if (std::find(valid.begin(), valid.end(), key) != valid.end()) continue;
    RuntimeConf rt{entry.container_id, entry.netns, entry.ifname, entry.cni_args, entry.capability_args};
    try {
      co_await del(list, rt);
    } catch (...) {
      errors.add(as_error(std::current_exception(),
                          "stale attachment " + entry.container_id + " " + entry.ifname));
    }
  }
  if (version_at_least(list.cni_version, "1.1.0")) {
    json::array attachments;
    for (const auto& a : valid)
      attachments.push_back(json::object{{"containerID", a.container_id}, {"ifname", a.ifname}});
    Call call{*this, "GC", "", "", "", ""};
    for (const auto& plugin : list.plugins) {
      const std::string type = plugin_type(plugin);
      if (options_.native_loopback && type == "loopback") continue;  // holds no state
      try {
        json::object conf =
            build_plugin_stdin(plugin, list.name, list.cni_version, nullptr, {}, StdinFor::network);
        conf["cni.dev/valid-attachments"] = attachments;
        conf["cni.dev/attachments"] = attachments;
        co_await call.run(plugin, conf);
      } catch (...) {
        errors.add(as_error(std::current_exception(), type));
      }
    }
  }
  errors.throw_if_any(ctx);
}

asio::awaitable<void> Runtime::status(const NetworkConfigList& list) {
  const std::string ctx = "status " + list.name;
  try {
    if (!version_at_least(list.cni_version, "1.1.0")) co_return;
    Call call{*this, "STATUS", "", "", "", ""};
    for (const auto& plugin : list.plugins) {
      if (options_.native_loopback && plugin_type(plugin) == "loopback") continue;
      // Named first: g++ 12 destroys temporaries in a co_await expression twice.
      const json::object conf =
          build_plugin_stdin(plugin, list.name, list.cni_version, nullptr, {}, StdinFor::network);
      co_await call.run(plugin, conf);
    }
  } catch (...) {
    throw as_error(std::current_exception(), ctx);
  }
}

asio::awaitable<std::vector<std::string>> Runtime::plugin_versions(std::string type) {
  const std::string ctx = "version of plugin " + type;
  std::vector<std::string> versions;
  try {
    Call call{*this, "VERSION", "", "", "", ""};
    // Built outside the co_await expression: g++ 12 miscompiles braced
    // initializer lists inside it.
    json::object plugin;
    plugin["type"] = type;
    json::object conf;
    conf["cniVersion"] = kSupportedVersions.back();
    const std::string out = co_await call.run(plugin, conf);
    std::error_code ec;
    json::value v = json::parse(out, ec);
    const json::value* list = !ec && v.is_object() ? v.as_object().if_contains("supportedVersions") : nullptr;
    if (!list || !list->is_array())
      throw_error(errc::invalid_argument, "VERSION answer without \"supportedVersions\": " + out);
    for (const auto& s : list->as_array())
      if (s.is_string()) versions.emplace_back(s.as_string());
  } catch (...) {
    throw as_error(std::current_exception(), ctx);
  }
  co_return versions;
}

std::optional<json::object> Runtime::cached_result(const NetworkConfigList& list,
                                                   const RuntimeConf& rt) const {
  auto cached = cache_.read(list.name, rt.container_id, rt.ifname);
  if (!cached || !cached->result) return std::nullopt;
  return with_context("cached result of " + rt.container_id,
                      [&] { return convert_result(*cached->result, list.cni_version); });
}

json::object Runtime::add_sync(const NetworkConfigList& list, const RuntimeConf& rt) {
  return run_sync(add(list, rt));
}
void Runtime::del_sync(const NetworkConfigList& list, const RuntimeConf& rt) { run_sync(del(list, rt)); }
void Runtime::check_sync(const NetworkConfigList& list, const RuntimeConf& rt) {
  run_sync(check(list, rt));
}
void Runtime::gc_sync(const NetworkConfigList& list, const std::vector<GcAttachment>& valid) {
  run_sync(gc(list, valid));
}
void Runtime::status_sync(const NetworkConfigList& list) { run_sync(status(list)); }
std::vector<std::string> Runtime::plugin_versions_sync(std::string type) {
  return run_sync(plugin_versions(std::move(type)));
}

}  // namespace sandnet::cni

namespace sandnet::cni {
namespace {

// Runs blocking work (netlink in another namespace) on a short-lived thread
// and resumes the awaiting coroutine on its own executor: the event loop never
// blocks. Deliberately not a coroutine itself (g++ 12 destroys lambda
// parameters of coroutines twice).
asio::awaitable<std::string> run_blocking(std::function<std::string()> work) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, std::string)>(
      [](auto handler, std::function<std::string()> job) {
        auto keep_running = asio::make_work_guard(asio::get_associated_executor(handler));
        std::thread([handler = std::move(handler), keep_running = std::move(keep_running),
                     job = std::move(job)]() mutable {
          std::exception_ptr failure;
          std::string out;
          try {
            out = job();
          } catch (...) {
            failure = std::current_exception();
          }
          auto target = keep_running.get_executor();
          asio::post(target, [handler = std::move(handler), failure, out = std::move(out)]() mutable {
            std::move(handler)(failure, std::move(out));
          });
        }).detach();
      },
      asio::use_awaitable, std::move(work));
}

// The loopback plugin's ADD output (plugins 1.1.1): prevResult passed through
// when there is one, else lo with its first IPv4 and first IPv6 address.
std::string loopback_add(const std::string& netns_path, const json::object& conf) {
  if (netns_path.empty()) throw_error(errc::invalid_argument, "loopback: no network namespace given");
  unique_fd fd(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("loopback: open netns " + netns_path);
  const std::string version = std::string(conf.at("cniVersion").as_string());
  if (const json::value* prev = conf.if_contains("prevResult"); prev && prev->is_object()) {
    netns::bring_up_loopback(fd.get());
    json::object passed = convert_result(prev->as_object(), version);
    if (!passed.contains("dns")) passed["dns"] = json::object{};
    return json::serialize(passed);
  }
  const netns::LoopbackAddresses lo = netns::bring_up_loopback_and_list(fd.get());
  json::array ips;
  for (const std::string* address : {&lo.ipv4, &lo.ipv6})
    if (!address->empty()) ips.push_back(json::object{{"interface", 0}, {"address", *address}});
  json::object result;
  result["cniVersion"] = version;
  result["interfaces"] = json::array{
      json::object{{"name", "lo"}, {"mac", "00:00:00:00:00:00"}, {"sandbox", netns_path}}};
  if (!ips.empty()) result["ips"] = std::move(ips);
  result["dns"] = json::object{};
  return json::serialize(result);
}

// DEL: lo down; a namespace that is gone (or none given) is fine.
std::string loopback_del(const std::string& netns_path) {
  if (netns_path.empty()) return {};
  unique_fd fd(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return {};
    throw_errno("loopback: open netns " + netns_path);
  }
  netns::bring_down_loopback(fd.get());
  return {};
}

}  // namespace

asio::awaitable<std::string> Runtime::native_loopback(bool add, std::string netns,
                                                      json::object conf) const {
  // The operation is built outside the co_await expression: g++ 12 destroys
  // non-trivial temporaries there twice.
  std::function<std::string()> job;
  if (add)
    job = [netns, conf] { return loopback_add(netns, conf); };
  else
    job = [netns] { return loopback_del(netns); };
  asio::awaitable<std::string> op = run_blocking(std::move(job));
  co_return co_await std::move(op);
}

}  // namespace sandnet::cni
