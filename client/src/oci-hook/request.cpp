#include "oci-hook/request.hpp"

#include <limits>

#include "cli/parse.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/validate.hpp"

namespace sandnet::oci_hook {
namespace {

std::string checked_sandbox_id(const std::string& id, std::string_view what) {
  try {
    validate::sandbox_id(id);
  } catch (const Error& e) {
    throw_error(errc::invalid_argument, std::string(what) + ": " + e.context());
  }
  return id;
}

}  // namespace

const char* to_string(Mode mode) { return mode == Mode::setup ? "setup" : "teardown"; }

std::optional<Mode> mode_for_status(std::string_view status) {
  if (status == "creating" || status == "created") return Mode::setup;
  if (status == "stopped") return Mode::teardown;
  return std::nullopt;
}

Mode select_mode(std::optional<Mode> requested, const OciState& state) {
  if (requested) return *requested;
  if (auto mode = mode_for_status(state.status)) return *mode;
  throw_error(errc::invalid_argument, "container " + state.id + " is \"" + state.status +
                                          "\": run as a createRuntime or poststop hook, or say setup or teardown");
}

HookRequest request_from_state(std::optional<Mode> requested, const OciState& state) {
  HookRequest r;
  r.mode = select_mode(requested, state);
  if (r.mode == Mode::setup) {
    r.options = parse_annotations(state.annotations);
    if (!state.pid) throw_error(errc::invalid_argument, "OCI state of " + state.id + " has no pid to set up");
    r.pid = *state.pid;
  } else {
    r.options.id = parse_id_annotation(state.annotations);
  }
  r.id = r.options.id ? *r.options.id : checked_sandbox_id(state.id, "container id");
  return r;
}

HookRequest request_from_lxc(NetworkOptions options, const std::vector<std::string>& lxc_args, const EnvLookup& env) {
  // The environment's value, or LXC's argument at index; they must agree.
  auto lxc_value = [&](const char* var, std::size_t index, const char* what) {
    auto value = env(var);
    if (value && value->empty()) value.reset();
    if (index < lxc_args.size()) {
      if (value && *value != lxc_args[index])
        throw_error(errc::invalid_argument, std::string(var) + " \"" + *value + "\" and LXC's argument \"" +
                                                lxc_args[index] + "\" disagree");
      return lxc_args[index];
    }
    if (!value)
      throw_error(errc::invalid_argument,
                  std::string("no ") + what + ": neither " + var + " nor LXC's arguments (is this run as an LXC hook?)");
    return *value;
  };
  HookRequest r;
  const std::string type = lxc_value("LXC_HOOK_TYPE", 2, "hook type");
  if (type == "start-host") {
    r.mode = Mode::setup;
    auto pid = env("LXC_PID");
    if (!pid) throw_error(errc::invalid_argument, "LXC_PID is not set (is this run as lxc.hook.start-host?)");
    r.pid = cli::parse_number<pid_t>(*pid, 1, std::numeric_limits<pid_t>::max(), "LXC_PID");
  } else if (type == "post-stop") {
    r.mode = Mode::teardown;
  } else {
    throw_error(errc::invalid_argument,
                "hook type \"" + type + "\": use this hook as lxc.hook.start-host and lxc.hook.post-stop");
  }
  r.id = options.id ? *options.id : checked_sandbox_id(lxc_value("LXC_NAME", 0, "container name"), "LXC_NAME");
  r.options = std::move(options);
  return r;
}

protocol::SetupParams setup_params(const HookRequest& request) {
  protocol::SetupParams p;
  p.id = request.id;
  p.ref = protocol::SandboxRef::pidfd;
  p.pid = request.pid;
  for (const auto& name : request.options.networks) p.networks.push_back({name, {}});
  p.ifname = request.options.ifname;
  p.args = request.options.args;
  if (!request.options.ports.empty()) p.capabilities.port_mappings = request.options.ports;
  return p;
}

}  // namespace sandnet::oci_hook
