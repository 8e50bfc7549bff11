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

HookRequest request_from_lxc(NetworkOptions options, const EnvLookup& env) {
  auto required = [&](const char* name) {
    auto value = env(name);
    if (!value || value->empty())
      throw_error(errc::invalid_argument, std::string(name) + " is not set (is this run as an LXC hook?)");
    return *value;
  };
  HookRequest r;
  const std::string type = required("LXC_HOOK_TYPE");
  if (type == "start-host") {
    r.mode = Mode::setup;
    r.pid = cli::parse_number<pid_t>(required("LXC_PID"), 1, std::numeric_limits<pid_t>::max(), "LXC_PID");
  } else if (type == "post-stop") {
    r.mode = Mode::teardown;
  } else {
    throw_error(errc::invalid_argument,
                "LXC_HOOK_TYPE \"" + type + "\": use this hook as lxc.hook.start-host and lxc.hook.post-stop");
  }
  r.id = options.id ? *options.id : checked_sandbox_id(required("LXC_NAME"), "LXC_NAME");
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
