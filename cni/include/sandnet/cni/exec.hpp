// Running one CNI plugin from an asio event loop without blocking it: spawned
// in its own process group with a from-scratch environment and a parent-death
// signal, pipes read and written asynchronously, exit observed through a
// pidfd, a deadline that kills the whole process group.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sandnet::cni {

struct PluginInvocation {
  std::filesystem::path plugin;  // absolute path (see find_plugin)
  std::string command;           // CNI_COMMAND: ADD, DEL, CHECK, GC, STATUS, VERSION
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::string cni_args;  // already built and validated ("K=V;K=V")
  std::string cni_path;  // plugin dirs joined with ':'
  std::string stdin_data;
  std::chrono::milliseconds timeout{60000};
  // Awaited after the plugin is spawned and before its stdin is written
  // (when set): a caller can let the plugin start up while it finishes work
  // that must precede the plugin's effects. Plugins act only once they have
  // read their configuration. The deadline covers the wait; an exception
  // kills the plugin and is rethrown.
  std::function<boost::asio::awaitable<void>()> before_input;
};

// The plugin called type in the first of dirs that has it as an executable
// regular file. Throws Error(invalid_argument) for a type with '/' or that is
// empty, "." or "..", Error(not_found) naming the dirs otherwise.
std::filesystem::path find_plugin(std::string_view type,
                                  const std::vector<std::filesystem::path>& dirs);

// The environment the plugin gets: the six CNI_* variables and PATH, nothing
// else ("NAME=value" strings).
std::vector<std::string> plugin_environment(const PluginInvocation& call);

// Runs the plugin and returns its stdout on exit status 0. Otherwise throws
// Error(plugin_failed) with the CNI error object from stdout (set_cni; when
// stdout has none: code 999-style info built from the exit status and
// stderr), or Error(timeout) when the deadline passed (the process group is
// killed first). "Text file busy" is retried a few times.
// A plugin reaped by someone else (ECHILD) is Error(plugin_failed): its exit
// status is lost.
// The calling process must ignore SIGPIPE (sandnetd and sandnetctl do): a
// plugin that exits without reading its stdin is then an error, not a signal.
// The plugin gets PR_SET_PDEATHSIG(SIGKILL), which fires when the *thread*
// that spawned it exits: await this on a thread that lives as long as the
// plugins it runs. sandnetd spawns on its one event-loop thread (main, which
// ends only with the daemon) and sandnetctl on its main thread, so a plugin
// dies exactly when its daemon or CLI does (kill -9 included). Helpers a
// plugin starts itself (iptables, an IPAM plugin) have no such signal and run
// on to their end, reparented; the timeout's group kill still reaches them.
boost::asio::awaitable<std::string> exec_plugin(PluginInvocation call);

}  // namespace sandnet::cni
