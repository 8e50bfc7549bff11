// The sandbox service: what each protocol method does. It runs on the daemon's
// io_context thread (all of its own state is touched only there); blocking
// namespace and file work goes to a small thread pool, in as few hops as it
// can (waking an idle thread costs more than most steps), plugin chains run
// as asio child processes through cni::Runtime. It never touches a client
// socket.
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sandnet/cni/runtime.hpp"
#include "sandnet/common/protocol.hpp"
#include "sandnet/common/unique_fd.hpp"
#include "sandnet/daemon/async_sync.hpp"
#include "sandnet/daemon/config.hpp"
#include "sandnet/daemon/pin_marks.hpp"
#include "sandnet/daemon/sandbox_claims.hpp"
#include "sandnet/daemon/policy.hpp"
#include "sandnet/daemon/state.hpp"

namespace sandnet::daemon {

// Pins are named "sandnet-<id>" so that reconciliation can tell ours from
// other pins in a shared directory such as /run/netns (iproute2's).
inline constexpr std::string_view kPinPrefix = "sandnet-";
std::string pin_name_for(std::string_view sandbox_id);

// The network lists to DEL (or CHECK) a record's attachments with, one per
// attachment in order; an attachment without one has its reason in why_not.
struct DelPlan {
  std::vector<std::optional<cni::NetworkConfigList>> lists;
  std::vector<std::string> why_not;
  std::string netns_path;  // CNI_NETNS: the pin if it holds the recorded netns, else empty
};

class SandboxService {
 public:
  // Paths (stateDir, netnsDir) are fixed for the life of the service; a
  // reload() may change everything else.
  SandboxService(boost::asio::io_context& io, Config config);
  ~SandboxService();
  SandboxService(const SandboxService&) = delete;
  SandboxService& operator=(const SandboxService&) = delete;

  // Start-up reconciliation of records, pins and the CNI cache. Run before
  // serving. Returns one line per problem it could not fix.
  boost::asio::awaitable<std::vector<std::string>> recover();

  boost::asio::awaitable<protocol::SandboxInfo> setup(const Caller& caller, protocol::SetupParams params,
                                                      std::vector<unique_fd> fds);
  // force (root only): forget the sandbox even if its DEL fails.
  boost::asio::awaitable<protocol::TeardownResult> teardown(const Caller& caller, std::string id,
                                                            bool force = false);
  boost::asio::awaitable<boost::json::object> check(const Caller& caller, std::string id);
  boost::asio::awaitable<protocol::SandboxInfo> get(const Caller& caller, std::string id);
  boost::asio::awaitable<std::vector<protocol::SandboxInfo>> list(const Caller& caller);
  boost::asio::awaitable<boost::json::object> inspect(const Caller& caller, std::string id);
  // sandbox.explain of a setup: each check the setup would make (request,
  // networks, netns, its owner and maps, the policy rule, the verdict, an
  // attachment it already has, interfaces in the way), run without changing
  // anything: nothing is pinned, claimed, created or brought up, no plugin
  // runs. id_given: whether the caller named an id (else none is checked).
  boost::asio::awaitable<boost::json::object> explain_setup(const Caller& caller, protocol::SetupParams params,
                                                            std::vector<unique_fd> fds, bool id_given);
  // sandbox.explain of an existing sandbox: record, pins, process, CNI cache
  // entries, anti-spoofing rules, retries, and what to do about any problem.
  boost::asio::awaitable<boost::json::object> explain_sandbox(const Caller& caller, std::string id);
  boost::asio::awaitable<std::vector<protocol::NetworkInfo>> networks(const Caller& caller);
  boost::asio::awaitable<protocol::RuntimeInfo> runtime_info(const Caller& caller);
  boost::asio::awaitable<boost::json::object> gc(const Caller& caller);
  boost::asio::awaitable<boost::json::object> status(const Caller& caller);

  // Applies a new configuration (SIGHUP). Paths that cannot change while
  // running keep their old value; a warning names them.
  void reload(Config config);
  const Config& config() const noexcept { return *config_; }

  // Stops the pidfd watches so the io_context can run out of work; sandboxes'
  // networks stay in place. In-flight operations still complete.
  void shutdown();

  std::size_t in_flight() const noexcept { return in_flight_; }

 private:
  // plan: the lists to DEL with, when the caller already loaded them.
  boost::asio::awaitable<protocol::TeardownResult> teardown_locked(SandboxRecord record, std::string why,
                                                                   std::optional<DelPlan> plan = std::nullopt,
                                                                   bool force = false);
  // force: unpin and remove the record even when a DEL failed.
  boost::asio::awaitable<std::vector<std::string>> remove_attachments(const SandboxRecord& record,
                                                                      std::optional<DelPlan> plan,
                                                                      bool force = false);
  // What a watch was started for: the watcher tears down only that sandbox,
  // not one set up again under the same id meanwhile.
  struct WatchedSandbox {
    std::string id;
    std::int64_t created_unix = 0;
    std::uint64_t netns_inode = 0;
  };
  boost::asio::awaitable<void> watch_process(WatchedSandbox sandbox,
                                             std::shared_ptr<boost::asio::posix::stream_descriptor> pidfd);
  void start_watch(const SandboxRecord& record, unique_fd pidfd);
  void stop_watch(const std::string& id);
  boost::asio::awaitable<std::optional<SandboxRecord>> load_record(std::string_view id);
  // The record written before the first plugin runs is created durably: it is
  // what guarantees a DEL after a machine crash. Later states are appended
  // here, on the event loop: a page-cache write (~20 us) is cheaper than a
  // hop to the pool and back.
  void update_record(SandboxRecord& record);
  std::size_t owned_by(uid_t uid) const;
  // A sandbox known only from its pin or its CNI cache entries (its record
  // unreadable, or never written): DELs what the cache holds, against the pin
  // while it is live, then unpins. Returns what failed.
  boost::asio::awaitable<std::vector<std::string>> salvage(std::string id, std::string why);
  // User namespace pins (usernsDir) of no known sandbox: unpinned. Run only
  // when no setup can be pinning (recovery, or gc with the setup gate closed).
  // Returns what failed.
  boost::asio::awaitable<std::vector<std::string>> remove_stray_userns_pins(std::string why);
  // Drops a sandbox that is gone for good: its id, its claims, its retry.
  void forget(const std::string& id);

  // Background convergence (started by recover()): retries failed teardowns
  // and rollbacks with backoff, and runs gc every maintenance.gc_interval.
  boost::asio::awaitable<void> maintain();
  // A teardown or rollback of id failed: retry it later (backoff doubles).
  void schedule_retry(const std::string& id, const std::vector<std::string>& errors);
  boost::asio::awaitable<void> run_due_retries();
  boost::json::object maintenance_status(const Caller& caller) const;

  boost::asio::io_context& io_;
  std::shared_ptr<const Config> config_;
  std::shared_ptr<cni::Runtime> runtime_;
  StateStore store_;
  PinMarks pin_marks_;  // which pins in netnsDir are ours
  std::once_flag userns_dir_ready_;  // usernsDir made a shared mount (first "create")
  boost::asio::thread_pool pool_;
  KeyedMutex locks_;
  AsyncSemaphore setup_slots_;
  AsyncGate setups_gate_;  // setups pass through it; gc closes it around CNI GC
  // Sandboxes that have a record, and their owners (for maxSandboxes).
  std::map<std::string, uid_t, std::less<>> owners_;
  SandboxClaims claims_;  // the netns and CNI cache names each of those holds
  std::map<std::string, std::shared_ptr<boost::asio::posix::stream_descriptor>, std::less<>> watches_;
  std::size_t in_flight_ = 0;
  bool shutting_down_ = false;

  struct Retry {
    unsigned attempts = 0;
    std::chrono::seconds backoff{0};
    std::chrono::steady_clock::time_point due;
    std::string last_error;
  };
  std::map<std::string, Retry, std::less<>> retries_;  // failed sandboxes waiting for a retry
  boost::asio::steady_timer maintenance_timer_;        // wakes maintain(); cancelled to re-plan
  std::chrono::steady_clock::time_point next_gc_;
  std::filesystem::file_time_type started_;  // temp files older than this are a dead writer's
  struct GcRun {
    std::int64_t unix = 0;
    std::size_t removed = 0;
    std::vector<std::string> errors;
  };
  std::optional<GcRun> last_gc_;
};

}  // namespace sandnet::daemon
