#include "sandnet/hostnet/nft.hpp"

#include <nftables/libnftables.h>

#include <boost/json/parse.hpp>
#include <memory>
#include <mutex>

#include "sandnet/common/error.hpp"

namespace sandnet::hostnet {
namespace {

constexpr std::size_t kMaxNameBytes = 31;

std::mutex& nft_mutex() {
  static std::mutex m;
  return m;
}

struct CtxDeleter {
  void operator()(nft_ctx* ctx) const { nft_ctx_free(ctx); }
};
using CtxPtr = std::unique_ptr<nft_ctx, CtxDeleter>;

// The trimmed error output of a failed run: nft prints the command with a
// caret line under the bad part; the whole text is what an operator needs.
std::string trimmed(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "nftables reported no reason" : s;
}

// Runs text with output and errors captured; returns the output.
std::string run(std::string_view text, std::string_view what, bool json_output) {
  std::lock_guard lock(nft_mutex());
  CtxPtr ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) throw_error(errc::internal, std::string(what) + ": nftables: cannot create a context");
  if (json_output) nft_ctx_output_set_flags(ctx.get(), NFT_CTX_OUTPUT_JSON);
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0)
    throw_error(errc::internal, std::string(what) + ": nftables: cannot capture output");
  std::string buffer(text);  // libnftables wants a NUL-terminated string
  if (nft_run_cmd_from_buffer(ctx.get(), buffer.c_str()) != 0)
    throw_error(errc::internal, std::string(what) + ": nftables: " + trimmed(nft_ctx_get_error_buffer(ctx.get())));
  const char* out = nft_ctx_get_output_buffer(ctx.get());
  return out ? out : "";
}

}  // namespace

NftName NftName::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    throw_error(errc::invalid_argument, "invalid nftables name \"" + std::string(text) + "\": " + std::string(why));
  };
  if (text.empty()) bad("empty");
  if (text.size() > kMaxNameBytes) bad("longer than 31 bytes");
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!letter(text.front())) bad("must start with a letter");
  for (char c : text) {
    if (!letter(c) && !(c >= '0' && c <= '9') && c != '_' && c != '-') bad("only letters, digits, '_' and '-'");
  }
  NftName n;
  n.name_ = std::string(text);
  return n;
}

void run_nft_batch(std::string_view commands, std::string_view what) { run(commands, what, false); }

boost::json::value list_nft_json(std::string_view command, std::string_view what) {
  std::string out = run(command, what, true);
  boost::system::error_code ec;
  auto value = boost::json::parse(out, ec);
  if (ec) throw_error(errc::internal, std::string(what) + ": nftables printed JSON that does not parse: " + ec.message());
  return value;
}

}  // namespace sandnet::hostnet
