// A deadline for the TLS handshakes this process starts on the actor plane.  CAF's OpenSSL module
// gives them none: a connection to a stopped peer (its kernel accepts, its process never
// answers) stays in the multiplexer for as long as the peer is stopped, and an actor system's
// shutdown waits for it: the CLI hung at exit after asking a router that was SIGSTOPped.
//
// SSL_connect (openssl_error_queue.cpp) registers a handshake here with a duplicate of its
// socket; SSL_read and SSL_write, through which OpenSSL carries the rest of it, unregister it
// once it finished.  A watchdog thread shuts down (never closes) a socket still in its handshake
// at the deadline, which CAF then handles as an ordinary disconnect.  The duplicate names the
// socket itself, not a descriptor number CAF may have closed and reused meanwhile.  Accepted
// connections have their own bound (runtime/security/connection_guard.h).

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "runtime/common/log_budget.h"
#include "runtime/common/socket_address.h"

namespace prfaas::actors {
namespace {

// As long as a caller of remote_actor waits by default (actor_plane.hpp): a handshake nobody
// waits for any more is of no use.
constexpr auto kHandshakeDeadline = std::chrono::seconds(3);

struct pending_handshake {
  int socket = -1;  // a duplicate, owned here
  std::chrono::steady_clock::time_point deadline;
};

struct handshakes {
  std::atomic<int> count{0};  // the fast path of every SSL_read: none pending
  std::mutex mutex;
  std::condition_variable wake;
  std::map<const SSL*, pending_handshake> pending;
  bool watching = false;
  log_budget log{10, std::chrono::seconds(1)};
};

handshakes& the_handshakes() {
  // Process-wide by nature (SSL_connect itself is), and never destroyed: its watchdog thread
  // waits on it until the process ends.
  static handshakes* h = new handshakes;
  return *h;
}

void forget_locked(handshakes& h, std::map<const SSL*, pending_handshake>::iterator it) {
  ::close(it->second.socket);
  h.pending.erase(it);
  h.count.store(static_cast<int>(h.pending.size()), std::memory_order_relaxed);
}

// Sleeps until the earliest deadline (or a new handshake), then shuts what is past it.
void watch() {
  auto& h = the_handshakes();
  std::unique_lock lock(h.mutex);
  for (;;) {
    if (h.pending.empty()) {
      h.wake.wait(lock);
      continue;
    }
    auto earliest = h.pending.begin()->second.deadline;
    for (const auto& [ssl, p] : h.pending) earliest = std::min(earliest, p.deadline);
    const auto now = std::chrono::steady_clock::now();
    if (now < earliest) {
      h.wake.wait_until(lock, earliest);
      continue;
    }
    for (auto it = h.pending.begin(); it != h.pending.end();) {
      auto next = std::next(it);
      if (it->second.deadline <= now) {
        const auto peer = peer_address(it->second.socket);
        ::shutdown(it->second.socket, SHUT_RDWR);
        if (const auto held = h.log.allow(now))
          spdlog::warn("actor plane: the TLS handshake with {} did not finish within {} s: connection closed{}",
                       peer ? host_text(*peer) : std::string("a peer"),
                       std::chrono::duration_cast<std::chrono::seconds>(kHandshakeDeadline).count(),
                       log_budget::held_note(*held));
        forget_locked(h, it);
      }
      it = next;
    }
  }
}

bool same_socket(int a, int b) {
  struct stat x{}, y{};
  return ::fstat(a, &x) == 0 && ::fstat(b, &y) == 0 && x.st_ino == y.st_ino && x.st_dev == y.st_dev;
}

}  // namespace

bool on_actor_plane(const SSL* ssl);  // basp_door.cpp: not a context marked as carrying something else

void handshake_started(SSL* ssl, int result) {
  if (!on_actor_plane(ssl)) return;
  auto& h = the_handshakes();
  const int why = result == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, result);
  if (why != SSL_ERROR_WANT_READ && why != SSL_ERROR_WANT_WRITE) {  // done, or failed (CAF closes it)
    std::lock_guard lock(h.mutex);
    if (auto it = h.pending.find(ssl); it != h.pending.end()) forget_locked(h, it);
    return;
  }
  const int fd = SSL_get_fd(ssl);
  if (fd < 0) return;
  std::lock_guard lock(h.mutex);
  if (auto old = h.pending.find(ssl); old != h.pending.end()) {
    if (same_socket(old->second.socket, fd)) return;  // the same handshake called again: same deadline
    forget_locked(h, old);                            // a freed session's address, reused
  }
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return;  // out of descriptors: this handshake goes without a deadline
  h.pending[ssl] = {copy, std::chrono::steady_clock::now() + kHandshakeDeadline};
  h.count.store(static_cast<int>(h.pending.size()), std::memory_order_relaxed);
  if (!h.watching) {
    h.watching = true;
    std::thread(watch).detach();  // lives as long as the process, like the module it serves
  }
  h.wake.notify_one();
}

void handshake_progressed(SSL* ssl, int result) {
  auto& h = the_handshakes();
  if (h.count.load(std::memory_order_relaxed) == 0) return;
  if (!SSL_is_init_finished(ssl)) {
    const int why = result > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, result);
    if (why == SSL_ERROR_NONE || why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE) return;  // still at it
  }
  // Finished, or failed (CAF closes it; the duplicate must not hold the socket open).
  std::lock_guard lock(h.mutex);
  if (auto it = h.pending.find(ssl); it != h.pending.end()) forget_locked(h, it);
}

}  // namespace prfaas::actors
