#include "sandnet/common/validate.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <string>

#include "sandnet/common/error.hpp"

namespace sandnet::validate {
namespace {

bool is_alnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool matches_id_pattern(std::string_view s) noexcept {
  if (s.empty() || !is_alnum(s.front())) return false;
  for (char c : s) {
    if (!is_alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

// Quotes a caller string for an error message without echoing control bytes.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s.substr(0, 64)) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 64) out += "...";
  return out + "\"";
}

}  // namespace

bool is_container_id(std::string_view id) noexcept { return matches_id_pattern(id); }

void container_id(std::string_view id) {
  if (id.empty()) throw_error(errc::invalid_argument, "container ID is empty");
  if (!matches_id_pattern(id))
    throw_error(errc::invalid_argument,
                "invalid container ID " + quoted(id) + ": must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$");
}

void sandbox_id(std::string_view id) {
  if (id.size() > kMaxSandboxIdLength)
    throw_error(errc::invalid_argument, "sandbox ID " + quoted(id) + " is " + std::to_string(id.size()) +
                                            " bytes long; at most " + std::to_string(kMaxSandboxIdLength));
  container_id(id);
}

bool is_ip_address(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
  const std::string s(text);
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool is_cidr(std::string_view text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash + 1 == text.size()) return false;
  const std::string_view address = text.substr(0, slash), prefix = text.substr(slash + 1);
  if (!is_ip_address(address)) return false;
  unsigned bits = 0;
  const auto [end, ec] = std::from_chars(prefix.data(), prefix.data() + prefix.size(), bits);
  if (ec != std::errc() || end != prefix.data() + prefix.size()) return false;
  return bits <= (address.find(':') != std::string_view::npos ? 128u : 32u);
}

bool is_network_name(std::string_view name) noexcept { return matches_id_pattern(name); }

void network_name(std::string_view name) {
  if (name.empty()) throw_error(errc::invalid_argument, "network name is empty");
  if (!matches_id_pattern(name))
    throw_error(errc::invalid_argument,
                "invalid network name " + quoted(name) + ": must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$");
}

bool is_interface_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  for (unsigned char c : name) {
    if (c == '/' || c == ':' || c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

void interface_name(std::string_view name) {
  if (name.empty()) throw_error(errc::invalid_argument, "interface name is empty");
  if (name.size() > 15)
    throw_error(errc::invalid_argument, "interface name " + quoted(name) + " is longer than 15 bytes");
  if (!is_interface_name(name))
    throw_error(errc::invalid_argument, "invalid interface name " + quoted(name) +
                                            ": must not be . or .. nor contain /, : or whitespace");
}

void cni_arg_key(std::string_view key) {
  if (key.empty()) throw_error(errc::invalid_argument, "CNI argument key is empty");
  for (unsigned char c : key) {
    if (c <= 0x20 || c == 0x7f || c == ';' || c == '=')
      throw_error(errc::invalid_argument, "invalid CNI argument key " + quoted(key));
  }
}

void cni_arg_value(std::string_view value) {
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f || c == ';')
      throw_error(errc::invalid_argument, "invalid CNI argument value " + quoted(value));
  }
}

}  // namespace sandnet::validate
