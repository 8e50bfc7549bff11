// What the end-to-end tests check in a networked pod: the address the CNI
// result gave it, and HTTP to it with busybox nc.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdint>
#include <string>

#include "sandnet/common/protocol.hpp"

namespace sandnet::test::e2e {

namespace json = boost::json;

// The parts of a CNI 1.0 result a runtime uses.
struct PodAddress {
  std::string cidr;        // "10.204.3.2/24"
  std::string ip;          // "10.204.3.2"
  std::string gateway;
  std::string host_veth;   // the host-side interface (no "sandbox" key)
};

inline PodAddress address_of(const protocol::SandboxInfo& info) {
  PodAddress a;
  if (info.attachments.size() != 1) {
    ADD_FAILURE() << "expected one attachment, got " << info.attachments.size();
    return a;
  }
  const json::object& result = info.attachments[0].result.as_object();
  const json::array& ips = result.at("ips").as_array();
  if (ips.empty()) {
    ADD_FAILURE() << "result has no ips: " << json::serialize(result);
    return a;
  }
  a.cidr = std::string(ips[0].at("address").as_string());
  a.ip = a.cidr.substr(0, a.cidr.find('/'));
  if (auto* gw = ips[0].as_object().if_contains("gateway")) a.gateway = std::string(gw->as_string());
  for (const auto& iface : result.at("interfaces").as_array()) {
    const auto& o = iface.as_object();
    if (!o.contains("sandbox") && o.at("name").as_string().starts_with("veth"))
      a.host_veth = std::string(o.at("name").as_string());
  }
  return a;
}

// Inside the policy range of the tests (30000-32767), varied so reruns do not
// collide with a conntrack entry of an earlier run; slot (0-4) tells apart
// the tests of one run.
inline std::uint16_t pick_host_port(unsigned slot = 0) {
  return static_cast<std::uint16_t>(30000 + (static_cast<unsigned>(::getpid()) % 500) * 5 + slot % 5);
}

// A shell one-liner that GETs / from ip:port with busybox nc, retrying while
// the server starts (httpd may not be listening yet when the pod is set up).
inline std::string http_get_script(const std::string& ip, std::uint16_t port) {
  return "for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 5 " + ip + " " +
         std::to_string(port) + " && exit 0; sleep 0.5; done; exit 1";
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace sandnet::test::e2e
