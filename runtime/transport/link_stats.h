#pragma once
// Telemetry of one KV link, as a snapshot: what the router reads to know how loaded the
// inter-cluster link is (NCCL-style monotone counters plus the kernel's view of each socket).

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "runtime/transport/socket.h"

namespace prfaas::transport {

struct tcp_snapshot {
  uint32_t rtt_us = 0;
  uint32_t rtt_var_us = 0;
  uint32_t total_retransmits = 0;
  uint32_t snd_cwnd = 0;           // segments
  uint64_t delivery_rate_bps = 0;  // bytes/s, the kernel's estimate
  uint32_t notsent_bytes = 0;
  uint32_t unacked = 0;            // segments sent and not yet acknowledged
  uint64_t bytes_acked = 0;        // acknowledged by the peer since the connection began
};

// TCP_INFO of a connected socket (zeros where the kernel gives nothing).
tcp_snapshot read_tcp_info(const socket_fd& s);

struct link_stats {
  std::string peer;
  int connections = 0;
  uint64_t bytes_posted = 0;       // handed to the sender
  uint64_t bytes_sent = 0;         // written to the kernel
  uint64_t bytes_received = 0;     // from the peer (handshake and control)
  uint64_t bytes_in_flight = 0;    // posted, not yet written
  uint64_t frames_sent = 0;
  uint64_t copied_bytes = 0;       // payload bytes copied in user space (sealing them: transport.encrypt)
  // Sends the kernel refused because a payload's memory was gone (EFAULT): a source freed while
  // a writer held it.  Always 0 unless there is a bug: carrier.h's ownership promise.
  uint64_t source_faults = 0;
  uint64_t resumes = 0;            // times the link broke and its transfers were resumed
  double capacity_gbps = 0;
  double bdp_bytes = 0;            // the path's bandwidth-delay product as measured (0: not yet)
  int wanted_connections = 0;      // what the path needs, within the link's bounds (0: not known)
  std::vector<tcp_snapshot> tcp;   // one per connection
};

// All of a node's links together: what a telemetry report carries.
struct link_summary {
  int links = 0, connections = 0;
  uint64_t bytes_sent = 0, bytes_in_flight = 0, resumes = 0;
  uint64_t bytes_acked = 0;  // summed over the connections (TCP's own count: what was delivered)
  uint32_t worst_rtt_us = 0, retransmits = 0, smallest_cwnd = 0;
  uint64_t delivery_rate_bps = 0;  // summed over connections carrying data (unacked or unsent)
  double largest_bdp_bytes = 0;
  int most_wanted_connections = 0;
};
link_summary summarize(const std::vector<link_stats>& links);

// Bytes per second from successive cumulative counts.  A count lower than the last one is a
// counter that started again (a restarted node, a link made anew): its bytes since are all of it,
// never a difference that wraps around.
class rate_meter {
 public:
  double update(uint64_t total, std::chrono::steady_clock::time_point now);

 private:
  uint64_t last_total_ = 0;
  std::chrono::steady_clock::time_point last_{};
  bool primed_ = false;
  double rate_ = 0;
};

// When a node's link telemetry is worth telling: looked at every 250 ms while KV crosses and
// every second while the link rests, told when what the router shows changed (egress, in flight,
// links, connections, RTT, retransmits, cwnd, delivery rate, BDP, connections wanted) or 5 s
// after it was last told, so a resting link keeps the router asleep and a lost report is
// repeated.
//
//   auto l = gate.look(summarize(links.snapshot()), now);   // then look again after l.next
//   if (l.tell && send(report_of(l.egress_gbps))) gate.told(now);
class telemetry_gate {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kBusyLook{250}, kRestingLook{1000}, kQuiet{5000};
  static constexpr std::chrono::seconds kMeasureWindow{10};

  struct look_result {
    double egress_gbps = 0;  // written since the previous look
    // While KV waits to be written (at this look and the one before: the link, not the work,
    // set the pace), the median over kMeasureWindow of such periods' delivered rate (bytes
    // the peer acknowledged: the socket buffers' fill is not delivery): what the path
    // carries.  0: no backlog now.
    double measured_gbps = 0;
    bool tell = false;
    std::chrono::milliseconds next{kRestingLook};
  };
  look_result look(const link_summary& s, clock::time_point now);
  // What the last look saw was told.
  void told(clock::time_point now);
  // A new listener: the next look is told whatever it says.
  void forget() { told_valid_ = false; }

 private:
  struct shown {
    double egress_gbps = 0;
    link_summary s;
    bool operator==(const shown& o) const;
  };
  rate_meter rate_, acked_;
  bool backlog_ = false;  // KV waited to be written at the previous look
  std::deque<std::pair<clock::time_point, double>> measured_;  // backlogged periods' egress, in the window
  shown seen_, told_;
  bool told_valid_ = false;
  clock::time_point told_at_{};
};

}  // namespace prfaas::transport
