// nftables through libnftables, in-process (sandnet never execs nft or
// iptables). Every call is one netlink transaction: a batch text of many
// commands is committed together or not at all. Blocking; callable from any
// thread (calls are serialised on one context the process keeps).
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

namespace sandnet::hostnet {

// A table, chain, set or map name sandnet writes into nft command text
// unquoted: a letter, then letters, digits, '_', '-' or '.', at most 255
// bytes (the kernel's limit since Linux 4.15). parse() throws
// Error(invalid_argument) for anything else.
class NftName {
 public:
  static NftName parse(std::string_view text);
  const std::string& str() const noexcept { return name_; }
  friend bool operator==(const NftName&, const NftName&) = default;

 private:
  std::string name_;
};

// Runs commands (nft syntax, one per line) as one transaction. On failure
// throws Error naming what and carrying nft's error output (the failing
// command and the kernel's reason); nothing of the batch is applied then.
void run_nft_batch(std::string_view commands, std::string_view what);

// Runs one "list ..." command and returns its JSON output ({"nftables":[...]}).
boost::json::value list_nft_json(std::string_view command, std::string_view what);

}  // namespace sandnet::hostnet
