// The accept limit (runtime/security/accept_limit.h) in front of every listening port this
// process names: CAF (plain and OpenSSL) and cpp-httplib accept through libc's accept(), which
// the executable's definition here takes the place of (as SSL_read's in basp_door.cpp).  A
// connection over its address's rate is closed at once, before the library that owns the port
// builds anything for it; the refusal is counted and logged, at most ten lines a second.

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "actors/actor_plane.hpp"
#include "actors/ssl_interpose.hpp"
#include "runtime/common/log_budget.h"
#include "runtime/common/socket_address.h"

namespace prfaas::actors {
namespace {

struct accept_door {
  std::atomic<bool> any{false};  // the fast path: no port limited in this process
  std::mutex mutex;
  std::map<uint16_t, std::unique_ptr<security::accept_limit>> ports;
  std::map<uint16_t, std::weak_ptr<security::connection_guard>> guards;  // told of each connection let in
  log_budget log{10, std::chrono::seconds(1)};
};

accept_door& the_accept_door() {
  static accept_door d;  // process-wide by nature: accept() itself is
  return d;
}

// True when the connection from `peer` on listening socket `listener` may go on.
bool admitted(int listener, const sockaddr_storage& peer) {
  auto& d = the_accept_door();
  const auto local = local_address(listener);
  const uint16_t port = local ? port_number(*local) : 0;
  std::lock_guard lock(d.mutex);
  auto it = d.ports.find(port);
  if (it == d.ports.end()) return true;
  const auto now = std::chrono::steady_clock::now();
  const std::string address = host_text(peer);
  if (it->second->admit(address, now)) {
    if (auto g = d.guards.find(port); g != d.guards.end())
      if (auto guard = g->second.lock()) guard->notice();
    return true;
  }
  if (const auto held = d.log.allow(now))
    spdlog::warn("accept limit: closed a connection from {} on port {}: over its rate of new connections{}", address,
                 port, log_budget::held_note(*held));
  return false;
}

}  // namespace

std::shared_ptr<security::connection_guard> guard_port(uint16_t port, security::accept_limit_options accepts,
                                                       security::guard_options guarding) {
  auto guard = std::make_shared<security::connection_guard>(port, guarding);
  auto& d = the_accept_door();
  std::lock_guard lock(d.mutex);
  d.ports[port] = std::make_unique<security::accept_limit>(accepts);
  d.guards[port] = guard;
  d.any = true;
  return guard;
}

}  // namespace prfaas::actors

extern "C" int accept(int fd, sockaddr* addr, socklen_t* len) {
  static const auto real = prfaas::actors::next_definition<int (*)(int, sockaddr*, socklen_t*)>("accept");
  if (!prfaas::actors::the_accept_door().any) return real(fd, addr, len);
  for (;;) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    const int c = real(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len);
    if (c < 0) return c;  // nothing more to accept (a non-blocking listener), or the caller's error
    if (prfaas::actors::admitted(fd, peer)) {
      if (addr && len) {
        std::memcpy(addr, &peer, std::min<size_t>(*len, peer_len));
        *len = peer_len;
      }
      return c;
    }
    ::close(c);  // over the rate: the next pending connection, if any
  }
}
