#pragma once
// Helpers for the flood tests: connections from another loopback address (127.0.0.2), so a
// door's per-address bounds tell the flood from the legitimate clients on 127.0.0.1, as they
// would tell one attacking host from the others.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "runtime/transport/socket.h"

namespace prfaas::testing {

// A TCP connection to 127.0.0.1:`port` whose source address is `from` (a loopback address);
// empty when the connection failed (a refusal is the door's right).
inline transport::socket_fd connect_from(const std::string& from, uint16_t port) {
  transport::socket_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, from.c_str(), &src.sin_addr);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) return {};
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) return {};
  return s;
}

// True once the other end closed or shut the connection (EOF or reset); false while it is open.
// (Unread bytes before the end, such as a refusal's reason, do not hide it.)
inline bool closed_by_peer(const transport::socket_fd& s) {
  if (!s) return true;
  pollfd p{s.get(), POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

inline long closed_count(const std::vector<transport::socket_fd>& v) {
  return std::count_if(v.begin(), v.end(), [](const auto& s) { return closed_by_peer(s); });
}

}  // namespace prfaas::testing
