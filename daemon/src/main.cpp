// sandnetd: the privileged daemon that sets up CNI networking for sandboxes
// in user namespaces, for unprivileged callers on a Unix socket.
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"
#include "sandnet/daemon/config.hpp"
#include "sandnet/daemon/dispatch.hpp"
#include "sandnet/daemon/fd_budget.hpp"
#include "sandnet/daemon/listen.hpp"
#include "sandnet/daemon/policy.hpp"
#include "sandnet/daemon/server.hpp"
#include "sandnet/daemon/service.hpp"

namespace {
namespace asio = boost::asio;
using namespace sandnet;
using namespace sandnet::daemon;

constexpr const char* kUsage =
    "usage: sandnetd [--config FILE] [--socket PATH] [--log-level LEVEL] [--help] [--version]\n"
    "  --config FILE      configuration (default /etc/sandnet/sandnetd.json; a missing\n"
    "                     default file means built-in defaults)\n"
    "  --socket PATH      listen here instead of the configured socket\n"
    "  --log-level LEVEL  trace, debug, info (default), warn, error, critical, off\n"
    "Signals: SIGHUP reloads the config, SIGTERM/SIGINT stop (sandboxes keep their networks).\n";

struct Options {
  std::string config_path = kDefaultConfigPath;
  bool config_given = false;
  std::optional<std::string> socket;
  std::string log_level = "info";
};

// Returns nullopt after printing help/version (exit 0); exits 2 on bad usage.
std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  auto usage_error = [](const std::string& why) {
    std::cerr << "sandnetd: " << why << "\n" << kUsage;
    std::exit(2);
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return std::nullopt;
    } else if (arg == "--version") {
      std::cout << "sandnetd " << SANDNET_VERSION << "\n";
      return std::nullopt;
    } else if (arg == "--config") {
      o.config_path = value();
      o.config_given = true;
    } else if (arg == "--socket") {
      o.socket = value();
    } else if (arg == "--log-level") {
      o.log_level = value();
      if (spdlog::level::from_str(o.log_level) == spdlog::level::off && o.log_level != "off")
        usage_error("unknown log level \"" + o.log_level + "\"");
    } else {
      usage_error("unknown argument \"" + std::string(arg) + "\"");
    }
  }
  return o;
}

void setup_logging(const Options& o) {
  auto logger = spdlog::stderr_logger_st("sandnetd");
  // journald timestamps lines itself; it sets JOURNAL_STREAM for our stderr.
  logger->set_pattern(std::getenv("JOURNAL_STREAM") ? "<%l> %v" : "%Y-%m-%d %H:%M:%S.%e %l: %v");
  logger->set_level(spdlog::level::from_str(o.log_level));
  spdlog::set_default_logger(logger);
}

Config load(const Options& o) {
  Config c = load_config(o.config_path, /*missing_ok=*/!o.config_given);
  if (o.socket) c.socket = *o.socket;
  return c;
}

struct Daemon {
  asio::io_context io;
  Options options;
  std::optional<SandboxService> service;
  std::optional<Server> server;
  asio::signal_set signals{io, SIGTERM, SIGINT, SIGHUP};
  bool owns_socket_file = false;

  asio::awaitable<void> handle_signals() {
    while (true) {
      auto [ec, signo] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      if (signo == SIGHUP) {
        notify_systemd("RELOADING=1");
        try {
          service->reload(load(options));
          spdlog::info("reloaded configuration from {}", options.config_path);
        } catch (const std::exception& e) {
          spdlog::error("reload failed, keeping the old configuration: {}", e.what());
        }
        notify_systemd("READY=1");
        continue;
      }
      spdlog::info("{}: stopping; sandboxes keep their networks", signo == SIGTERM ? "SIGTERM" : "SIGINT");
      notify_systemd("STOPPING=1");
      server->stop();
      service->shutdown();
      co_return;
    }
  }

  asio::awaitable<void> start() {
    auto problems = co_await service->recover();
    for (const auto& p : problems) spdlog::warn("recovery: {}", p);
    server->start();
    spdlog::info("sandnetd {} ready on {}", SANDNET_VERSION, service->config().socket.string());
    notify_systemd("READY=1");
  }
};

int run(const Options& options) {
  const NofileLimit nofile = raise_nofile_limit();
  Daemon d;
  d.options = options;
  Config config = load(options);
  spdlog::info("configuration: {}", config.source);
  unique_fd listener;
  if (auto activated = socket_from_systemd()) {
    listener = std::move(*activated);
    spdlog::info("using the socket passed by systemd");
  } else {
    listener = create_listening_socket(SocketOptions{config.socket, config.socket_mode, config.socket_gid});
    d.owns_socket_file = true;
  }
  // Fds are sized once, here: every connection, watch and plugin pipe needs one.
  const FdBudget budget = size_fd_budget(config, nofile.now, open_fd_count());
  spdlog::info("connection limits: {}{}", budget.describe(),
               nofile.before != nofile.now ? " (raised from " + std::to_string(nofile.before) + ")" : "");
  ServerOptions server_options;
  server_options.max_connections = budget.max_connections;
  server_options.root_reserve = budget.root_reserve;
  server_options.idle_timeout = config.idle_timeout;
  server_options.write_timeout = config.write_timeout;
  server_options.max_line_bytes = std::min(config.max_request_bytes, rpc::kMaxLineBytes);
  // Whether a caller has a rule follows reloads; the numbers are fixed at start.
  server_options.max_connections_for = [&d, with_rule = budget.per_uid,
                                        without_rule = budget.per_uid_without_rule](const Caller& caller) {
    return has_policy_rule(d.service->config(), caller) ? with_rule : without_rule;
  };
  const auto socket_path = config.socket;

  d.service.emplace(d.io, std::move(config));
  d.server.emplace(d.io, std::move(listener), server_options, make_handler(*d.service));
  asio::co_spawn(d.io, d.handle_signals(), asio::detached);
  std::exception_ptr start_failure;
  asio::co_spawn(d.io, d.start(), [&](std::exception_ptr e) {
    if (!e) return;
    start_failure = e;
    d.server->stop();
    d.service->shutdown();
    d.signals.cancel();
  });
  d.io.run();
  if (d.owns_socket_file) {
    try {
      fs::remove_file(socket_path);
    } catch (const std::exception& e) {
      spdlog::warn("{}", e.what());
    }
  }
  if (start_failure) std::rethrow_exception(start_failure);
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parse_args(argc, argv);
  if (!options) return 0;
  setup_logging(*options);
  // Writes to a client that went away must fail with EPIPE, not kill us.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return run(*options);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
