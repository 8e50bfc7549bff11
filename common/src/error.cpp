#include "sandnet/common/error.hpp"

#include <cerrno>

namespace sandnet {
namespace {

class SandnetCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sandnet"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok: return "success";
      case errc::invalid_argument: return "invalid argument";
      case errc::not_found: return "not found";
      case errc::already_exists: return "already exists";
      case errc::permission_denied: return "permission denied";
      case errc::plugin_failed: return "plugin failed";
      case errc::timeout: return "timed out";
      case errc::protocol_error: return "protocol error";
      case errc::process_gone: return "process gone";
      case errc::busy: return "busy";
      case errc::unavailable: return "unavailable";
      case errc::internal: return "internal error";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& sandnet_category() noexcept {
  static const SandnetCategory category;
  return category;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), sandnet_category()}; }

Error::Error(std::error_code code, std::string context) : code_(code), context_(std::move(context)) {
  rebuild();
}

Error Error::from_errno(std::string context) { return from_errno(errno, std::move(context)); }

Error Error::from_errno(int err, std::string context) {
  return Error(std::error_code(err, std::generic_category()), std::move(context));
}

Error& Error::add_context(std::string_view outer) {
  if (!outer.empty()) {
    context_ = context_.empty() ? std::string(outer) : std::string(outer) + ": " + context_;
    rebuild();
  }
  return *this;
}

Error& Error::set_cni(CniErrorInfo info) {
  cni_ = std::move(info);
  rebuild();
  return *this;
}

void Error::rebuild() {
  std::string detail;
  if (cni_ && !cni_->msg.empty()) {
    detail = cni_->msg;
    if (!cni_->details.empty()) detail += " (" + cni_->details + ")";
  } else {
    detail = code_.message();
  }
  what_ = context_.empty() ? detail : context_ + ": " + detail;
}

void throw_errno(std::string context) { throw Error::from_errno(std::move(context)); }
void throw_errno(int err, std::string context) { throw Error::from_errno(err, std::move(context)); }
void throw_error(errc e, std::string context) { throw Error(e, std::move(context)); }

}  // namespace sandnet
