#pragma once
// KV staging: a prefill node's finished sequences whose KV is still crossing to the decode node.
//
// The link between clusters is the scarce resource, so a prefill node never waits for it: when
// a prefill ends, its sequence (every block already posted to the link, which the connection
// threads write) goes here and the node computes its next job while the KV crosses.  The
// sequence's blocks stay held (they are host memory of the node's block pool: staging costs no
// copy) until the receiver confirms the last byte, the transfer fails, or its deadline passes;
// then `reap` hands the entry back with its outcome, without waiting.  A broken connection
// resumes meanwhile as it does for any transfer (kv_sender.h): the source is still here.
//
// The area is bounded (transport.staging_mib): `fits` says whether a job's KV would fit beside
// what is held, and `wait_oldest` blocks until the oldest entry ends.  A node that finds it full
// waits for its oldest transfers before it computes (and tells the router: backpressure, not
// failure); one entry is always admitted, so a sequence larger than the bound still runs.
//
//   kv_staging<job> staging(256 << 20);
//   while (!staging.fits(bytes)) deliver(staging.wait_oldest());
//   ... prefill, posting each layer to `link` ...
//   link->send_done(id, ...);
//   staging.add(id, link, bytes, deadline, std::move(j));
//   for (auto& e : staging.reap()) deliver(std::move(e));   // ended transfers, at once
//
// Not thread-safe: its owner (one actor) calls it.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "runtime/common/errc.h"
#include "runtime/transport/carrier.h"

namespace prfaas::transport {

template <class Held>
class kv_staging {
 public:
  using clock = std::chrono::steady_clock;

  // An entry that left: what was held, and the transfer's failure if it did not complete.
  struct ended {
    uint64_t request = 0;
    Held held;
    std::optional<failure> error;
    uint64_t payload_bytes = 0;  // of this request, re-sends included (when it completed)
  };

  explicit kv_staging(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}

  // Whether `bytes` more may be staged now (always, while nothing is).
  bool fits(uint64_t bytes) const { return entries_.empty() || used_ + bytes <= capacity_; }

  // `request`'s KV is posted to `link` (its done frame too); held until the transfer ends.
  void add(uint64_t request, std::shared_ptr<carrier_link> link, uint64_t bytes, clock::time_point deadline,
           Held held) {
    used_ += bytes;
    entries_.push_back({request, std::move(link), bytes, deadline, std::move(held)});
  }

  // Every entry whose transfer ended (confirmed, failed, or past its deadline), oldest first.
  std::vector<ended> reap(clock::time_point now = clock::now()) {
    std::vector<ended> out;
    for (size_t i = 0; i < entries_.size();) {
      const auto p = entries_[i].link->progress_of(entries_[i].request);
      if (p.known && !p.complete && !p.failed && now < entries_[i].deadline) {
        ++i;
        continue;
      }
      out.push_back(finish(i, now));
    }
    return out;
  }

  // Blocks until the oldest entry's transfer ends (at the latest its deadline); nothing held: none.
  std::optional<ended> wait_oldest() {
    if (entries_.empty()) return std::nullopt;
    return finish(0, entries_.front().deadline);
  }

  // What each entry holds, oldest first (a new router hears which jobs a prefill node holds).
  template <class F>
  void for_each(F&& f) const {
    for (const auto& e : entries_) f(e.held);
  }

  uint64_t used_bytes() const { return used_; }
  uint64_t capacity_bytes() const { return capacity_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  struct entry {
    uint64_t request;
    std::shared_ptr<carrier_link> link;
    uint64_t bytes;
    clock::time_point deadline;
    Held held;
  };

  // The link's own end of the transfer (waiting until `wait_until` at most; it forgets the
  // request's frames), then the entry leaves.
  ended finish(size_t i, clock::time_point wait_until) {
    auto& e = entries_[i];
    ended out{e.request, std::move(e.held), std::nullopt, 0};
    try {
      out.payload_bytes = e.link->finish(e.request, wait_until);
    } catch (const failure& f) {
      out.error = f;
    }
    used_ -= e.bytes;
    entries_.erase(entries_.begin() + static_cast<long>(i));
    return out;
  }

  uint64_t capacity_;
  uint64_t used_ = 0;
  std::deque<entry> entries_;
};

}  // namespace prfaas::transport
