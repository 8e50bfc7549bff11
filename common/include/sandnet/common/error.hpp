// The one error type of sandnet: a std::error_code plus a context chain
// ("setup pod1: bridge: add veth: File exists"), and the CNI error object
// when a plugin failed. Thrown as an exception inside the libraries; the
// daemon's session boundary turns it into a JSON-RPC error reply.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace sandnet {

// sandnet's own conditions, for failures that are not an errno.
enum class errc {
  ok = 0,
  invalid_argument = 1,  // bad input from a caller or a config file
  not_found,             // unknown sandbox, network, plugin, ...
  already_exists,        // a conflicting object exists
  permission_denied,     // refused by the security policy
  plugin_failed,         // a CNI plugin returned an error
  timeout,               // a deadline passed
  protocol_error,        // malformed message on the wire
  process_gone,          // the sandbox process exited or its PID was reused
  busy,                  // a limit was reached; try again later
  unavailable,           // the daemon cannot serve this now (shutting down)
  internal,              // a bug or an impossible state
};

const std::error_category& sandnet_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

// The CNI error object (SPEC "Error"): {"code":N,"msg":"...","details":"..."}.
struct CniErrorInfo {
  std::uint32_t code = 0;
  std::string msg;
  std::string details;
};

class Error : public std::exception {
 public:
  Error(std::error_code code, std::string context);
  Error(errc code, std::string context) : Error(make_error_code(code), std::move(context)) {}

  // An Error from the current errno.
  static Error from_errno(std::string context);
  static Error from_errno(int err, std::string context);

  const std::error_code& code() const noexcept { return code_; }
  // The context chain without the code's message: "setup pod1: bridge".
  const std::string& context() const noexcept { return context_; }
  // "context: message of the code" (or the CNI msg when there is one).
  const char* what() const noexcept override { return what_.c_str(); }

  // Prepends "outer: " to the context.
  Error& add_context(std::string_view outer);

  const std::optional<CniErrorInfo>& cni() const noexcept { return cni_; }
  Error& set_cni(CniErrorInfo info);

  bool is(errc e) const noexcept { return code_ == make_error_code(e); }

 private:
  void rebuild();

  std::error_code code_;
  std::string context_;
  std::optional<CniErrorInfo> cni_;
  std::string what_;
};

[[noreturn]] void throw_errno(std::string context);
[[noreturn]] void throw_errno(int err, std::string context);
[[noreturn]] void throw_error(errc e, std::string context);

// Runs f(); an Error thrown from it gets "ctx: " prepended. Other exceptions
// pass through unchanged (the server reports them as internal errors).
template <class F>
decltype(auto) with_context(std::string_view ctx, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (Error& e) {
    e.add_context(ctx);
    throw;
  }
}

}  // namespace sandnet

template <>
struct std::is_error_code_enum<sandnet::errc> : std::true_type {};
