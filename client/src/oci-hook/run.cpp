#include "oci-hook/run.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <istream>
#include <ostream>

#include <boost/json.hpp>

#include "oci-hook/command_line.hpp"
#include "sandnet/common/fs.hpp"
#include "sandnet/common/unique_fd.hpp"

namespace sandnet::oci_hook {
namespace json = boost::json;

namespace {

constexpr const char* kProgram = "sandnet-oci-hook";

// "setup pod1: reason", without saying "setup pod1" twice when the daemon's
// context already starts with it.
std::string failure_line(const std::string& subject, const std::string& reason) {
  return std::string(kProgram) + ": " + (reason.rfind(subject, 0) == 0 ? reason : subject + ": " + reason) + "\n";
}

void setup(const HookRequest& request, client::Client& client) {
  // The runtime holds the container's init at this point (createRuntime,
  // start-host), so the PID is its; from here on only the pidfd is used.
  unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, request.pid, 0)));  // pidfds are O_CLOEXEC
  if (!pidfd) throw_errno("pidfd_open " + std::to_string(request.pid));
  protocol::SandboxInfo info = client.setup(setup_params(request), pidfd.get());
  if (!request.options.result_path.empty()) {
    with_context("write " + request.options.result_path, [&] {
      fs::write_file_atomic(request.options.result_path, json::serialize(json::value_from(info)) + "\n", 0644);
    });
  }
}

// Returns false (with the reason in err) when some step could not be undone.
bool teardown(const HookRequest& request, client::Client& client, const std::string& subject, std::ostream& err) {
  protocol::TeardownResult result = client.teardown(request.id);
  if (result.errors.empty()) return true;
  err << failure_line(subject, std::to_string(result.errors.size()) + " step(s) could not be undone, the first: " +
                                   result.errors.front());
  return false;
}

std::string read_all(std::istream& in) {
  std::string text;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    // One byte over the limit is enough for parse_state to refuse it.
    if (text.size() > kMaxStateBytes) break;
  }
  return text;
}

}  // namespace

int execute(const HookRequest& request, const client::ClientOptions& options, std::ostream& err) {
  const std::string subject = std::string(to_string(request.mode)) + " " + request.id;
  try {
    client::Client client(options);
    if (request.mode == Mode::setup) {
      setup(request, client);
      return 0;
    }
    return teardown(request, client, subject, err) ? 0 : 1;
  } catch (const Error& e) {
    err << failure_line(subject, e.what());
  } catch (const std::exception& e) {
    err << failure_line(subject, e.what());
  }
  return 1;
}

int main_entry(const std::vector<std::string>& args, std::istream& in, std::ostream& out, std::ostream& err,
               const EnvLookup& env) {
  Invocation inv;
  try {
    inv = parse_command_line(args);
  } catch (const Error& e) {
    err << kProgram << ": " << (e.context().empty() ? std::string(e.what()) : e.context()) << "\n\n" << usage();
    return 2;
  }
  if (inv.program == Program::help) {
    out << usage();
    return 0;
  }
  if (inv.program == Program::version) {
    out << kProgram << " " << SANDNET_VERSION << "\n";
    return 0;
  }
  HookRequest request;
  std::string subject;  // once known: "setup <container id>"
  try {
    if (inv.program == Program::lxc) {
      request = request_from_lxc(std::move(inv.lxc), inv.lxc_args, env);
    } else {
      OciState state = parse_state(read_all(in));
      const auto mode = inv.mode ? inv.mode : mode_for_status(state.status);
      subject = std::string(mode ? to_string(*mode) : "hook") + " " + state.id;
      request = request_from_state(inv.mode, state);
    }
  } catch (const Error& e) {
    // What the runtime or the container's author got wrong; one line.
    const std::string reason = e.context().empty() ? std::string(e.what()) : e.context();
    err << (subject.empty() ? std::string(kProgram) + ": " + reason + "\n" : failure_line(subject, reason));
    return 1;
  }
  client::ClientOptions options;
  options.socket_path = inv.socket_path;
  return execute(request, options, err);
}

}  // namespace sandnet::oci_hook
