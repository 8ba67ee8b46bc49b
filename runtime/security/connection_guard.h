#pragma once
// A bound and a deadline for peers that have not proven themselves on a listening port whose
// sockets another library owns: the actor plane's TLS port, which CAF 0.17 accepts without a
// limit and whose TLS handshake has no deadline, and the gateway's HTTP port, whose library
// gives each connection a thread and only a per-read timeout.  Idle or trickling strangers could
// otherwise hold descriptors (and threads) forever.
//
// The guard never reads a socket; it watches the bytes each accepted connection has been sent
// (TCP_INFO).  A member of the deployment, once through TLS, is sent a BASP heartbeat at least
// three times a connection timeout (actors/system_config.cpp), so what the process sends it
// keeps growing; a stranger stuck in the TLS handshake, an idle HTTP connection or a slowloris
// trickling its request head is sent nothing however it trickles bytes in.  So:
//
//   - a connection to which nothing new was sent for `stall_limit` is shut down, unless its
//     owner holds it (an HTTP request being answered: hold(peer) ... release(peer));
//   - a connection is "established" once what it was sent grew on `established_after` separate
//     looks (the server's flight, the BASP handshake, heartbeats); the others are "pending":
//     at most `max_pending_per_peer` per peer address (the oldest of that address beyond it
//     shut first) and `max_pending` in all (beyond it, the oldest of the address holding the
//     most), so one flooding host fills its own slots, never another's.
//
// Shutting a socket down (never closing it) lets its owner see an ordinary disconnect and clean
// up.  Decisions are logged with the peer's address, at most `log_lines` a second (the rest are
// counted and the next line says how many).
//
//   connection_guard guard(port, {});    // a thread, until destroyed
//   guard.stats().shut_stalled;
//   guard.hold("10.0.0.7:51234"); ... if (guard.hung_up("10.0.0.7:51234")) cancel(); ... guard.release(...);

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "runtime/common/log_budget.h"

namespace prfaas::security {

struct guard_options {
  std::chrono::milliseconds stall_limit{3000};
  int max_pending = 128;
  int max_pending_per_peer = 32;
  int established_after = 3;  // INT_MAX: never (every connection not held is pending)
  std::chrono::milliseconds tick{100};        // between looks while a connection is pending or held
  std::chrono::milliseconds idle_tick{1000};  // between looks otherwise (at most stall_limit / 3):
                                              // a quiet process then wakes once a second, not ten times
  int log_lines = 10;  // per second
};

struct guard_stats {
  uint64_t watched = 0;        // connections seen in all
  uint64_t shut_stalled = 0;   // shut down: nothing sent to them for stall_limit
  uint64_t shut_over_cap = 0;  // shut down: beyond max_pending unestablished connections
  uint64_t shut_over_peer = 0; // shut down: beyond max_pending_per_peer from one address
  uint64_t log_held = 0;       // decisions not logged (over the log budget)
  uint64_t looks = 0;          // looks at the process's sockets
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
  // The owner answers the connection from `peer` ("address:port"): it never stalls and is not
  // pending until released.  Holds count: each hold needs its release.
  void hold(const std::string& peer);
  void release(const std::string& peer);
  // True once a held connection's peer closed it (or it is gone): the owner may stop its work.
  bool hung_up(const std::string& peer) const;
  // A connection was just accepted: the thread looks now, not at its next tick, so it counts
  // every send to the newcomer (a member's handshake and registration included).
  void notice();
  // One look at the process's sockets now (the thread calls it every tick; tests may too).
  // True while a connection is pending or held: the next look comes after `tick`, not `idle_tick`.
  bool look();

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
  bool noticed_ = false;  // notice() since the last look
  std::map<std::pair<int, std::string>, watched> conns_;  // by (descriptor, peer address)
  struct held {
    int holds = 0;
    bool gone = false;
  };
  std::map<std::string, held> held_;  // bounded by the owner's requests in progress
  log_budget log_;
  guard_stats stats_;
  std::thread thread_;
};

}  // namespace prfaas::security
