// The OCI runtime state a runtime writes to a hook's stdin (runtime-spec
// "State"): {"ociVersion","id","status","pid","bundle","annotations"}.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sandnet::oci_hook {

// A state larger than this is refused (a real one is well under 64 KiB,
// annotations included).
inline constexpr std::size_t kMaxStateBytes = 1024 * 1024;

struct OciState {
  std::string oci_version;
  std::string id;
  std::string status;          // "creating" | "created" | "running" | "stopped"
  std::optional<pid_t> pid;    // absent (or 0) once the container has stopped
  std::string bundle;
  std::map<std::string, std::string> annotations;
};

// Parses the state strictly: one JSON object, no key twice, the required
// fields (ociVersion, id, status, bundle) present with their types, status
// one of the four the spec names, pid a positive integer when given,
// annotations an object of strings. Other keys are ignored (the spec lets a
// runtime add its own). Throws Error(invalid_argument) naming the problem.
OciState parse_state(std::string_view text);

}  // namespace sandnet::oci_hook
