#pragma once
// Link emulation: a pacer lets bytes out at a configured rate, shared by every connection (and
// every peer) that holds it, so a deployment on one machine has a real bottleneck between its
// clusters.  The rate may change at run time (a bandwidth collapse), and the link may be cut
// and restored: while cut, senders hold their frames (kv_sender checks is_cut()) and new
// connections are refused, as across a partition.  Thread-safe.
//
// Shared across processes: a pacer made on a file (pacer(gbps, path)) keeps its state in that
// file, mapped by every process that names it, so the PrfaaS nodes of one host draw on one
// bucket: whichever node has KV to send gets the whole link, and concurrent senders split it by
// demand, as on a real shared link (no static share per node).  Lock-free: a compare-and-swap
// on the next free slot; CLOCK_MONOTONIC is the same clock in every process of the host.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace prfaas::transport {

class pacer {
 public:
  explicit pacer(double gbps);
  // The state lives in `shared_file` (created when missing, 0600); `gbps` is set on it.
  // Throws failure(bad_config) when the file cannot be mapped.
  pacer(double gbps, const std::string& shared_file);
  ~pacer();
  pacer(const pacer&) = delete;
  pacer& operator=(const pacer&) = delete;

  // Blocks until `bytes` may leave: each call takes the next slot of bytes / rate.  Gbps <= 0:
  // unpaced.  An idle link banks no credit: a burst after silence still leaves at the rate.
  void acquire(size_t bytes);
  void set_gbps(double gbps);
  double gbps() const;
  void set_cut(bool cut);
  bool is_cut() const;
  bool shared() const { return mapped_; }

  // The state, in this process or in the shared file.  Public for the file's layout only.
  struct state {
    std::atomic<int64_t> next_ns{0};       // CLOCK_MONOTONIC ns of the next free slot
    std::atomic<int64_t> bits_per_s{0};    // 0: unpaced
    std::atomic<uint32_t> cut{0};
  };

 private:
  state own_;
  state* s_ = &own_;
  bool mapped_ = false;
};

}  // namespace prfaas::transport
