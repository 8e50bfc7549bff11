#include "sandnet/cni/cache.hpp"

#include <sys/stat.h>

#include <array>
#include <system_error>

#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"
#include "sandnet/common/finite_json.hpp"

namespace json = boost::json;

namespace sandnet::cni {
namespace {

constexpr std::string_view kKind = "cniCacheV1";
constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string required_string(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string())
    throw_error(errc::invalid_argument, "cache entry without string \"" + std::string(key) + "\"");
  return std::string(v->as_string());
}

}  // namespace

std::string base64_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  const std::size_t rest = data.size() - i;
  if (rest > 0) {
    unsigned n = static_cast<unsigned char>(data[i]) << 16;
    if (rest == 2) n |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  std::array<int, 256> value{};
  value.fill(-1);
  for (std::size_t i = 0; i < kAlphabet.size(); ++i)
    value[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
  if (text.size() % 4 != 0)
    throw_error(errc::invalid_argument, "base64: length is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int pad = 0;
    unsigned n = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      if (c == '=' && last && j >= 2) {
        ++pad;
        n <<= 6;
        continue;
      }
      const int v = value[static_cast<unsigned char>(c)];
      if (v < 0 || pad > 0) throw_error(errc::invalid_argument, "base64: invalid character");
      n = (n << 6) | static_cast<unsigned>(v);
    }
    out += static_cast<char>((n >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(n & 0xFF);
  }
  return out;
}

std::filesystem::path ResultCache::path_for(std::string_view network,
                                            std::string_view container_id,
                                            std::string_view ifname) const {
  std::string file;
  file.append(network).append("-").append(container_id).append("-").append(ifname);
  return dir_ / "results" / file;
}

std::string ResultCache::serialize(const CachedAttachment& entry) {
  // libcni's cachedInfo field order; omitempty fields left out when empty.
  json::object o;
  o["kind"] = kKind;
  o["containerId"] = entry.container_id;
  o["config"] = base64_encode(entry.config);
  o["ifName"] = entry.ifname;
  o["networkName"] = entry.network_name;
  if (!entry.netns.empty()) o["netns"] = entry.netns;
  if (!entry.cni_args.empty()) {
    json::array args;
    for (const auto& [k, v] : entry.cni_args) args.push_back(json::array{json::string(k), json::string(v)});
    o["cniArgs"] = std::move(args);
  }
  if (!entry.capability_args.empty()) o["capabilityArgs"] = entry.capability_args;
  if (entry.result) o["result"] = *entry.result;
  return json::serialize(o);
}

CachedAttachment ResultCache::deserialize(std::string_view bytes) {
  json::error_code ec;
  json::value v = parse_finite_json(bytes, ec);
  if (ec) throw_error(errc::invalid_argument, "cache entry is not valid JSON: " + ec.message());
  if (!v.is_object()) throw_error(errc::invalid_argument, "cache entry is not a JSON object");
  const json::object& o = v.as_object();
  if (required_string(o, "kind") != kKind)
    throw_error(errc::invalid_argument, "cache entry has the wrong kind");
  CachedAttachment entry;
  entry.container_id = required_string(o, "containerId");
  entry.ifname = required_string(o, "ifName");
  entry.network_name = required_string(o, "networkName");
  if (const json::value* c = o.if_contains("config"); c && c->is_string())
    entry.config = base64_decode(c->as_string());
  if (const json::value* n = o.if_contains("netns"); n && n->is_string()) entry.netns = n->as_string();
  if (const json::value* a = o.if_contains("cniArgs"); a && a->is_array()) {
    for (const auto& pair : a->as_array()) {
      if (!pair.is_array() || pair.as_array().size() != 2 || !pair.as_array()[0].is_string() ||
          !pair.as_array()[1].is_string())
        throw_error(errc::invalid_argument, "cache entry has a malformed \"cniArgs\" pair");
      entry.cni_args.emplace_back(pair.as_array()[0].as_string(), pair.as_array()[1].as_string());
    }
  }
  if (const json::value* c = o.if_contains("capabilityArgs"); c && c->is_object())
    entry.capability_args = c->as_object();
  if (const json::value* r = o.if_contains("result"); r && r->is_object()) entry.result = r->as_object();
  return entry;
}

void ResultCache::write(const CachedAttachment& entry) const {
  const auto path = path_for(entry.network_name, entry.container_id, entry.ifname);
  with_context("write cache " + path.string(), [&] {
    fs::ensure_directory(path.parent_path(), 0700);
    // Not fsync'd, like libcni's: the entry describes an attachment that a
    // machine crash takes with it, and DEL works without the entry anyway.
    fs::write_file_atomic(path, serialize(entry), 0600, fs::Durability::atomic_only);
  });
}

std::optional<CachedAttachment> ResultCache::read(std::string_view network,
                                                  std::string_view container_id,
                                                  std::string_view ifname) const {
  const auto path = path_for(network, container_id, ifname);
  std::string bytes;
  try {
    bytes = fs::read_file(path);
  } catch (const Error& e) {
    if (e.code() == std::errc::no_such_file_or_directory) return std::nullopt;
    throw Error(e).add_context("read cache");
  }
  try {
    CachedAttachment entry = deserialize(bytes);
    // A file renamed by hand must not stand in for another attachment.
    if (entry.network_name != network || entry.container_id != container_id ||
        entry.ifname != ifname)
      return std::nullopt;
    return entry;
  } catch (const Error&) {
    return std::nullopt;  // empty or corrupt: as if absent
  }
}

void ResultCache::remove(std::string_view network, std::string_view container_id,
                         std::string_view ifname) const {
  const auto path = path_for(network, container_id, ifname);
  with_context("remove cache " + path.string(), [&] { fs::remove_file(path); });
}

std::vector<CachedAttachment> ResultCache::list(std::string_view network) const {
  return list_where([network](const CachedAttachment& e) { return e.network_name == network; });
}

std::vector<CachedAttachment> ResultCache::list_for_container(std::string_view container_id) const {
  return list_where([container_id](const CachedAttachment& e) { return e.container_id == container_id; });
}

std::vector<CachedAttachment> ResultCache::list_where(
    const std::function<bool(const CachedAttachment&)>& wanted) const {
  std::vector<CachedAttachment> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_ / "results", ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return out;
    throw Error(ec, "list cache " + (dir_ / "results").string());
  }
  for (const auto& file : it) {
    std::error_code type_ec;
    if (!file.is_regular_file(type_ec)) continue;
    try {
      CachedAttachment entry = deserialize(fs::read_file(file.path()));
      if (wanted(entry)) out.push_back(std::move(entry));
    } catch (const Error&) {
      // Corrupt entries and temp files of a concurrent write are not attachments.
    }
  }
  return out;
}

}  // namespace sandnet::cni
