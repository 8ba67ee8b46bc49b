#pragma once
// A socket's addresses as the logs and the per-address bounds name them: "10.0.0.7" (the host a
// peer's slots and rates are counted by) and "10.0.0.7:51234" (one connection).  Each door
// (actor plane, gateway, KV receiver, accept limit) names peers through these, so one host is
// one name everywhere.
//
//   if (auto peer = peer_address(fd)) limit.admit(host_text(*peer), now);

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

namespace prfaas {

std::string host_text(const sockaddr_storage& a);       // "?" for a family other than IPv4/IPv6
uint16_t port_number(const sockaddr_storage& a);        // 0 for a family other than IPv4/IPv6
std::string host_port_text(const sockaddr_storage& a);  // host_text ":" port_number
std::optional<sockaddr_storage> peer_address(int fd);   // getpeername; nothing when it fails
std::optional<sockaddr_storage> local_address(int fd);  // getsockname; nothing when it fails

}  // namespace prfaas
