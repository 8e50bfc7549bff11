// What one run of the hook does, decided from an OCI state or from LXC's
// environment: set up or tear down which sandbox, with what.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oci-hook/annotations.hpp"
#include "oci-hook/state.hpp"
#include "sandnet/common/protocol.hpp"

namespace sandnet::oci_hook {

enum class Mode { setup, teardown };

const char* to_string(Mode mode);

// The mode a state's status calls for: creating/created (createRuntime,
// prestart) -> setup, stopped (poststop) -> teardown; running (poststart,
// or a hook put in the wrong place) -> none.
std::optional<Mode> mode_for_status(std::string_view status);

// requested (the command line's setup/teardown) wins; otherwise the status
// decides, and a status that decides nothing is an error.
Mode select_mode(std::optional<Mode> requested, const OciState& state);

struct HookRequest {
  Mode mode = Mode::setup;
  std::string id;            // the sandbox ID, validated
  pid_t pid = 0;             // setup: the sandbox's process, as the host sees it
  NetworkOptions options;    // setup only
};

// From an OCI state: the ID is io.sandnet.id or the container's; a setup
// needs the state's pid. Throws Error(invalid_argument).
HookRequest request_from_state(std::optional<Mode> requested, const OciState& state);

// Reads an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

// From LXC's hook: the hook type start-host -> setup of LXC_PID, post-stop
// -> teardown; the ID is options.id or the container's name. LXC gives the
// name and type as arguments (lxc_args: NAME SECTION HOOKTYPE, with
// lxc.hook.version 0, the default) or as LXC_NAME and LXC_HOOK_TYPE
// (lxc.hook.version 1); when both are there they must agree.
HookRequest request_from_lxc(NetworkOptions options, const std::vector<std::string>& lxc_args, const EnvLookup& env);

// The sandbox.setup request for a setup: the process goes as a pidfd.
protocol::SetupParams setup_params(const HookRequest& request);

}  // namespace sandnet::oci_hook
