#include "sandnet/hostnet/nft.hpp"

#include <nftables/libnftables.h>

#include <boost/json/parse.hpp>
#include <mutex>

#include "sandnet/common/error.hpp"

namespace sandnet::hostnet {
namespace {

// NFT_NAME_MAXLEN (256 with the NUL) since Linux 4.15.
constexpr std::size_t kMaxNameBytes = 255;

// One libnftables context for the process, used under a mutex: closing a
// context's netlink socket after a commit costs ~10-20 ms here (the kernel
// waits out an RCU grace period), more than the batch itself; libnftables
// refreshes its cache when the ruleset generation changed, so a kept
// context sees what others did meanwhile.
struct Nft {
  std::mutex mutex;
  nft_ctx* ctx = nullptr;
};

Nft& nft() {
  static Nft n;
  return n;
}

// The trimmed error output of a failed run: nft prints the command with a
// caret line under the bad part; the whole text is what an operator needs.
std::string trimmed(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "nftables reported no reason" : s;
}

// Runs text with output and errors captured; returns the output.
std::string run(std::string_view text, std::string_view what, bool json_output) {
  Nft& n = nft();
  std::lock_guard lock(n.mutex);
  if (!n.ctx) n.ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!n.ctx) throw_error(errc::internal, std::string(what) + ": nftables: cannot create a context");
  nft_ctx_output_set_flags(n.ctx, json_output ? NFT_CTX_OUTPUT_JSON : 0);
  // Fresh capture buffers per run, so nothing of an earlier run shows.
  nft_ctx_unbuffer_output(n.ctx);
  nft_ctx_unbuffer_error(n.ctx);
  if (nft_ctx_buffer_output(n.ctx) != 0 || nft_ctx_buffer_error(n.ctx) != 0)
    throw_error(errc::internal, std::string(what) + ": nftables: cannot capture output");
  std::string buffer(text);  // libnftables wants a NUL-terminated string
  if (nft_run_cmd_from_buffer(n.ctx, buffer.c_str()) != 0)
    throw_error(errc::internal, std::string(what) + ": nftables: " + trimmed(nft_ctx_get_error_buffer(n.ctx)));
  const char* out = nft_ctx_get_output_buffer(n.ctx);
  return out ? out : "";
}

}  // namespace

NftName NftName::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    throw_error(errc::invalid_argument, "invalid nftables name \"" + std::string(text) + "\": " + std::string(why));
  };
  if (text.empty()) bad("empty");
  if (text.size() > kMaxNameBytes) bad("longer than 255 bytes");
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!letter(text.front())) bad("must start with a letter");
  for (char c : text) {
    if (!letter(c) && !(c >= '0' && c <= '9') && c != '_' && c != '-' && c != '.')
      bad("only letters, digits, '_', '-' and '.'");
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
