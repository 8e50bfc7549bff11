// The CNI runtime: ADD/CHECK/DEL/GC/STATUS/VERSION of a network list against a
// network namespace path, with libcni's semantics and result cache.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sandnet/cni/cache.hpp"
#include "sandnet/cni/config.hpp"

namespace sandnet::cni {

struct RuntimeOptions {
  std::vector<std::filesystem::path> plugin_dirs{"/opt/cni/bin", "/usr/lib/cni"};
  std::filesystem::path cache_dir{"/var/lib/cni"};
  std::chrono::milliseconds plugin_timeout{60000};
  // Do what the `loopback` plugin does over netlink instead of exec'ing it.
  bool native_loopback = false;
};

struct RuntimeConf {
  std::string container_id;
  std::string netns;   // path of the (pinned) network namespace
  std::string ifname;
  std::vector<std::pair<std::string, std::string>> args;  // CNI_ARGS
  boost::json::object capability_args;                    // e.g. "portMappings"
};

// An attachment the caller still uses (GC keeps it).
struct GcAttachment {
  std::string container_id;
  std::string ifname;
  friend bool operator==(const GcAttachment&, const GcAttachment&) = default;
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = {});

  const RuntimeOptions& options() const noexcept { return options_; }

  // Runs the plugins in order, chaining prevResult, then caches the final
  // result. Returns it (in the list's version). Does not roll back on
  // failure: the caller runs del() (every ADD gets a DEL). before_first_input
  // (when set) is awaited before the first exec'd plugin acts: after it is
  // spawned, before its stdin is written (see PluginInvocation::before_input);
  // native loopback, which leaves nothing to undo, does not wait for it. It
  // has completed when add() returns.
  boost::asio::awaitable<boost::json::object> add(
      const NetworkConfigList& list, const RuntimeConf& rt,
      std::function<boost::asio::awaitable<void>()> before_first_input = {});
  // Runs the plugins in reverse order with the cached result as prevResult
  // and halts at the first error (SPEC "Deleting an attachment"; a missing
  // plugin is one), which it throws; the cache entry goes only when every
  // plugin succeeded, so a retry or GC can finish. A missing/corrupt cache is
  // fine; CNI_NETNS is rt.netns while that path (followed) is a network
  // namespace, empty once it is gone.
  boost::asio::awaitable<void> del(const NetworkConfigList& list, const RuntimeConf& rt);
  // CHECK (0.4.0+) with the cached result; a no-op when disableCheck is set.
  // Throws Error(invalid_argument) below 0.4.0, Error(not_found) with no
  // cached result.
  boost::asio::awaitable<void> check(const NetworkConfigList& list, const RuntimeConf& rt);
  // DELs the cached attachments of this network that are not in valid, then
  // (1.1.0+) sends GC to every plugin with cni.dev/valid-attachments (and
  // cni.dev/attachments). A no-op when disableGC is set. Errors collected.
  boost::asio::awaitable<void> gc(const NetworkConfigList& list,
                                  const std::vector<GcAttachment>& valid);
  // STATUS (1.1.0+; a no-op for older lists), stopping at the first failure.
  boost::asio::awaitable<void> status(const NetworkConfigList& list);
  // VERSION: the plugin's supportedVersions.
  boost::asio::awaitable<std::vector<std::string>> plugin_versions(std::string type);

  // The cached result of an attachment, converted to the list's version.
  std::optional<boost::json::object> cached_result(const NetworkConfigList& list,
                                                   const RuntimeConf& rt) const;

  // Blocking forms for the CLI and tests (each runs a private io_context).
  boost::json::object add_sync(const NetworkConfigList& list, const RuntimeConf& rt);
  void del_sync(const NetworkConfigList& list, const RuntimeConf& rt);
  void check_sync(const NetworkConfigList& list, const RuntimeConf& rt);
  void gc_sync(const NetworkConfigList& list, const std::vector<GcAttachment>& valid);
  void status_sync(const NetworkConfigList& list);
  std::vector<std::string> plugin_versions_sync(std::string type);

 private:
  struct Call;
  // What the loopback plugin does, over netlink on a short-lived thread;
  // returns the plugin's stdout for ADD.
  boost::asio::awaitable<std::string> native_loopback(bool add, std::string netns,
                                                      boost::json::object conf) const;

  RuntimeOptions options_;
  ResultCache cache_;
};

}  // namespace sandnet::cni
