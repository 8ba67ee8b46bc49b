#pragma once
// A bound and a deadline for peers that have not proven themselves on a listening port whose
// sockets another library owns: the actor plane's TLS port, which CAF 0.17 accepts without a
// limit and whose TLS handshake has no deadline, so idle or trickling strangers could hold
// descriptors forever.
//
// The guard never reads a socket; it watches the bytes each accepted connection has been sent
// (TCP_INFO).  A member of the deployment, once through TLS, is sent a BASP heartbeat every
// router.heartbeat_ms, so what the process sends it keeps growing; a stranger stuck in the TLS
// handshake is sent one server flight and then nothing, however it trickles bytes in.  So:
//
//   - a connection to which nothing new was sent for `stall_limit` is shut down;
//   - a connection is "established" once what it was sent grew on `established_after` separate
//     looks (the server's flight, the BASP handshake, heartbeats); at most `max_pending` may be
//     otherwise at once, the oldest beyond the bound shut down first.
//
// Shutting a socket down (never closing it) lets its owner see an ordinary disconnect and clean
// up.  Every decision is logged once, with the peer's address.
//
//   connection_guard guard(port, {});    // a thread, until destroyed
//   guard.stats().shut_stalled;

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace prfaas::security {

struct guard_options {
  std::chrono::milliseconds stall_limit{3000};
  int max_pending = 32;
  int established_after = 3;
  std::chrono::milliseconds tick{100};
};

struct guard_stats {
  uint64_t watched = 0;        // connections seen in all
  uint64_t shut_stalled = 0;   // shut down: nothing sent to them for stall_limit
  uint64_t shut_over_cap = 0;  // shut down: beyond max_pending unestablished connections
  int pending = 0;             // unestablished now
  int established = 0;         // established now
};

class connection_guard {
 public:
  connection_guard(uint16_t port, guard_options options);
  ~connection_guard();
  connection_guard(const connection_guard&) = delete;
  connection_guard& operator=(const connection_guard&) = delete;

  guard_stats stats() const;
  // One look at the process's sockets now (the thread calls it every tick; tests may too).
  void look();

 private:
  struct watched {
    std::string peer;
    std::chrono::steady_clock::time_point first_seen, last_growth;
    uint64_t sent = 0;
    int growths = 0;
  };
  uint16_t port_;
  guard_options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::pair<int, std::string>, watched> conns_;  // by (descriptor, peer address)
  guard_stats stats_;
  std::thread thread_;
};

}  // namespace prfaas::security
