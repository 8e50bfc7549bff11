// sndt-spoof: what a hostile sandbox sends, for the anti-spoofing tests. Run
// inside the sandbox (nsenter into its user + network namespace, as its root):
//   sndt-spoof udp SRC_IP DST_IP PORT TEXT  one UDP datagram from SRC_IP (bound, so
//                                           SRC_IP must be on an interface)
//   sndt-spoof garp IFACE IP                 gratuitous ARP requests: "IP is at IFACE's MAC"
//   sndt-spoof ra IFACE PREFIX               a router advertisement of PREFIX/64 (SLAAC;
//                                           router lifetime 0: no default route)
//   sndt-spoof na IFACE IP6                  unsolicited neighbour advertisements (override):
//                                           "IP6 is at IFACE's MAC", from IFACE's link-local
// Exit 0 when the frames left the socket; what the network did with them is
// for the test to observe.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

int fail(const char* what) {
  std::perror(what);
  return 1;
}

struct Iface {
  int index = 0;
  std::uint8_t mac[6] = {};
};

bool iface_of(const char* name, Iface& out) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq req{};
  std::strncpy(req.ifr_name, name, IFNAMSIZ - 1);
  bool ok = ::ioctl(fd, SIOCGIFHWADDR, &req) == 0;
  if (ok) std::memcpy(out.mac, req.ifr_hwaddr.sa_data, 6);
  ok = ok && ::ioctl(fd, SIOCGIFINDEX, &req) == 0;
  if (ok) out.index = req.ifr_ifindex;
  ::close(fd);
  return ok;
}

int send_frame(const Iface& iface, const std::vector<std::uint8_t>& frame, int times) {
  int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("AF_PACKET socket");
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = iface.index;
  to.sll_halen = 6;
  std::memcpy(to.sll_addr, frame.data(), 6);
  for (int i = 0; i < times; ++i) {
    if (::sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
      return fail("sendto");
    ::usleep(50 * 1000);
  }
  ::close(fd);
  return 0;
}

void put16(std::vector<std::uint8_t>& f, std::uint16_t v) {
  f.push_back(static_cast<std::uint8_t>(v >> 8));
  f.push_back(static_cast<std::uint8_t>(v));
}
void put32(std::vector<std::uint8_t>& f, std::uint32_t v) {
  put16(f, static_cast<std::uint16_t>(v >> 16));
  put16(f, static_cast<std::uint16_t>(v));
}
void put(std::vector<std::uint8_t>& f, const std::uint8_t* p, std::size_t n) { f.insert(f.end(), p, p + n); }

int udp(const char* src, const char* dst, const char* port, const char* text) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket");
  sockaddr_in from{}, to{};
  from.sin_family = to.sin_family = AF_INET;
  if (::inet_pton(AF_INET, src, &from.sin_addr) != 1 || ::inet_pton(AF_INET, dst, &to.sin_addr) != 1) {
    std::fprintf(stderr, "bad address\n");
    return 2;
  }
  to.sin_port = htons(static_cast<std::uint16_t>(std::stoi(port)));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return fail("bind");
  for (int i = 0; i < 3; ++i) {
    if (::sendto(fd, text, std::strlen(text), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) return fail("sendto");
    ::usleep(50 * 1000);
  }
  ::close(fd);
  return 0;
}

int garp(const char* ifname, const char* ip) {
  Iface iface;
  if (!iface_of(ifname, iface)) return fail(ifname);
  in_addr addr{};
  if (::inet_pton(AF_INET, ip, &addr) != 1) return 2;
  const std::uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  std::vector<std::uint8_t> f;
  put(f, broadcast, 6);
  put(f, iface.mac, 6);
  put16(f, ETHERTYPE_ARP);
  put16(f, 1);       // htype Ethernet
  put16(f, 0x0800);  // ptype IPv4
  f.push_back(6);
  f.push_back(4);
  put16(f, 1);  // request
  put(f, iface.mac, 6);
  put(f, reinterpret_cast<const std::uint8_t*>(&addr), 4);  // sender: the claimed address
  const std::uint8_t zero[6] = {};
  put(f, zero, 6);
  put(f, reinterpret_cast<const std::uint8_t*>(&addr), 4);  // target: the same (gratuitous)
  return send_frame(iface, f, 3);
}

std::uint16_t checksum(const std::vector<std::uint8_t>& data) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < data.size(); i += 2) sum += (data[i] << 8) | data[i + 1];
  if (data.size() % 2) sum += data.back() << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

// Sends icmp (checksum bytes 2-3 filled in here) to all nodes (ff02::1) from
// a link-local address made from the MAC (EUI-64), hop limit 255 as ND needs.
int send_icmpv6_to_all_nodes(const Iface& iface, std::vector<std::uint8_t> icmp) {
  std::uint8_t src[16] = {0xfe, 0x80};
  src[8] = iface.mac[0] ^ 0x02;
  src[9] = iface.mac[1];
  src[10] = iface.mac[2];
  src[11] = 0xff;
  src[12] = 0xfe;
  src[13] = iface.mac[3];
  src[14] = iface.mac[4];
  src[15] = iface.mac[5];
  std::uint8_t dst[16] = {0xff, 0x02};
  dst[15] = 0x01;

  std::vector<std::uint8_t> pseudo;
  put(pseudo, src, 16);
  put(pseudo, dst, 16);
  put32(pseudo, static_cast<std::uint32_t>(icmp.size()));
  put32(pseudo, 58);
  pseudo.insert(pseudo.end(), icmp.begin(), icmp.end());
  std::uint16_t sum = checksum(pseudo);
  icmp[2] = static_cast<std::uint8_t>(sum >> 8);
  icmp[3] = static_cast<std::uint8_t>(sum);

  const std::uint8_t all_nodes_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
  std::vector<std::uint8_t> f;
  put(f, all_nodes_mac, 6);
  put(f, iface.mac, 6);
  put16(f, ETHERTYPE_IPV6);
  put32(f, 0x60000000);  // version 6
  put16(f, static_cast<std::uint16_t>(icmp.size()));
  f.push_back(58);   // next header ICMPv6
  f.push_back(255);  // hop limit
  put(f, src, 16);
  put(f, dst, 16);
  f.insert(f.end(), icmp.begin(), icmp.end());
  return send_frame(iface, f, 3);
}

int na(const char* ifname, const char* target_text) {
  Iface iface;
  if (!iface_of(ifname, iface)) return fail(ifname);
  in6_addr target{};
  if (::inet_pton(AF_INET6, target_text, &target) != 1) return 2;
  std::vector<std::uint8_t> icmp;
  icmp.push_back(136);  // neighbour advertisement
  icmp.push_back(0);
  put16(icmp, 0);       // checksum
  put32(icmp, 0x20000000);  // override, not solicited, not a router
  put(icmp, target.s6_addr, 16);
  icmp.push_back(2);  // option: target link-layer address
  icmp.push_back(1);
  put(icmp, iface.mac, 6);
  return send_icmpv6_to_all_nodes(iface, icmp);
}

int ra(const char* ifname, const char* prefix_text) {
  Iface iface;
  if (!iface_of(ifname, iface)) return fail(ifname);
  in6_addr prefix{};
  if (::inet_pton(AF_INET6, prefix_text, &prefix) != 1) return 2;

  std::vector<std::uint8_t> icmp;
  icmp.push_back(134);  // router advertisement
  icmp.push_back(0);
  put16(icmp, 0);  // checksum, below
  icmp.push_back(64);  // cur hop limit
  icmp.push_back(0);   // flags
  put16(icmp, 0);      // router lifetime 0: not a default router
  put32(icmp, 0);      // reachable time
  put32(icmp, 0);      // retrans timer
  icmp.push_back(3);   // option: prefix information
  icmp.push_back(4);   // length in units of 8 bytes
  icmp.push_back(64);  // prefix length
  icmp.push_back(0xc0);  // on-link, autonomous
  put32(icmp, 3600);     // valid lifetime
  put32(icmp, 1800);     // preferred lifetime
  put32(icmp, 0);
  put(icmp, prefix.s6_addr, 16);
  return send_icmpv6_to_all_nodes(iface, icmp);
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "udp" && argc == 6) return udp(argv[2], argv[3], argv[4], argv[5]);
  if (mode == "garp" && argc == 4) return garp(argv[2], argv[3]);
  if (mode == "ra" && argc == 4) return ra(argv[2], argv[3]);
  if (mode == "na" && argc == 4) return na(argv[2], argv[3]);
  std::fprintf(stderr, "usage: sndt-spoof udp SRC DST PORT TEXT | garp IFACE IP | ra IFACE PREFIX | na IFACE IP6\n");
  return 2;
}
