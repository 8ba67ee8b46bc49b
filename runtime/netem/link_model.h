#pragma once
// One direction of an emulated wide-area link, as arithmetic: a packet that arrives at `now` is
// serialised at the link's rate behind the packets already waiting (a drop-tail queue of
// `queue_bytes`), then travels the one-way delay; a fraction `loss` is lost at random, and a
// fraction `reorder` is held back `reorder_ms` longer than its place (so later packets pass it).
// No clock, no sockets: the forwarder (runtime/netem/forwarder.h) asks, the tests check.
//
//   link_model m({.one_way_ms = 20, .gbps = 2, .loss = 0.001}, seed);
//   if (auto at = m.admit(1500, now)) deliver_at(*at);   // else: dropped (counted)

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>

namespace prfaas::netem {

using clock = std::chrono::steady_clock;

struct link_params {
  double one_way_ms = 0;     // propagation delay, each direction
  double gbps = 0;           // serialisation rate; 0: unlimited
  double loss = 0;           // probability a packet is lost
  double reorder = 0;        // probability a packet is held back ...
  double reorder_ms = 1;     // ... this much longer
  size_t queue_bytes = 0;    // drop-tail bound on bytes waiting to be serialised; 0: from the rate (50 ms of it, at least 256 KiB)
};

struct link_counters {
  uint64_t packets = 0, bytes = 0;          // admitted
  uint64_t lost = 0, queue_drops = 0, reordered = 0;
};

class link_model {
 public:
  link_model(link_params p, uint64_t seed);

  // When a packet of `bytes` that arrives at `now` reaches the far side; nothing when it is
  // lost or finds the queue full.
  std::optional<clock::time_point> admit(size_t bytes, clock::time_point now);

  const link_counters& counters() const { return counters_; }
  const link_params& params() const { return p_; }
  size_t queue_limit() const { return queue_bytes_; }

 private:
  link_params p_;
  size_t queue_bytes_;
  double ns_per_byte_;           // 0: unlimited
  clock::time_point free_at_{};  // when the link has serialised everything admitted so far
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> uniform_{0.0, 1.0};
  link_counters counters_;
};

}  // namespace prfaas::netem
