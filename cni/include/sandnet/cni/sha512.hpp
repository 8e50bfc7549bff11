// SHA-512 (FIPS 180-4), for cnitool's container-ID derivation.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace sandnet::cni {

std::array<std::uint8_t, 64> sha512(std::string_view data);
std::string sha512_hex(std::string_view data);

// cnitool's container ID for a netns path: "cnitool-" + the first 20 hex
// digits of SHA-512 of the absolute path (made absolute against the current
// directory, lexically normalized as Go's filepath.Abs does).
std::string cnitool_container_id(std::string_view netns_path);

}  // namespace sandnet::cni
