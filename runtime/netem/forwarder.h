#pragma once
// Carries packets between two packet devices (the TUN ends of an emulated link) through a
// link_model per direction: each packet read from one end is written to the other when the
// model says it arrives, so TCP end to end meets the real delay, rate, loss and queue.
//
//   forwarder f(tun_a, tun_b, a_to_b, b_to_a, seed);   // starts its threads
//   ...
//   f.stop();                                           // also in the destructor
//
// Threads: a reader and a writer per direction.  Packets waiting to arrive are bounded by
// `max_held_bytes` (beyond the model's own queue: what the delay holds in flight); past it a
// packet is dropped as a full queue would drop it.  The descriptors stay the caller's.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "runtime/netem/link_model.h"

namespace prfaas::netem {

class forwarder {
 public:
  forwarder(int fd_a, int fd_b, link_params a_to_b, link_params b_to_a, uint64_t seed,
            size_t max_packet = 65536, size_t max_held_bytes = size_t(512) << 20);
  ~forwarder();
  forwarder(const forwarder&) = delete;
  forwarder& operator=(const forwarder&) = delete;

  void stop();
  // 0: a -> b, 1: b -> a.
  link_counters counters(int direction) const;
  uint64_t held_drops(int direction) const;

 private:
  struct packet {
    clock::time_point at;
    uint64_t seq;
    std::vector<uint8_t> bytes;
    bool operator>(const packet& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  struct lane {
    int from = -1, to = -1;
    link_model model;
    mutable std::mutex mutex;
    std::condition_variable ready;
    std::priority_queue<packet, std::vector<packet>, std::greater<packet>> held;
    size_t held_bytes = 0;
    uint64_t seq = 0, held_drops = 0;
    std::thread reader, writer;
    lane(int f, int t, link_params p, uint64_t seed) : from(f), to(t), model(p, seed) {}
  };
  void read_loop(lane& l);
  void write_loop(lane& l);

  size_t max_packet_, max_held_bytes_;
  std::atomic<bool> stopping_{false};
  lane lanes_[2];
};

}  // namespace prfaas::netem
