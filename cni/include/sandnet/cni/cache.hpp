// libcni-compatible result cache: <cacheDir>/results/<network>-<cid>-<ifname>
// holding {"kind":"cniCacheV1","containerId":..,"config":<base64>,"ifName":..,
// "networkName":..,"netns":..,"cniArgs":[[k,v]..],"capabilityArgs":{..},
// "result":{..}}; dir 0700, file 0600, written atomically. Attachments made by
// sandnet are readable by libcni tools sharing the cache dir, and back.
#pragma once

#include <boost/json.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sandnet::cni {

struct CachedAttachment {
  std::string container_id;
  std::string ifname;
  std::string network_name;
  std::string netns;
  std::string config;  // network list bytes (decoded from base64)
  std::vector<std::pair<std::string, std::string>> cni_args;
  boost::json::object capability_args;
  std::optional<boost::json::object> result;
};

// Standard base64 with padding (Go's encoding/json []byte encoding).
std::string base64_encode(std::string_view data);
// Throws Error(invalid_argument) on bad input.
std::string base64_decode(std::string_view text);

class ResultCache {
 public:
  explicit ResultCache(std::filesystem::path cache_dir) : dir_(std::move(cache_dir)) {}

  const std::filesystem::path& dir() const noexcept { return dir_; }
  std::filesystem::path path_for(std::string_view network, std::string_view container_id,
                                 std::string_view ifname) const;

  // Serializes in libcni's field order. Throws Error naming the path.
  static std::string serialize(const CachedAttachment& entry);
  // Throws Error(invalid_argument) when bytes are not a cniCacheV1 entry.
  static CachedAttachment deserialize(std::string_view bytes);

  void write(const CachedAttachment& entry) const;
  // A missing, empty or corrupt entry reads as absent.
  std::optional<CachedAttachment> read(std::string_view network, std::string_view container_id,
                                       std::string_view ifname) const;
  // A missing entry is fine; throws on other errors.
  void remove(std::string_view network, std::string_view container_id,
              std::string_view ifname) const;
  // Every readable entry whose networkName is network (corrupt ones skipped).
  std::vector<CachedAttachment> list(std::string_view network) const;
  // Every readable entry of container_id, on any network.
  std::vector<CachedAttachment> list_for_container(std::string_view container_id) const;

 private:
  std::vector<CachedAttachment> list_where(const std::function<bool(const CachedAttachment&)>& wanted) const;

  std::filesystem::path dir_;
};

}  // namespace sandnet::cni
