#include "sandnet/daemon/service.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <spdlog/spdlog.h>
#include <type_traits>

#include "antispoof.hpp"
#include "sandnet/cni/cache.hpp"
#include "sandnet/cni/config.hpp"
#include "sandnet/cni/version.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"
#include "sandnet/common/validate.hpp"
#include "sandnet/netns/handle.hpp"
#include "sandnet/netns/loopback.hpp"
#include "sandnet/netns/netlink_view.hpp"
#include "sandnet/netns/pin.hpp"
#include "previous_run.hpp"
#include "sandbox_netns.hpp"
#include "subordinate_ids.hpp"

namespace sandnet::daemon {
namespace asio = boost::asio;
namespace json = boost::json;

std::string pin_name_for(std::string_view sandbox_id) {
  return std::string(kPinPrefix) + std::string(sandbox_id);
}

namespace {

// Threads for blocking namespace and file work (setns happens only on these
// or on threads the netns layer starts, never on the io_context thread).
constexpr std::size_t kBlockingThreads = 4;

// Runs f() on pool and resumes the caller on its own executor with the result
// (or the exception f threw). Deliberately not a coroutine (and no co_spawn'ed
// lambda): g++ 12 destroys captured temporaries of coroutine lambdas twice.
template <class F>
auto offload(asio::thread_pool& pool, F f) -> asio::awaitable<std::invoke_result_t<F&>> {
  using R = std::invoke_result_t<F&>;
  if constexpr (std::is_void_v<R>) {
    return asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr)>(
        [&pool](auto handler, F fn) {
          asio::post(pool, [handler = std::move(handler), fn = std::move(fn)]() mutable {
            std::exception_ptr error;
            try {
              fn();
            } catch (...) {
              error = std::current_exception();
            }
            auto ex = asio::get_associated_executor(handler);
            asio::dispatch(ex, [handler = std::move(handler), error]() mutable { std::move(handler)(error); });
          });
        },
        asio::use_awaitable, std::move(f));
  } else {
    return asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr, R)>(
        [&pool](auto handler, F fn) {
          asio::post(pool, [handler = std::move(handler), fn = std::move(fn)]() mutable {
            std::exception_ptr error;
            R value{};
            try {
              value = fn();
            } catch (...) {
              error = std::current_exception();
            }
            auto ex = asio::get_associated_executor(handler);
            asio::dispatch(ex, [handler = std::move(handler), error, value = std::move(value)]() mutable {
              std::move(handler)(error, std::move(value));
            });
          });
        },
        asio::use_awaitable, std::move(f));
  }
}

// A blocking job started on the pool now and awaited later, so that the
// event loop can do other work for the same request meanwhile. wait() may be
// called any number of times, also after the job finished; it rethrows what
// the job threw. Lives on the event loop's thread.
class PoolJob {
 public:
  PoolJob(asio::thread_pool& pool, asio::io_context& io, std::function<void()> job)
      : state_(std::make_shared<State>(io)) {
    asio::post(pool, [state = state_, &io, job = std::move(job)] {
      std::exception_ptr error;
      try {
        job();
      } catch (...) {
        error = std::current_exception();
      }
      asio::post(io, [state, error] {
        state->error = error;
        state->done = true;
        state->wakeup.cancel();
      });
    });
  }

  // Not a coroutine itself: the frame holds the state, not this.
  asio::awaitable<void> wait() const { return wait_on(state_); }

 private:
  struct State;
  static asio::awaitable<void> wait_on(std::shared_ptr<State> state) {
    while (!state->done) {
      state->wakeup.expires_at(asio::steady_timer::time_point::max());
      boost::system::error_code ignored;
      co_await state->wakeup.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    if (state->error) std::rethrow_exception(state->error);
  }

  struct State {
    explicit State(asio::io_context& io) : wakeup(io) {}
    bool done = false;
    std::exception_ptr error;
    asio::steady_timer wakeup;
  };
  std::shared_ptr<State> state_;
};

// Counts a request as in flight for status.
class InFlight {
 public:
  explicit InFlight(std::size_t& counter) : counter_(counter) { ++counter_; }
  ~InFlight() { --counter_; }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  std::size_t& counter_;
};

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Error as_error(const std::exception& e) {
  if (auto* err = dynamic_cast<const Error*>(&e)) return *err;
  return Error(errc::internal, e.what());
}

// The networks the daemon can attach to right now: conf_dir, or the embedded
// default network when conf_dir holds none. Read per request, like libcni, so
// a new conflist is usable without a reload.
struct Catalog {
  std::vector<cni::NetworkConfigList> lists;
  std::vector<std::string> load_errors;
  std::vector<std::string> defaults;

  const cni::NetworkConfigList* find(std::string_view name) const {
    for (const auto& l : lists)
      if (l.name == name) return &l;
    return nullptr;
  }
};

Catalog load_catalog(const Config& config) {
  Catalog c;
  auto loaded = cni::load_networks(config.cni.conf_dir);
  c.lists = std::move(loaded.networks);
  for (const auto& e : loaded.errors) c.load_errors.emplace_back(e.what());
  if (c.lists.empty()) c.lists.push_back(cni::parse_network_list(embedded_default_network(), "embedded"));
  c.defaults = config.cni.default_networks;
  if (c.defaults.empty()) c.defaults.push_back(c.lists.front().name);
  return c;
}

// The list to DEL an attachment with: the current config, else the one cached
// when it was added (the conflist may have been removed since).
cni::NetworkConfigList list_for_del(const Catalog& catalog, const Config& config, const AttachmentRecord& att,
                                    const std::string& id) {
  if (auto* l = catalog.find(att.network)) return *l;
  cni::ResultCache cache(config.cni.cache_dir);
  if (auto cached = cache.read(att.network, id, att.ifname))
    return cni::parse_network_list(cached->config, "cached config of " + att.network);
  throw_error(errc::not_found, "network " + att.network + " is no longer configured and has no cached config");
}

cni::RuntimeOptions runtime_options(const Config& config) {
  cni::RuntimeOptions o;
  o.plugin_dirs = config.cni.bin_dirs;
  o.cache_dir = config.cni.cache_dir;
  o.plugin_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.cni.plugin_timeout);
  o.native_loopback = config.cni.native_loopback;
  return o;
}

cni::RuntimeConf runtime_conf(const SandboxRecord& record, const AttachmentRecord& att, std::string netns_path) {
  return cni::RuntimeConf{record.id, std::move(netns_path), att.ifname, record.args, record.capabilities};
}

netns::NetnsIdentity recorded_netns(const SandboxRecord& record) {
  return netns::NetnsIdentity{record.netns_device, record.netns_inode};
}

// The names of the record's CNI cache entries, as libcni makes them.
std::vector<std::string> cache_names(const Config& config, const SandboxRecord& record) {
  const cni::ResultCache cache(config.cni.cache_dir);
  std::vector<std::string> names;
  for (const auto& att : record.attachments)
    names.push_back(cache.path_for(att.network, record.id, att.ifname).filename().string());
  return names;
}

// Whether the pin holds the namespace the record was set up on (records from
// before identities were kept have none and trust a live pin). A pin holding
// another namespace is never acted on: that is someone else's network.
bool holds_recorded_netns(const SandboxRecord& record, const std::optional<netns::NetnsIdentity>& pinned) {
  if (!pinned) return false;
  return record.netns_inode == 0 || *pinned == recorded_netns(record);
}

// Where the user namespace pin of a sandbox is (or would be): the recorded
// one, else the one "create" would make now. Unpinning it is harmless when
// there is none.
std::filesystem::path userns_pin_of(const Config& config, const SandboxRecord& record) {
  if (!record.userns_pin_path.empty()) return record.userns_pin_path;
  return config.userns_dir / pin_name_for(record.id);
}

json::object snapshot_to_json(const netns::Snapshot& s) {
  json::array links, addresses, routes;
  for (const auto& l : s.links) {
    json::object o{{"index", l.index}, {"name", l.name}, {"state", l.state}, {"adminUp", l.admin_up},
                   {"mtu", l.mtu}};
    if (!l.kind.empty()) o["kind"] = l.kind;
    if (!l.mac.empty()) o["mac"] = l.mac;
    if (l.peer_index) o["peerIndex"] = l.peer_index;
    if (!l.master.empty()) o["master"] = l.master;
    links.push_back(std::move(o));
  }
  for (const auto& a : s.addresses)
    addresses.push_back(json::object{{"ifindex", a.ifindex}, {"ifname", a.ifname}, {"family", a.family},
                                     {"address", a.address}, {"scope", a.scope}});
  for (const auto& r : s.routes) {
    json::object o{{"family", r.family}, {"dst", r.dst}, {"table", r.table}, {"metric", r.metric}};
    if (!r.gateway.empty()) o["gateway"] = r.gateway;
    if (!r.dev.empty()) o["dev"] = r.dev;
    routes.push_back(std::move(o));
  }
  // truncated: netns::inspect kept only the first kInspectMaxEntries of a kind.
  json::object counts{{"links", s.total_links}, {"addresses", s.total_addresses}, {"routes", s.total_routes}};
  return json::object{{"links", std::move(links)},     {"addresses", std::move(addresses)},
                      {"routes", std::move(routes)},   {"truncated", s.truncated()},
                      {"counts", std::move(counts)}};
}

// Everything about a setup request that can be checked without touching the
// system. Throws Error(invalid_argument) naming the bad part.
struct SetupPlan {
  std::vector<std::string> networks;
  std::vector<std::string> ifnames;
};

// CNI_ARGS travels in the plugin's environment: one string may not exceed
// the kernel's MAX_ARG_STRLEN (128 KiB) or exec fails with E2BIG, for the DEL
// too. Far below that, so the rest of the environment always fits.
constexpr std::size_t kMaxCniArgsBytes = 64 * 1024;
// Labels live in every state line of the record.
constexpr std::size_t kMaxLabelBytes = 16 * 1024;

// An interface the sandbox's CNI ADD may create. "lo" is the sandbox's own
// loopback: a plugin asked to create it fails, and so would every DEL.
void validate_attachment_ifname(std::string_view ifname) {
  validate::interface_name(ifname);
  if (ifname == "lo")
    throw_error(errc::invalid_argument, "interface name \"lo\" is the sandbox's loopback, not an attachment");
}

void validate_request(const protocol::SetupParams& p, std::size_t fd_count) {
  validate::sandbox_id(p.id);
  std::size_t args_bytes = 0;
  for (const auto& [k, v] : p.args) {
    validate::cni_arg_key(k);
    validate::cni_arg_value(v);
    args_bytes += k.size() + v.size() + 2;  // "K=V;"
  }
  if (args_bytes > kMaxCniArgsBytes)
    throw_error(errc::invalid_argument, "\"args\" make a CNI_ARGS of " + std::to_string(args_bytes) +
                                            " bytes; at most " + std::to_string(kMaxCniArgsBytes));
  std::size_t label_bytes = 0;
  for (const auto& [k, v] : p.labels) label_bytes += k.size() + v.size();
  if (label_bytes > kMaxLabelBytes)
    throw_error(errc::invalid_argument, "\"labels\" hold " + std::to_string(label_bytes) + " bytes; at most " +
                                            std::to_string(kMaxLabelBytes));
  for (const auto& n : p.networks) {
    validate::network_name(n.name);
    if (!n.ifname.empty()) validate_attachment_ifname(n.ifname);
  }
  if (!p.ifname.empty()) validate_attachment_ifname(p.ifname);
  if (p.ref == protocol::SandboxRef::create && fd_count != 0)
    throw_error(errc::invalid_argument, "\"create\" takes no file descriptor, got " + std::to_string(fd_count));
  if ((p.ref == protocol::SandboxRef::pidfd || p.ref == protocol::SandboxRef::netns) && fd_count != 1)
    throw_error(errc::invalid_argument, std::string("\"fd\": \"") +
                                            (p.ref == protocol::SandboxRef::pidfd ? "pidfd" : "netns") +
                                            "\" needs exactly one file descriptor sent with the request (SCM_RIGHTS), got " +
                                            std::to_string(fd_count));
}

SetupPlan plan_setup(const protocol::SetupParams& p, const Catalog& catalog) {
  SetupPlan plan;
  if (p.networks.empty()) {
    plan.networks = catalog.defaults;
    plan.ifnames.resize(plan.networks.size());
  } else {
    for (const auto& n : p.networks) {
      plan.networks.push_back(n.name);
      plan.ifnames.push_back(n.ifname);
    }
  }
  if (plan.networks.empty()) throw_error(errc::invalid_argument, "no network to attach the sandbox to");
  if (!p.ifname.empty()) {
    if (!plan.ifnames[0].empty() && plan.ifnames[0] != p.ifname)
      throw_error(errc::invalid_argument, "\"ifname\" " + p.ifname + " contradicts network " + plan.networks[0] +
                                              "'s ifname " + plan.ifnames[0]);
    plan.ifnames[0] = p.ifname;
  }
  std::set<std::string> seen_networks, seen_ifnames;
  for (std::size_t i = 0; i < plan.networks.size(); ++i) {
    if (plan.ifnames[i].empty()) plan.ifnames[i] = "eth" + std::to_string(i);
    if (!catalog.find(plan.networks[i])) throw_error(errc::not_found, "network " + plan.networks[i] + " is not configured");
    if (!seen_networks.insert(plan.networks[i]).second)
      throw_error(errc::invalid_argument, "network " + plan.networks[i] + " is named twice");
    if (!seen_ifnames.insert(plan.ifnames[i]).second)
      throw_error(errc::invalid_argument, "interface " + plan.ifnames[i] + " is used twice");
  }
  return plan;
}

DelPlan plan_del(const Config& config, const SandboxRecord& record) {
  DelPlan plan;
  // CNI_NETNS for the DELs: the pin while it holds the sandbox's namespace;
  // empty once it is gone (or holds another one), as the spec asks.
  if (holds_recorded_netns(record, netns::pinned_identity(record.pin_path))) plan.netns_path = record.pin_path;
  plan.lists.resize(record.attachments.size());
  plan.why_not.resize(record.attachments.size());
  std::optional<Catalog> catalog;
  std::string catalog_error;
  try {
    catalog = load_catalog(config);
  } catch (const std::exception& e) {
    // The cached config of each attachment may still do.
    catalog_error = std::string("; load networks: ") + e.what();
    catalog.emplace();
  }
  for (std::size_t k = 0; k < record.attachments.size(); ++k) {
    try {
      plan.lists[k] = list_for_del(*catalog, config, record.attachments[k], record.id);
    } catch (const std::exception& e) {
      plan.why_not[k] = e.what() + catalog_error;
    }
  }
  return plan;
}

// What policy is asked about a planned setup (prepare_setup and explain).
SetupAsk make_setup_ask(const Config& config, const Caller& caller, const SetupPlan& plan,
                        const protocol::SetupParams& p, std::size_t owned) {
  SetupAsk ask{plan.networks, p.capabilities, {}, owned};
  for (const auto& arg : p.args) ask.arg_keys.push_back(arg.first);
  if (!caller.is_root() && config.id_mappings.subordinate) {
    ask.subordinate_uids = read_subordinate_ranges(config.id_mappings.subuid_file, caller.uid);
    ask.subordinate_gids = read_subordinate_ranges(config.id_mappings.subgid_file, caller.uid);
  }
  return ask;
}

// The holder of a claim as the caller may learn it: its name only if the
// caller may see that sandbox anyway.
std::string holder_as_seen_by(const Caller& caller, const SandboxClaims::Holder& holder) {
  const bool may_see = caller.is_root() || holder.owner_uid == caller.uid;
  return may_see ? "sandbox " + holder.id : std::string("another sandbox");
}

[[noreturn]] void refuse_attached_netns(const Caller& caller, const SandboxClaims::Holder& holder) {
  throw_error(errc::already_exists, "the network namespace is already attached to " +
                                        holder_as_seen_by(caller, holder) + "; one network namespace holds one sandbox");
}

// An attachment whose interface exists already would fail at ADD, and its
// rollback DEL would delete that interface: refused.
void check_interfaces_free(const std::vector<std::string>& links, const std::vector<std::string>& ifnames) {
  for (const auto& ifname : ifnames)
    if (std::find(links.begin(), links.end(), ifname) != links.end())
      throw_error(errc::already_exists,
                  "interface " + ifname + " already exists in the sandbox's network namespace; choose another ifname");
}

// What a setup has done before its first plugin runs.
struct PreparedSetup {
  Catalog catalog;
  OpenedNetns opened;
  SandboxRecord record;
};

// Blocking (pool thread): plan, open the netns, authorize, build the record
// and pin. On failure nothing is left.
PreparedSetup prepare_setup(const Config& config, const Caller& caller, std::size_t owned,
                            const protocol::SetupParams& p, unique_fd passed_fd, SandboxClaims& claims,
                            const PinMarks& pin_marks, std::once_flag& userns_dir_ready) {
  Catalog catalog = load_catalog(config);
  const SetupPlan plan = plan_setup(p, catalog);
  const SetupAsk ask = make_setup_ask(config, caller, plan, p, owned);
  PreparedSetup s{std::move(catalog),
                  open_sandbox_netns(p, caller, std::move(passed_fd),
                                     [&](const netns::NamespaceFacts& facts) {
                                       authorize_setup(config, caller, facts, ask);
                                     }),
                  {}};

  SandboxRecord& record = s.record;
  record.id = p.id;
  record.owner_uid = caller.uid;
  record.owner_gid = caller.gid;
  record.pin_path = (config.netns_dir / pin_name_for(p.id)).string();
  if (s.opened.userns) record.userns_pin_path = (config.userns_dir / pin_name_for(p.id)).string();
  record.pid = s.opened.pid;
  record.netns_inode = s.opened.facts.inode;
  record.netns_device = s.opened.facts.device;
  record.state = SandboxState::setting_up;
  record.args = p.args;
  // Plugins see only what the daemon re-serialised from the typed values.
  record.capabilities = capabilities::to_json(p.capabilities);
  record.labels = p.labels;
  record.created_unix = record.updated_unix = now_unix();
  // Every planned attachment is in the record before the first plugin runs:
  // a crash from then on is rolled back at the next start (DEL of a network
  // whose ADD never ran is harmless).
  for (std::size_t i = 0; i < plan.networks.size(); ++i)
    record.attachments.push_back(AttachmentRecord{plan.networks[i], plan.ifnames[i], AttachmentPhase::adding, nullptr, {}});

  // One netns, one sandbox: a second attach would make the first one's
  // interfaces the second one's to DEL. And one CNI cache entry name, one
  // attachment. The caller learns the holder's name only if it may see that
  // sandbox anyway.
  if (auto conflict = claims.claim(recorded_netns(record), cache_names(config, record), p.id, caller.uid)) {
    if (conflict->what == "netns") refuse_attached_netns(caller, conflict->holder);
    throw_error(errc::already_exists, "the CNI cache entry " + conflict->what + " belongs to " +
                                          holder_as_seen_by(caller, conflict->holder) +
                                          " (libcni's names <network>-<id>-<ifname> collide): choose another id or ifname");
  }

  // Before the record is on disk: a pin changes nothing a restart cannot see
  // (a marked pin without a record is removed at start).
  // An attachment whose interface exists already would fail at ADD, and its
  // rollback DEL would delete that interface: refused here. lo up leaves
  // nothing to undo: done in the same netlink pass, before the pin (the last
  // step, so that a failure leaves nothing), whatever the chain holds.
  check_interfaces_free(netns::list_links(s.opened.handle.fd(), config.cni.loopback_up), plan.ifnames);
  const std::string pin_name = pin_name_for(p.id);
  pin_marks.mark(pin_name);
  try {
    netns::pin(s.opened.handle, config.netns_dir, pin_name);
  } catch (...) {
    // Not ours after all: an existing file of that name is left alone.
    try {
      pin_marks.unmark(pin_name);
    } catch (const std::exception&) {
    }
    throw;
  }
  if (s.opened.userns) {
    try {
      // Made on first use: a daemon that never creates namespaces leaves no
      // mount behind. (A failed attempt is retried by the next setup.)
      std::call_once(userns_dir_ready, [&] { netns::ensure_shared_pin_dir(config.userns_dir); });
      netns::pin_userns(s.opened.userns.get(), config.userns_dir, pin_name);
    } catch (...) {
      try {
        netns::unpin(config.netns_dir, pin_name);
        pin_marks.unmark(pin_name);
      } catch (const std::exception&) {
      }
      throw;
    }
  }
  return s;
}

}  // namespace

SandboxService::SandboxService(asio::io_context& io, Config config)
    : io_(io),
      config_(std::make_shared<const Config>(std::move(config))),
      runtime_(std::make_shared<cni::Runtime>(runtime_options(*config_))),
      store_(config_->state_dir),
      pin_marks_(config_->state_dir),
      pool_(kBlockingThreads),
      setup_slots_(config_->max_concurrent_setups),
      maintenance_timer_(io),
      started_(std::filesystem::file_time_type::clock::now()) {}

SandboxService::~SandboxService() {
  shutdown();
  pool_.join();
}

void SandboxService::shutdown() {
  shutting_down_ = true;
  maintenance_timer_.cancel();
  for (auto& [id, watch] : watches_) {
    boost::system::error_code ignored;
    watch->cancel(ignored);
  }
  watches_.clear();
}

void SandboxService::reload(Config config) {
  std::vector<std::string> kept;
  if (config.state_dir != config_->state_dir) kept.push_back("stateDir");
  if (config.netns_dir != config_->netns_dir) kept.push_back("netnsDir");
  if (config.userns_dir != config_->userns_dir) kept.push_back("usernsDir");
  if (config.socket != config_->socket) kept.push_back("socket");
  if (config.anti_spoofing.table != config_->anti_spoofing.table) kept.push_back("antiSpoofing.table");
  config.anti_spoofing.table = config_->anti_spoofing.table;
  config.state_dir = config_->state_dir;
  config.netns_dir = config_->netns_dir;
  config.userns_dir = config_->userns_dir;
  config.socket = config_->socket;
  for (const auto& key : kept) spdlog::warn("reload: {} changes only on restart; keeping the old value", key);
  runtime_ = std::make_shared<cni::Runtime>(runtime_options(config));
  setup_slots_.set_limit(config.max_concurrent_setups);
  config_ = std::make_shared<const Config>(std::move(config));
}

asio::awaitable<std::vector<std::string>> SandboxService::salvage(std::string id, std::string why) {
  auto config = config_;
  auto guard = co_await locks_.lock(id);
  if (owners_.count(id)) co_return std::vector<std::string>{};  // set up again meanwhile
  auto work_cache = [config, id] { return cni::ResultCache(config->cni.cache_dir).list_for_container(id); };
  auto entries = co_await offload(pool_, std::move(work_cache));
  if (entries.empty()) {
    std::vector<std::string> problems;
    try {
      auto work_unpin = [this, dir = config->netns_dir, userns_dir = config->userns_dir, name = pin_name_for(id)] {
        netns::unpin(dir, name);
        pin_marks_.unmark(name);
        netns::unpin(userns_dir, name);
      };
      co_await offload(pool_, std::move(work_unpin));
    } catch (const std::exception& e) {
      problems.emplace_back(e.what());
    }
    co_return problems;
  }
  // Rebuilt from the cache: a record again, owned by root (the owner is not
  // known any more), torn down as any other. A DEL that fails keeps it, failed,
  // for the retries.
  SandboxRecord record;
  record.id = id;
  record.pin_path = (config->netns_dir / pin_name_for(id)).string();
  record.state = SandboxState::failed;
  record.args = entries.front().cni_args;
  record.capabilities = entries.front().capability_args;
  record.created_unix = record.updated_unix = now_unix();
  for (auto& e : entries)
    record.attachments.push_back(AttachmentRecord{e.network_name, e.ifname, AttachmentPhase::added,
                                                  e.result ? json::value(std::move(*e.result)) : json::value(), {}});
  owners_.emplace(id, 0);
  spdlog::warn("{} {}: DEL of {} attachment(s) from the CNI cache", why, id, record.attachments.size());
  auto result = co_await teardown_locked(std::move(record), std::move(why));
  co_return result.errors;
}

asio::awaitable<std::vector<std::string>> SandboxService::remove_stray_userns_pins(std::string why) {
  std::set<std::string> known;
  for (const auto& [id, owner] : owners_) known.insert(pin_name_for(id));
  auto work = [dir = config_->userns_dir, known = std::move(known), why = std::move(why)] {
    std::vector<std::string> problems;
    for (const auto& pin : netns::list_pins(dir)) {
      if (known.count(pin.name)) continue;
      try {
        netns::unpin(dir, pin.name);
        spdlog::info("{}: removed user namespace pin {} of no sandbox", why, pin.path.string());
      } catch (const std::exception& e) {
        problems.emplace_back(e.what());
      }
    }
    return problems;
  };
  co_return co_await offload(pool_, std::move(work));
}

void SandboxService::forget(const std::string& id) {
  owners_.erase(id);
  claims_.release(id);
  retries_.erase(id);
}

std::size_t SandboxService::owned_by(uid_t uid) const {
  return static_cast<std::size_t>(
      std::count_if(owners_.begin(), owners_.end(), [uid](const auto& entry) { return entry.second == uid; }));
}

asio::awaitable<std::optional<SandboxRecord>> SandboxService::load_record(std::string_view id) {
  std::string key(id);
  auto work1 = [this, key] { return store_.load(key); };
  co_return co_await offload(pool_, std::move(work1));
}

void SandboxService::update_record(SandboxRecord& record) {
  record.updated_unix = now_unix();
  store_.update(record);
}

// ---------------------------------------------------------------- setup

asio::awaitable<protocol::SandboxInfo> SandboxService::setup(const Caller& caller, protocol::SetupParams p,
                                                             std::vector<unique_fd> fds) {
  InFlight in_flight(in_flight_);
  const std::string context = "setup " + p.id;
  with_context(context, [&] { validate_request(p, fds.size()); });
  if (shutting_down_) throw_error(errc::unavailable, context + ": the daemon is shutting down");

  auto pass = co_await setups_gate_.enter();
  auto guard = co_await locks_.lock(p.id);
  auto config = config_;
  auto runtime = runtime_;

  // What to roll back if anything below fails.
  bool reserved = false;
  std::optional<PreparedSetup> prepared;
  std::optional<PoolJob> record_write;
  std::size_t attempted = 0;
  std::optional<Error> failure;

  try {
    if (owners_.count(p.id)) throw_error(errc::already_exists, "sandbox " + p.id + " already exists");
    // Reserve the id (and count it against maxSandboxes) before the first
    // await, so that concurrent setups of one caller count each other.
    const std::size_t owned = owned_by(caller.uid);
    owners_.emplace(p.id, caller.uid);
    reserved = true;
    auto permit = co_await setup_slots_.acquire();
    // SIGTERM came while we waited: start nothing new (nothing is touched yet).
    if (shutting_down_) throw_error(errc::unavailable, "the daemon is shutting down");

    unique_fd passed_fd = fds.empty() ? unique_fd() : std::move(fds.front());
    // Everything up to the pin in one hop to the pool: on this 2-core VM
    // waking an idle thread costs 0.05-0.25 ms, more than most steps.
    auto work3 = [config, caller, owned, &p, fd = std::move(passed_fd), &claims = claims_,
                  &marks = pin_marks_, &userns_dir_ready = userns_dir_ready_]() mutable {
      std::optional<PreparedSetup> result;
      result.emplace(prepare_setup(*config, caller, owned, p, std::move(fd), claims, marks, userns_dir_ready));
      return result;
    };
    prepared = co_await offload(pool_, std::move(work3));
    SandboxRecord& record = prepared->record;
    // The record must be on disk (fsync'd: it is what guarantees a DEL after
    // a machine crash) before the first plugin acts, but not before it
    // starts: the fsync runs while the first plugin execs and starts up, and
    // that plugin gets its stdin once the record is durable.
    record_write.emplace(pool_, io_, [this, copy = record] { store_.create(copy); });
    for (std::size_t i = 0; i < record.attachments.size(); ++i) {
      attempted = i + 1;
      auto& att = record.attachments[i];
      const auto* list = prepared->catalog.find(att.network);
      auto conf = runtime_conf(record, att, record.pin_path);
      std::function<asio::awaitable<void>()> gate;
      if (i == 0) gate = [job = *record_write] { return job.wait(); };
      auto result = co_await runtime->add(*list, conf, std::move(gate));
      att.phase = AttachmentPhase::added;
      att.result = std::move(result);
      // One line per result; the last one also marks the sandbox ready.
      if (attempted == record.attachments.size()) record.state = SandboxState::ready;
      update_record(record);
    }
    // A sandbox that can take its neighbours' addresses must not be handed
    // out: failing to apply its anti-spoofing rules fails the setup.
    auto guard_work = [settings = config->anti_spoofing, &record] {
      GuardPlan plan = plan_guard(settings, record);
      apply_guard(settings, plan);
      std::vector<std::string> unguarded;
      for (const auto& a : plan.attachments)
        if (!a.allowance) unguarded.push_back(a.network + " " + a.ifname + ": " + a.why_not);
      return unguarded;
    };
    auto unguarded = co_await offload(pool_, std::move(guard_work));
    for (const auto& line : unguarded) spdlog::info("setup {}: anti-spoofing {}", p.id, line);

    if (config->auto_teardown && prepared->opened.handle.pidfd() >= 0) {
      start_watch(record, dup_cloexec(prepared->opened.handle.pidfd()));
    }
    spdlog::info("setup {} for uid {}: {} network(s) on {}", p.id, caller.uid, record.attachments.size(),
                 record.pin_path);
    co_return to_info(record);
  } catch (const std::exception& e) {
    failure = as_error(e);
  }

  // Roll back with a fresh budget (each DEL gets the full plugin timeout, no
  // matter how long the ADD took); the caller gets the original error.
  if (prepared) {
    SandboxRecord& record = prepared->record;
    // Whether or not the record made it, the rollback starts from a settled
    // state (a record that failed to be written is rewritten as failed below
    // if anything remains to be done).
    if (record_write) {
      auto settled = record_write->wait();
      try {
        co_await std::move(settled);
      } catch (const std::exception& e) {
        spdlog::error("setup {}: record: {}", p.id, e.what());
      }
    }
    if (attempted < record.attachments.size()) record.attachments.resize(attempted);
    for (auto& att : record.attachments)
      if (att.phase == AttachmentPhase::adding) att.phase = AttachmentPhase::failed;
    auto errors = co_await remove_attachments(record, std::nullopt);
    if (errors.empty()) {
      forget(p.id);
    } else {
      // The record stays (and so does the reservation), so that teardown, gc
      // or the next start can finish the job.
      record.state = SandboxState::failed;
      try {
        update_record(record);
      } catch (const std::exception& e) {
        errors.emplace_back(e.what());
      }
      for (const auto& err : errors) spdlog::error("setup {}: rollback: {}", p.id, err);
      schedule_retry(p.id, errors);
    }
    reserved = false;
  }
  if (reserved) forget(p.id);
  failure->add_context(context);
  spdlog::info("{}", failure->what());
  throw *failure;
}

// Best effort: DEL every attachment (reverse order) while the pin is live;
// when every DEL succeeded, unpin and remove the record. Returns what failed.
asio::awaitable<std::vector<std::string>> SandboxService::remove_attachments(const SandboxRecord& record,
                                                                              std::optional<DelPlan> plan,
                                                                              bool force) {
  auto config = config_;
  auto runtime = runtime_;
  if (!plan) {
    auto work7 = [config, &record] { return std::optional<DelPlan>(plan_del(*config, record)); };
    plan = co_await offload(pool_, std::move(work7));
  }
  std::vector<std::string> errors;
  for (std::size_t k = record.attachments.size(); k-- > 0;) {
    const auto& att = record.attachments[k];
    try {
      if (!plan->lists[k]) throw_error(errc::not_found, plan->why_not[k]);
      auto conf = runtime_conf(record, att, plan->netns_path);
      co_await runtime->del(*plan->lists[k], conf);
    } catch (const std::exception& e) {
      errors.push_back("DEL " + att.network + " " + att.ifname + ": " + e.what());
    }
  }
  // A sandbox whose DEL failed keeps its pin and record (and its CNI cache
  // entry), so that a retried teardown, gc or the next start DELs it again
  // against the live netns: plugins given no netns leave host state behind
  // (the bridge plugin its ipMasq chain).
  // force: unpin and forget all the same.
  if (!errors.empty() && !force) co_return errors;
  // Anti-spoofing rules (kept while a DEL fails: the sandbox is still
  // there), unpin and forget in one hop. Rules that cannot be removed keep
  // the record, for a retry (unless forced).
  auto work9 = [this, dir = config->netns_dir, userns_pin = userns_pin_of(*config, record),
                id = record.id, settings = config->anti_spoofing, force] {
    std::vector<std::string> failed;
    try {
      remove_guard(settings, id);
    } catch (const std::exception& e) {
      failed.emplace_back(e.what());
      if (!force) return failed;
    }
    try {
      netns::unpin(dir, pin_name_for(id));
      pin_marks_.unmark(pin_name_for(id));
      netns::unpin(userns_pin.parent_path(), userns_pin.filename().string());
      store_.remove(id);
    } catch (const std::exception& e) {
      failed.emplace_back(e.what());
    }
    return failed;
  };
  auto last = co_await offload(pool_, std::move(work9));
  errors.insert(errors.end(), last.begin(), last.end());
  co_return errors;
}

// ---------------------------------------------------------------- teardown

asio::awaitable<protocol::TeardownResult> SandboxService::teardown(const Caller& caller, std::string id,
                                                                   bool force) {
  InFlight in_flight(in_flight_);
  with_context("teardown " + id, [&] { validate::sandbox_id(id); });
  // Forgetting a sandbox whose DEL fails may leave its IP and rules behind:
  // an operator's decision.
  if (force) authorize_root(caller, "teardown with force");
  auto guard = co_await locks_.lock(id);
  // The record and the lists to DEL it with, in one hop.
  auto work10 = [this, config = config_, id] {
    std::optional<std::pair<SandboxRecord, DelPlan>> found;
    if (auto record = store_.load(id)) {
      DelPlan plan = plan_del(*config, *record);
      found.emplace(std::move(*record), std::move(plan));
    }
    return found;
  };
  auto found = co_await offload(pool_, std::move(work10));
  if (!found) co_return protocol::TeardownResult{id, false, {}};
  authorize_access(caller, found->first.owner_uid, id);
  std::string why = "requested by uid " + std::to_string(caller.uid);
  if (force) why += ", forced";
  co_return co_await teardown_locked(std::move(found->first), std::move(why), std::move(found->second), force);
}

asio::awaitable<protocol::TeardownResult> SandboxService::teardown_locked(SandboxRecord record, std::string why,
                                                                          std::optional<DelPlan> plan, bool force) {
  stop_watch(record.id);
  protocol::TeardownResult result{record.id, true, {}};
  record.state = SandboxState::tearing_down;
  try {
    update_record(record);
  } catch (const std::exception& e) {
    result.errors.push_back(std::string("record: ") + e.what());
  }
  auto errors = co_await remove_attachments(record, std::move(plan), force);
  result.errors.insert(result.errors.end(), errors.begin(), errors.end());
  if (errors.empty()) {
    forget(record.id);
    spdlog::info("teardown {} ({})", record.id, why);
    co_return result;
  }
  if (force) {
    // What a failed DEL did not undo stays on the host; the CNI cache entries
    // stay too, so that CNI GC (gc) can still DEL them.
    for (const auto& att : record.attachments)
      result.errors.push_back("left behind: whatever DEL " + att.network + " " + att.ifname +
                              " did not undo; its CNI cache entry is kept for gc");
    result.forced = true;
    forget(record.id);
    for (const auto& err : result.errors) spdlog::warn("teardown {} ({}, forced): {}", record.id, why, err);
    co_return result;
  }
  // Kept as "failed" for a retry, gc or the next start.
  record.state = SandboxState::failed;
  try {
    update_record(record);
  } catch (const std::exception& e) {
    result.errors.push_back(std::string("record: ") + e.what());
  }
  for (const auto& err : result.errors) spdlog::warn("teardown {} ({}): {}", record.id, why, err);
  schedule_retry(record.id, result.errors);
  co_return result;
}

// ---------------------------------------------------------------- queries

asio::awaitable<json::object> SandboxService::check(const Caller& caller, std::string id) {
  InFlight in_flight(in_flight_);
  const std::string context = "check " + id;
  with_context(context, [&] { validate::sandbox_id(id); });
  auto guard = co_await locks_.lock(id);
  auto record = co_await load_record(id);
  if (!record) throw_error(errc::not_found, context + ": no such sandbox");
  authorize_access(caller, record->owner_uid, id);
  if (record->state != SandboxState::ready)
    throw_error(errc::unavailable, context + ": sandbox is " + std::string(to_string(record->state)));
  auto config = config_;
  auto runtime = runtime_;
  std::optional<Error> failure;
  try {
    // The pin must be live; the lists are the ones a DEL would use.
    auto work11 = [config, &record = *record] { return std::optional<DelPlan>(plan_del(*config, record)); };
    auto plan = co_await offload(pool_, std::move(work11));
    if (plan->netns_path.empty())
      throw_error(errc::process_gone, "the pin " + record->pin_path + " no longer holds the sandbox's network namespace");
    for (std::size_t k = 0; k < record->attachments.size(); ++k) {
      const auto& att = record->attachments[k];
      try {
        if (!plan->lists[k]) throw_error(errc::not_found, plan->why_not[k]);
        auto conf = runtime_conf(*record, att, plan->netns_path);
        co_await runtime->check(*plan->lists[k], conf);
      } catch (Error& e) {
        e.add_context(att.network);
        throw;
      }
    }
  } catch (const std::exception& e) {
    failure = as_error(e);
  }
  if (failure) {
    failure->add_context(context);
    throw *failure;
  }
  co_return json::object{{"id", id}, {"ok", true}};
}

asio::awaitable<protocol::SandboxInfo> SandboxService::get(const Caller& caller, std::string id) {
  with_context("get " + id, [&] { validate::sandbox_id(id); });
  auto record = co_await load_record(id);
  if (!record) throw_error(errc::not_found, "get " + id + ": no such sandbox");
  authorize_access(caller, record->owner_uid, id);
  co_return to_info(*record);
}

asio::awaitable<std::vector<protocol::SandboxInfo>> SandboxService::list(const Caller& caller) {
  auto work13 = [this] { return store_.load_all(); };
  auto loaded = co_await offload(pool_, std::move(work13));
  std::vector<protocol::SandboxInfo> out;
  for (const auto& r : loaded.records)
    if (caller.is_root() || r.owner_uid == caller.uid) out.push_back(to_info(r));
  co_return out;
}

asio::awaitable<json::object> SandboxService::inspect(const Caller& caller, std::string id) {
  const std::string context = "inspect " + id;
  with_context(context, [&] { validate::sandbox_id(id); });
  auto record = co_await load_record(id);
  if (!record) throw_error(errc::not_found, context + ": no such sandbox");
  authorize_access(caller, record->owner_uid, id);
  auto work14 = [path = record->pin_path, context, settings = config_->anti_spoofing, &record = *record] {
    return with_context(context, [&] {
      auto fd = netns::open_pin(path);
      json::object out = snapshot_to_json(netns::inspect(fd.get()));
      out["antiSpoofing"] = inspect_guard(settings, record);
      return out;
    });
  };
  co_return co_await offload(pool_, std::move(work14));
}

asio::awaitable<std::vector<protocol::NetworkInfo>> SandboxService::networks(const Caller& caller) {
  auto config = config_;
  auto work15 = [config] { return load_catalog(*config); };
  auto catalog = co_await offload(pool_, std::move(work15));
  std::vector<std::string> names;
  for (const auto& l : catalog.lists) names.push_back(l.name);
  auto allowed = filter_networks(*config, caller, names);
  std::vector<protocol::NetworkInfo> out;
  for (const auto& name : allowed) {
    const auto* l = catalog.find(name);
    protocol::NetworkInfo info;
    info.name = l->name;
    info.cni_version = l->cni_version;
    for (const auto& plugin : l->plugins) {
      if (auto* type = plugin.if_contains("type"); type && type->is_string())
        info.plugins.emplace_back(type->get_string());
    }
    info.is_default = std::find(catalog.defaults.begin(), catalog.defaults.end(), name) != catalog.defaults.end();
    info.source = l->source;
    out.push_back(std::move(info));
  }
  co_return out;
}

asio::awaitable<protocol::RuntimeInfo> SandboxService::runtime_info(const Caller& caller) {
  protocol::RuntimeInfo info;
  const auto& maps = config_->id_mappings;
  if (!caller.is_root() && maps.subordinate) {
    auto work_sub = [maps, uid = caller.uid] {
      return std::make_pair(read_subordinate_ranges(maps.subuid_file, uid),
                            read_subordinate_ranges(maps.subgid_file, uid));
    };
    auto [uids, gids] = co_await offload(pool_, std::move(work_sub));
    info.subordinate_uids = std::move(uids);
    info.subordinate_gids = std::move(gids);
  }
  info.version = SANDNET_VERSION;
  for (auto v : cni::kSupportedVersions) info.cni_versions.emplace_back(v);
  info.uid_mappings = config_->id_mappings.uids;
  info.gid_mappings = config_->id_mappings.gids;
  info.netns_dir = config_->netns_dir.string();
  info.caller_uid = caller.uid;
  info.caller_gid = caller.gid;
  co_return info;
}

asio::awaitable<json::object> SandboxService::status(const Caller& caller) {
  auto config = config_;
  auto runtime = runtime_;
  json::array networks;
  std::optional<Catalog> catalog;
  try {
    auto work16 = [config] { return load_catalog(*config); };
    catalog = co_await offload(pool_, std::move(work16));
  } catch (const std::exception& e) {
    networks.push_back(json::object{{"name", config->cni.conf_dir.string()}, {"ok", false}, {"error", e.what()}});
  }
  if (catalog) {
    for (const auto& err : catalog->load_errors)
      networks.push_back(json::object{{"name", config->cni.conf_dir.string()}, {"ok", false}, {"error", err}});
    for (const auto& l : catalog->lists) {
      json::object entry{{"name", l.name}, {"ok", true}};
      try {
        co_await runtime->status(l);
      } catch (const std::exception& e) {
        entry["ok"] = false;
        entry["error"] = e.what();
      }
      networks.push_back(std::move(entry));
    }
  }
  co_return json::object{{"ready", !shutting_down_},
                         {"sandboxes", owners_.size()},
                         {"inFlight", in_flight_},
                         {"networks", std::move(networks)},
                         {"maintenance", maintenance_status(caller)}};
}

// ---------------------------------------------------------------- gc & recovery

asio::awaitable<json::object> SandboxService::gc(const Caller& caller) {
  InFlight in_flight(in_flight_);
  authorize_root(caller, "gc");
  auto config = config_;
  auto runtime = runtime_;
  json::array removed, errors;
  auto work17 = [this] { return store_.load_all(); };
  auto loaded = co_await offload(pool_, std::move(work17));
  for (const auto& err : loaded.errors) errors.emplace_back(err);
  auto work18 = [this, dir = config->netns_dir] { return std::make_pair(netns::list_pins(dir), pin_marks_.all()); };
  auto [pins, marks] = co_await offload(pool_, std::move(work18));

  // Records whose setup never finished or whose pin has gone: finish them.
  for (auto& record : loaded.records) {
    if (locks_.is_locked(record.id)) continue;  // an operation is running on it
    bool pin_live = std::any_of(pins.begin(), pins.end(), [&](const netns::PinInfo& p) {
      return p.path == record.pin_path && p.live && holds_recorded_netns(record, p.identity);
    });
    if (record.state == SandboxState::ready && pin_live) continue;
    auto guard = co_await locks_.lock(record.id);
    // The snapshot may be stale by now (a setup may have finished, or a
    // teardown run, while we waited): decide on the record as it is.
    auto current = co_await load_record(record.id);
    if (!current) continue;
    auto work_pin = [path = current->pin_path] { return netns::pinned_identity(path); };
    pin_live = holds_recorded_netns(*current, co_await offload(pool_, std::move(work_pin)));
    if (current->state == SandboxState::ready && pin_live) continue;
    std::string why = "gc: " + std::string(pin_live ? to_string(current->state) : "pin gone");
    auto result = co_await teardown_locked(std::move(*current), std::move(why));
    removed.emplace_back(record.id);
    for (const auto& e : result.errors) errors.emplace_back(record.id + ": " + e);
  }
  // Our pins without a record (marked ones: a "sandnet-x" someone else made
  // is not ours): DEL what the CNI cache knows of them, then unpin.
  for (const auto& name : marks) {
    if (!name.starts_with(kPinPrefix)) continue;
    std::string id = name.substr(kPinPrefix.size());
    if (owners_.count(id) || locks_.is_locked(id) || !validate::is_container_id(id)) continue;
    auto problems = co_await salvage(id, "gc: pin without a record");
    if (problems.empty()) removed.emplace_back(id);
    for (const auto& p : problems) errors.emplace_back(id + ": " + p);
  }
  // CNI GC per network, keeping every attachment of a sandbox we know, with
  // no setup running: an ADD that landed between the listing below and the
  // one Runtime::gc makes would be DEL'd, and its IP released by plugin GC.
  auto closed = co_await setups_gate_.close();
  auto work20 = [config] { return std::make_pair(load_catalog(*config), netns::list_pins(config->netns_dir)); };
  auto [catalog, pins_now] = co_await offload(pool_, std::move(work20));
  for (const auto& e : co_await remove_stray_userns_pins("gc")) errors.emplace_back(e);
  std::set<std::string> live_pin_ids;
  for (const auto& pin : pins_now)
    if (pin.live && pin.name.starts_with(kPinPrefix)) live_pin_ids.insert(pin.name.substr(kPinPrefix.size()));
  for (const auto& list : catalog.lists) {
    try {
      auto work21 = [config, name = list.name] {
        return cni::ResultCache(config->cni.cache_dir).list(name);
      };
      auto cached = co_await offload(pool_, std::move(work21));
      // Valid: every sandbox we know, and whatever a live pin still holds
      // (never free an IP a namespace still uses).
      std::vector<cni::GcAttachment> valid;
      for (const auto& c : cached)
        if (owners_.count(c.container_id) || live_pin_ids.count(c.container_id))
          valid.push_back(cni::GcAttachment{c.container_id, c.ifname});
      co_await runtime->gc(list, valid);
    } catch (const std::exception& e) {
      errors.emplace_back("gc " + list.name + ": " + e.what());
    }
  }
  // Anti-spoofing rules of sandboxes that no longer exist (the gate is still
  // closed: no setup applies rules meanwhile).
  std::vector<std::string> live;
  for (const auto& [id, owner] : owners_) live.push_back(id);
  auto stale_work = [settings = config->anti_spoofing, live = std::move(live)] {
    return reconcile_guards(settings, live);
  };
  auto stale = co_await offload(pool_, std::move(stale_work));
  for (const auto& key : stale.removed) spdlog::info("gc: removed the anti-spoofing rules of gone sandbox key {}", key);
  for (const auto& e : stale.errors) errors.emplace_back(e);
  co_return json::object{{"removed", std::move(removed)}, {"errors", std::move(errors)}};
}

asio::awaitable<std::vector<std::string>> SandboxService::recover() {
  std::vector<std::string> problems;
  auto config = config_;
  auto work22 = [this] { return store_.load_all(); };
  auto loaded = co_await offload(pool_, std::move(work22));
  problems.insert(problems.end(), loaded.errors.begin(), loaded.errors.end());
  // Before anything acts on a sandbox: what a killed previous run's plugins
  // started must not act after us (the plugins themselves died with it).
  const bool leading = lead_own_session();
  if (!leading)
    spdlog::warn("sandnetd leads no session of its own (started as a process group leader): the children of a "
                 "killed run's plugins cannot be found at the next start");
  auto work_previous = [state_dir = config->state_dir, leading] {
    return take_over_from_previous_run(state_dir, leading, std::chrono::seconds(10));
  };
  auto previous = co_await offload(pool_, std::move(work_previous));
  if (!previous.killed.empty())
    spdlog::warn("recovery: killed {} process(es) left by the previous run (pid {})", previous.killed.size(),
                 previous.previous_pid);
  problems.insert(problems.end(), previous.problems.begin(), previous.problems.end());
  // Temp files of atomic writes (records, CNI cache entries) that a kill
  // left between create and rename; ours, written before this start.
  auto work_temps = [config, records = store_.records_dir(), started = started_] {
    auto removed = fs::remove_stale_temp_files(records, started);
    auto cache = fs::remove_stale_temp_files(config->cni.cache_dir / "results", started);
    removed.insert(removed.end(), cache.begin(), cache.end());
    return removed;
  };
  for (const auto& name : co_await offload(pool_, std::move(work_temps)))
    spdlog::info("recovery: removed {}, left by an interrupted write", name);
  auto work23 = [this, dir = config->netns_dir] {
    netns::ensure_shared_pin_dir(dir);
    return std::make_pair(netns::list_pins(dir), pin_marks_.all());
  };
  auto [pins, marks] = co_await offload(pool_, std::move(work23));
  for (const auto& r : loaded.records) {
    owners_.emplace(r.id, r.owner_uid);
    if (r.netns_inode == 0) continue;
    if (auto conflict = claims_.claim(recorded_netns(r), cache_names(*config, r), r.id, r.owner_uid))
      problems.push_back(r.id + ": its " + conflict->what + " is also recorded for sandbox " + conflict->holder.id);
  }

  std::size_t served = 0, finished = 0;
  for (auto& record : loaded.records) {
    auto guard = co_await locks_.lock(record.id);
    bool pin_live = std::any_of(pins.begin(), pins.end(), [&](const netns::PinInfo& p) {
      return p.path == record.pin_path && p.live && holds_recorded_netns(record, p.identity);
    });
    if (record.state == SandboxState::setting_up && pin_live) {
      // Every ADD may have finished with only the last state line lost (it
      // is appended without fsync): the CNI cache, written after each
      // list's ADD, then holds every result, and the sandbox is served again
      // instead of being rolled back under a caller that was told it is up.
      auto work_cache = [config, &record] {
        const cni::ResultCache cache(config->cni.cache_dir);
        std::vector<std::optional<cni::CachedAttachment>> found;
        for (const auto& att : record.attachments) found.push_back(cache.read(att.network, record.id, att.ifname));
        return found;
      };
      auto cached = co_await offload(pool_, std::move(work_cache));
      const bool all_added = !cached.empty() && std::all_of(cached.begin(), cached.end(), [](const auto& c) {
        return c && c->result;
      });
      if (all_added) {
        for (std::size_t k = 0; k < record.attachments.size(); ++k) {
          record.attachments[k].phase = AttachmentPhase::added;
          record.attachments[k].result = *cached[k]->result;
        }
        record.state = SandboxState::ready;
        try {
          update_record(record);
          spdlog::info("recovery: {}: every ADD had finished (CNI cache); served again", record.id);
        } catch (const std::exception& e) {
          problems.push_back(record.id + ": " + e.what());
        }
      }
    }
    if (record.state != SandboxState::ready || !pin_live) {
      std::string why = record.state != SandboxState::ready
                            ? "recovery: unfinished " + std::string(to_string(record.state))
                            : "recovery: pin gone";
      auto result = co_await teardown_locked(record, why);
      for (const auto& e : result.errors) problems.push_back(record.id + ": " + e);
      ++finished;
      continue;
    }
    ++served;
    if (!config->auto_teardown || !record.pid) continue;
    // A PID from before the restart may have been reused: watch it only if
    // that process is still in the pinned network namespace.
    try {
      // An empty fd: the process is gone (its PID is free, or now names a
      // process outside the pinned netns), so the sandbox ended while we were down.
      auto work24 = [pid = *record.pid, inode = record.netns_inode,
                                               device = record.netns_device]() -> unique_fd {
        unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
        if (!pidfd) {
          if (errno == ESRCH) return unique_fd();
          throw_errno("pidfd_open " + std::to_string(pid));
        }
        unique_fd watch = dup_cloexec(pidfd.get());
        try {
          auto facts = netns::NetnsHandle::from_pidfd(std::move(pidfd)).facts();
          if (facts.inode != inode || facts.device != device) return unique_fd();
        } catch (const Error& e) {
          if (e.is(errc::process_gone)) return unique_fd();
          throw;
        }
        return watch;
      };
      auto watch_fd = co_await offload(pool_, std::move(work24));
      if (watch_fd) {
        start_watch(record, std::move(watch_fd));
      } else {
        std::string why = "recovery: process " + std::to_string(*record.pid) + " exited while the daemon was down";
        auto result = co_await teardown_locked(record, why);
        for (const auto& e : result.errors) problems.push_back(record.id + ": " + e);
        --served;
        ++finished;
      }
    } catch (const std::exception& e) {
      spdlog::warn("recovery: {}: cannot watch process {}: {}; no auto-teardown", record.id, *record.pid, e.what());
    }
  }
  // Anti-spoofing: the served sandboxes' rules again (a crash may have come
  // between a setup's last ADD and its rules), none for sandboxes gone.
  std::vector<SandboxRecord> guarded;
  std::vector<std::string> live;
  for (const auto& r : loaded.records)
    if (r.state == SandboxState::ready && owners_.count(r.id)) guarded.push_back(r);
  for (const auto& [id, owner] : owners_) live.push_back(id);
  auto guard_work = [settings = config->anti_spoofing, guarded = std::move(guarded), live = std::move(live)] {
    return reconcile_guards(settings, live, guarded);
  };
  auto guards = co_await offload(pool_, std::move(guard_work));
  for (const auto& key : guards.removed) spdlog::info("recovery: removed the anti-spoofing rules of gone sandbox key {}", key);
  problems.insert(problems.end(), guards.errors.begin(), guards.errors.end());

  // Sandboxes without a readable record: a record set aside as corrupt, or a
  // pin made before the record was written. Their CNI cache entries (written
  // only after a plugin acted, so after the record) say what to DEL.
  // Only marked pins are ours: netnsDir is shared, and a "sandnet-x" that
  // `ip netns add` made stays.
  std::set<std::string> orphans(loaded.unreadable_ids.begin(), loaded.unreadable_ids.end());
  const std::set<std::string> marked(marks.begin(), marks.end());
  for (const auto& name : marks) {
    if (!name.starts_with(kPinPrefix)) continue;
    std::string id = name.substr(kPinPrefix.size());
    if (validate::is_container_id(id)) orphans.insert(std::move(id));
  }
  for (const auto& pin : pins) {
    const std::string id = pin.name.substr(std::min(pin.name.size(), kPinPrefix.size()));
    if (pin.name.starts_with(kPinPrefix) && !marked.count(pin.name) && !owners_.count(id))
      spdlog::info("recovery: {} is not marked as sandnet's (made by another tool?): left alone", pin.path.string());
  }
  for (const auto& id : orphans) {
    if (owners_.count(id)) continue;
    auto left = co_await salvage(id, "recovery: no readable record");
    for (const auto& p : left) problems.push_back(id + ": " + p);
  }
  for (auto& p : co_await remove_stray_userns_pins("recovery")) problems.push_back(std::move(p));
  spdlog::info("recovery: {} sandbox(es) served again, {} unfinished one(s) cleaned up", served, finished);
  if (config->maintenance.gc_interval.count() > 0)
    next_gc_ = std::chrono::steady_clock::now() + config->maintenance.gc_interval;
  asio::co_spawn(io_, maintain(), asio::detached);
  co_return problems;
}

// ---------------------------------------------------------------- maintenance

void SandboxService::schedule_retry(const std::string& id, const std::vector<std::string>& errors) {
  if (shutting_down_) return;
  const auto& m = config_->maintenance;
  auto& retry = retries_[id];
  retry.backoff = retry.attempts == 0 ? m.retry_initial : std::min(retry.backoff * 2, m.retry_max);
  retry.due = std::chrono::steady_clock::now() + retry.backoff;
  retry.last_error = errors.empty() ? std::string() : errors.front();
  maintenance_timer_.cancel();  // re-plan the next wake-up
}

asio::awaitable<void> SandboxService::run_due_retries() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::string> due;
  for (const auto& [id, retry] : retries_)
    if (retry.due <= now) due.push_back(id);
  for (const auto& id : due) {
    if (shutting_down_) co_return;
    try {
      InFlight in_flight(in_flight_);
      auto guard = co_await locks_.lock(id);
      // it stays valid across the awaits below: only operations holding id's
      // lock erase id's entry, and inserting or erasing others keeps it.
      auto it = retries_.find(id);
      if (it == retries_.end()) continue;  // torn down meanwhile
      auto record = co_await load_record(id);
      if (!record) {
        retries_.erase(id);
        continue;
      }
      // Only a settled failure is retried; anything else is some other
      // operation's to finish.
      if (record->state != SandboxState::failed) {
        retries_.erase(id);
        continue;
      }
      const unsigned attempt = ++it->second.attempts;
      std::string why = "retry " + std::to_string(attempt) + " of a failed teardown";
      co_await teardown_locked(std::move(*record), std::move(why));
    } catch (const std::exception& e) {
      spdlog::warn("retry {}: {}", id, e.what());
      if (auto it = retries_.find(id); it != retries_.end()) schedule_retry(id, {e.what()});
    }
  }
}

asio::awaitable<void> SandboxService::maintain() {
  using clock = std::chrono::steady_clock;
  while (!shutting_down_) {
    auto wake = clock::now() + std::chrono::hours(1);
    for (const auto& [id, retry] : retries_) wake = std::min(wake, retry.due);
    const bool gc_enabled = config_->maintenance.gc_interval.count() > 0;
    if (gc_enabled) wake = std::min(wake, next_gc_);
    maintenance_timer_.expires_at(wake);
    boost::system::error_code ec;
    co_await maintenance_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (shutting_down_) co_return;
    co_await run_due_retries();
    if (gc_enabled && clock::now() >= next_gc_ && !shutting_down_) {
      next_gc_ = clock::now() + config_->maintenance.gc_interval;
      GcRun run;
      run.unix = now_unix();
      try {
        auto report = co_await gc(Caller{});
        run.removed = report.at("removed").as_array().size();
        for (const auto& e : report.at("errors").as_array()) run.errors.emplace_back(e.as_string());
      } catch (const std::exception& e) {
        run.errors.emplace_back(e.what());
      }
      if (run.removed || !run.errors.empty())
        spdlog::info("periodic gc: {} removed, {} error(s)", run.removed, run.errors.size());
      last_gc_ = std::move(run);
    }
  }
}

json::object SandboxService::maintenance_status(const Caller& caller) const {
  const auto now = std::chrono::steady_clock::now();
  auto seconds_until = [&](std::chrono::steady_clock::time_point t) {
    return std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(t - now).count());
  };
  json::array retries;
  std::size_t visible = 0;
  for (const auto& [id, retry] : retries_) {
    if (!caller.is_root()) {
      auto owner = owners_.find(id);
      if (owner == owners_.end() || owner->second != caller.uid) continue;
    }
    ++visible;
    retries.push_back(json::object{{"id", id},
                                   {"attempts", retry.attempts},
                                   {"nextRetryInSeconds", seconds_until(retry.due)},
                                   {"lastError", retry.last_error}});
  }
  json::object out{{"failedTeardowns", caller.is_root() ? retries_.size() : visible},
                   {"retries", std::move(retries)}};
  if (config_->maintenance.gc_interval.count() > 0) out["nextGcInSeconds"] = seconds_until(next_gc_);
  if (last_gc_ && caller.is_root())
    out["lastGc"] = json::object{{"unix", last_gc_->unix},
                                 {"removed", last_gc_->removed},
                                 {"errors", json::value_from(last_gc_->errors)}};
  return out;
}

// ---------------------------------------------------------------- pidfd watches

void SandboxService::start_watch(const SandboxRecord& record, unique_fd pidfd) {
  if (shutting_down_) return;  // a watch would keep the daemon running; the next start watches it
  auto descriptor = std::make_shared<asio::posix::stream_descriptor>(io_, pidfd.release());
  watches_[record.id] = descriptor;
  WatchedSandbox watched{record.id, record.created_unix, static_cast<std::uint64_t>(record.netns_inode)};
  asio::co_spawn(io_, watch_process(std::move(watched), std::move(descriptor)), asio::detached);
}

void SandboxService::stop_watch(const std::string& id) {
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  boost::system::error_code ignored;
  it->second->cancel(ignored);
  watches_.erase(it);
}

asio::awaitable<void> SandboxService::watch_process(WatchedSandbox watched,
                                                    std::shared_ptr<asio::posix::stream_descriptor> pidfd) {
  const std::string& id = watched.id;
  // A pidfd becomes readable when its process exits.
  auto [ec] = co_await pidfd->async_wait(asio::posix::stream_descriptor::wait_read, asio::as_tuple(asio::use_awaitable));
  if (ec || shutting_down_) co_return;
  auto it = watches_.find(id);
  if (it == watches_.end() || it->second != pidfd) co_return;  // torn down meanwhile
  watches_.erase(it);
  try {
    InFlight in_flight(in_flight_);
    auto guard = co_await locks_.lock(id);
    auto record = co_await load_record(id);
    if (!record || record->created_unix != watched.created_unix ||
        static_cast<std::uint64_t>(record->netns_inode) != watched.netns_inode)
      co_return;  // torn down, or set up again, while we waited for the lock
    std::string why = "sandbox process exited";
    co_await teardown_locked(std::move(*record), std::move(why));
  } catch (const std::exception& e) {
    spdlog::error("auto-teardown {}: {}", id, e.what());
  }
}

// ---------------------------------------------------------------- explain

namespace {

// The steps of an explanation, in order; the first refusal is the verdict.
class Explanation {
 public:
  // Runs one check: f returns what it found; an Error is a refusal (or, for a
  // check that could not run, the reason it could not).
  template <class F>
  bool check(std::string_view name, F&& f) {
    try {
      add(name, true, f());
      return true;
    } catch (const Error& e) {
      refuse(name, e);
    } catch (const std::exception& e) {
      refuse(name, Error(errc::internal, e.what()));
    }
    return false;
  }
  void refuse(std::string_view name, const Error& e) {
    add(name, false, e.what());
    if (!refusal_) refusal_ = e;
  }
  json::object finish() && {
    json::object out{{"steps", std::move(steps_)}};
    if (refusal_) {
      out["verdict"] = "refused";
      out["reason"] = refusal_->what();
      out["code"] = rpc::error_from(*refusal_).code;
    } else {
      out["verdict"] = "allowed";
    }
    return out;
  }

 private:
  void add(std::string_view name, bool ok, std::string detail) {
    steps_.push_back(json::object{{"check", name}, {"ok", ok}, {"detail", std::move(detail)}});
  }
  json::array steps_;
  std::optional<Error> refusal_;
};

std::string map_text(const std::vector<netns::IdMapEntry>& map) {
  if (map.empty()) return "unknown";
  std::string out;
  for (const auto& e : map)
    out += (out.empty() ? "" : ", ") + std::to_string(e.inside) + " " + std::to_string(e.outside) + " " +
           std::to_string(e.count);
  return out;
}

}  // namespace

asio::awaitable<json::object> SandboxService::explain_setup(const Caller& caller, protocol::SetupParams p,
                                                            std::vector<unique_fd> fds, bool id_given) {
  InFlight in_flight(in_flight_);
  const std::size_t owned = owned_by(caller.uid);
  const bool id_taken = id_given && owners_.count(p.id) != 0;
  auto work = [config = config_, caller, owned, id_taken, id_given, &p, fds = std::move(fds),
               &claims = claims_]() mutable {
    Explanation ex;
    ex.check("request", [&] {
      validate_request(p, fds.size());
      if (id_taken) throw_error(errc::already_exists, "sandbox " + p.id + " already exists");
      return std::string(id_given ? "well-formed; id " + p.id + " is free" : "well-formed (no id given: not checked)");
    });
    std::optional<SetupPlan> plan;
    ex.check("networks", [&] {
      plan = plan_setup(p, load_catalog(*config));
      std::string out;
      for (std::size_t i = 0; i < plan->networks.size(); ++i)
        out += (i ? ", " : "") + plan->ifnames[i] + " on " + plan->networks[i];
      return out + (p.networks.empty() ? " (the configured defaults)" : "");
    });
    std::optional<OpenedNetns> opened;
    netns::NamespaceFacts facts;
    const bool create = p.ref == protocol::SandboxRef::create;
    const bool have_facts = ex.check("netns", [&]() -> std::string {
      if (create) {
        facts = planned_facts(caller, p.create);
        return "to be made by the daemon (\"create\"): a new user namespace of uid " + std::to_string(caller.uid) +
               " and a network namespace inside it";
      }
      unique_fd fd = fds.empty() ? unique_fd() : std::move(fds.front());
      opened.emplace(open_sandbox_netns(p, caller, std::move(fd), [](const netns::NamespaceFacts&) {}));
      facts = opened->facts;
      std::string out = "net:[" + std::to_string(facts.inode) + "]";
      if (opened->pid) out += " of pid " + std::to_string(*opened->pid);
      if (facts.is_host) out += facts.is_self ? " (the host's, the daemon's own)" : " (the host's)";
      else if (facts.is_self) out += " (the daemon's own)";
      return out;
    });
    if (have_facts) {
      ex.check("owner", [&] {
        if (facts.owner_is_initial_userns) return std::string("owned by the host's (initial) user namespace");
        return "owned by a user namespace that uid " + std::to_string(facts.owner_uid) +
               " created; uid map: " + map_text(facts.uid_map) + "; gid map: " + map_text(facts.gid_map);
      });
    }
    ex.check("rule", [&] {
      if (caller.is_root()) return std::string("root: no policy rule needed");
      return "policy rule " + rule_for(*config, caller)->description;
    });
    if (have_facts && plan) {
      ex.check("policy", [&] {
        authorize_setup(*config, caller, facts, make_setup_ask(*config, caller, *plan, p, owned));
        return std::string("allowed: networks, capabilities, host ports, CNI args, ID maps and maxSandboxes");
      });
    }
    if (opened) {
      ex.check("attached", [&] {
        auto holder = claims.holder_of(netns::NetnsIdentity{facts.device, facts.inode});
        if (!holder) return std::string("the network namespace is attached to no sandbox");
        refuse_attached_netns(caller, *holder);
      });
      if (plan) {
        ex.check("interfaces", [&] {
          const auto links = netns::list_links(opened->handle.fd(), /*bring_lo_up=*/false);
          check_interfaces_free(links, plan->ifnames);
          std::string out;
          for (const auto& l : links) out += (out.empty() ? "" : ", ") + l;
          return "present: " + (out.empty() ? std::string("none") : out) + "; none in the way";
        });
      }
    }
    return std::move(ex).finish();
  };
  co_return co_await offload(pool_, std::move(work));
}

asio::awaitable<json::object> SandboxService::explain_sandbox(const Caller& caller, std::string id) {
  InFlight in_flight(in_flight_);
  const std::string context = "explain " + id;
  with_context(context, [&] { validate::sandbox_id(id); });
  auto record = co_await load_record(id);
  if (!record)
    throw_error(errc::not_found, context + ": no such sandbox (`sandnetctl list` shows the ones you may see)");
  authorize_access(caller, record->owner_uid, id);
  struct Found {
    std::optional<netns::NetnsIdentity> pinned;
    std::optional<netns::NetnsIdentity> userns_pinned;
    std::optional<bool> process_in_netns;  // nullopt: no pid recorded
    std::vector<bool> cached;
    json::array guards;
  };
  auto work = [config = config_, &record = *record] {
    Found f;
    f.pinned = netns::pinned_identity(record.pin_path);
    if (!record.userns_pin_path.empty()) f.userns_pinned = netns::pinned_userns_identity(record.userns_pin_path);
    if (record.pid) {
      try {
        auto facts = netns::NetnsHandle::from_pid(*record.pid).facts();
        f.process_in_netns = facts.inode == record.netns_inode && facts.device == record.netns_device;
      } catch (const Error&) {
        f.process_in_netns = false;
      }
    }
    const cni::ResultCache cache(config->cni.cache_dir);
    for (const auto& att : record.attachments) f.cached.push_back(cache.read(att.network, record.id, att.ifname).has_value());
    f.guards = inspect_guard(config->anti_spoofing, record);
    return f;
  };
  Found found = co_await offload(pool_, std::move(work));

  json::array problems;
  auto problem = [&](std::string what) { problems.emplace_back(std::move(what)); };
  const bool holds = holds_recorded_netns(*record, found.pinned);
  json::object pin{{"path", record->pin_path}, {"live", found.pinned.has_value()}, {"holdsRecordedNetns", holds}};
  if (!found.pinned)
    problem("the pin " + record->pin_path + " holds no network namespace (the namespace is gone): `sandnetctl teardown " +
            id + "` (or gc) DELs what is left and releases its addresses");
  else if (!holds)
    problem("the pin holds another network namespace than the one recorded (replaced behind the daemon's back): DEL "
            "runs without a netns; `sandnetctl teardown " + id + "` releases the addresses");
  json::object out{{"id", id},
                   {"state", to_string(record->state)},
                   {"owner", json::object{{"uid", record->owner_uid}, {"gid", record->owner_gid}}},
                   {"pin", std::move(pin)}};
  if (!record->userns_pin_path.empty()) {
    out["userns"] = json::object{{"path", record->userns_pin_path}, {"live", found.userns_pinned.has_value()}};
    if (!found.userns_pinned) problem("the user namespace pin " + record->userns_pin_path + " is gone");
  }
  if (record->pid) {
    out["process"] = json::object{{"pid", *record->pid}, {"inRecordedNetns", *found.process_in_netns},
                                  {"watched", watches_.count(id) != 0}};
    if (!*found.process_in_netns && config_->auto_teardown)
      problem("process " + std::to_string(*record->pid) +
              " is gone (or no longer in the sandbox's netns) but the sandbox is still here: "
              "`sandnetctl teardown " + id + "`");
  } else {
    out["process"] = record->userns_pin_path.empty()
                         ? json::value("none recorded (set up from a netns fd): no automatic teardown")
                         : json::value("none (namespaces made by the daemon): the runtime tears it down");
  }
  json::array attachments;
  for (std::size_t k = 0; k < record->attachments.size(); ++k) {
    const auto& att = record->attachments[k];
    attachments.push_back(json::object{{"network", att.network},
                                       {"ifname", att.ifname},
                                       {"phase", to_string(att.phase)},
                                       {"cniCacheEntry", static_cast<bool>(found.cached[k])}});
    if (att.phase == AttachmentPhase::added && !found.cached[k])
      problem("attachment " + att.network + " " + att.ifname +
              " has no CNI cache entry: its DEL will use the network's current conflist");
  }
  out["attachments"] = std::move(attachments);
  out["antiSpoofing"] = std::move(found.guards);
  switch (record->state) {
    case SandboxState::ready: break;
    case SandboxState::failed:
      problem("a DEL failed; the daemon retries it in the background (see retry); `sandnetctl teardown " + id +
              "` retries now, `--force` (root) forgets it and lists what stays behind");
      break;
    case SandboxState::setting_up:
    case SandboxState::tearing_down:
      problem(locks_.is_locked(id) ? std::string("an operation on it is running now")
                                   : std::string("unfinished (the daemon stopped in the middle): gc or the next "
                                                 "start finishes it"));
      break;
  }
  if (auto it = retries_.find(id); it != retries_.end())
    out["retry"] = json::object{{"attempts", it->second.attempts}, {"lastError", it->second.last_error}};
  out["verdict"] = problems.empty() ? "healthy" : "needs attention";
  out["problems"] = std::move(problems);
  co_return out;
}

}  // namespace sandnet::daemon
