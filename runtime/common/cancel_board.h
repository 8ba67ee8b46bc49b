#pragma once
// The requests cancelled on a node, for the work that runs or waits there: written by whoever
// hears of a cancellation (a control actor that is never busy), read by the work between steps
// (a prefill checks it before it starts and after every layer).  Keyed by request and attempt,
// so cancelling an abandoned attempt never stops the request's next one.  Bounded: past
// `capacity` entries the oldest are forgotten (by then their work has long ended).  Thread-safe.
//
//   board.cancel(id, attempt);                    // control side
//   if (board.cancelled(job.request, job.attempt)) stop();   // work side

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>

#include "runtime/common/bounded_memory.h"

namespace prfaas {

class cancel_board {
 public:
  explicit cancel_board(size_t capacity = 4096) : cancelled_(capacity) {}
  void cancel(uint64_t request, int attempt);
  bool cancelled(uint64_t request, int attempt) const;
  size_t size() const;

 private:
  struct attempt_hash {
    size_t operator()(const std::pair<uint64_t, int>& k) const {
      return std::hash<uint64_t>{}(k.first ^ (static_cast<uint64_t>(static_cast<uint32_t>(k.second)) << 40));
    }
  };
  mutable std::mutex mutex_;
  bounded_memory<std::pair<uint64_t, int>, bool, attempt_hash> cancelled_;
};

}  // namespace prfaas
