#pragma once
// Helpers for the flood tests: connections from another loopback address (127.0.0.2), so a
// door's per-address bounds tell the flood from the legitimate clients on 127.0.0.1, as they
// would tell one attacking host from the others.

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <cerrno>
#include <string>
#include <vector>

#include "runtime/transport/socket.h"

namespace prfaas::testing {

// A TCP connection to 127.0.0.1:`port` whose source address is `from` (a loopback address);
// empty when the connection failed (a refusal is the door's right).
// `wait` false: the connection is only begun (a flood does not wait for a busy listener).
inline transport::socket_fd connect_from(const std::string& from, uint16_t port, bool wait = true) {
  transport::socket_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (wait ? 0 : SOCK_NONBLOCK), 0));
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, from.c_str(), &src.sin_addr);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) return {};
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && (wait || errno != EINPROGRESS)) return {};
  return s;
}

// True while the connection is established and the other end has not closed it: what a door
// still holds open for the flood.
inline bool held_open(const transport::socket_fd& s) {
  if (!s) return false;
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(s.get(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0 || info.tcpi_state != TCP_ESTABLISHED) return false;
  pollfd p{s.get(), POLLRDHUP, 0};
  return !(::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)));
}

inline long held_open_count(const std::vector<transport::socket_fd>& v) {
  return std::count_if(v.begin(), v.end(), [](const auto& s) { return held_open(s); });
}

// The sockets process `pid` holds open now: what a door lets a flood cost it.
inline long socket_descriptors(pid_t pid) {
  long n = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = ::opendir(dir.c_str())) {
    char target[64];
    while (dirent* e = ::readdir(d)) {
      const ssize_t len = ::readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
      if (len > 0 && std::string(target, static_cast<size_t>(len)).rfind("socket:", 0) == 0) ++n;
    }
    ::closedir(d);
  }
  return n;
}

// The TCP connections process `pid` holds in state ESTABLISHED with peer address `from`
// (IPv4): what a door still keeps open for that address (a connection it shut down is no
// longer established, even while its descriptor waits to be closed).
inline long established_from(pid_t pid, const std::string& from) {
  std::set<std::string> inodes;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = ::opendir(dir.c_str())) {
    char target[64];
    while (dirent* e = ::readdir(d)) {
      const ssize_t len = ::readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
      const std::string t(target, static_cast<size_t>(std::max<ssize_t>(len, 0)));
      if (t.rfind("socket:[", 0) == 0) inodes.insert(t.substr(8, t.size() - 9));
    }
    ::closedir(d);
  }
  in_addr a{};
  ::inet_pton(AF_INET, from.c_str(), &a);
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08X", a.s_addr);  // /proc/net/tcp writes the address as a host-order word
  std::ifstream table("/proc/" + std::to_string(pid) + "/net/tcp");
  std::string line;
  std::getline(table, line);  // the header
  long n = 0;
  while (std::getline(table, line)) {
    std::istringstream in(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    in >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    if (state == "01" && remote.rfind(hex, 0) == 0 && inodes.count(inode)) ++n;
  }
  return n;
}

// Many sockets need many descriptors: the soft limit up to the hard one.
inline void raise_descriptor_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
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
