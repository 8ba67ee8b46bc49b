#pragma once
// The receiving side's bookkeeping, whatever carries the bytes (TCP or NCCL): which requests are
// expected and into what, which payloads have landed, when a layer is ready and a request
// complete, and which frames contradict what was registered.  Thread-safe; events go to the
// sink, possibly under the registry's lock (the sink must only hand them over).
//
//   registry.expect(id, target);
//   auto dst = registry.begin_payload(conn, header, bytes, peer);   // empty: drop the bytes
//   ... the payload lands in dst ...
//   registry.end_payload(header, bytes, error);                     // counts it, may complete
//   registry.control(conn, header, peer);                           // request_done, abort
//   registry.connection_lost(conn, why);                            // fails what it carried

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "runtime/transport/frame.h"
#include "runtime/transport/transfer.h"

namespace prfaas::transport {

struct transfer_event {
  enum kind_t { layer_ready, complete, failed } kind;
  uint64_t request = 0;
  int layer = -1;           // layer_ready
  int32_t first_token = 0;  // complete
  std::string error;        // failed: names the cause (and the peer)
};

struct receive_counters {
  uint64_t payload_bytes = 0;      // landed in transfers
  uint64_t copied_bytes = 0;       // payload bytes copied in user space on the way
  uint64_t dropped_bytes = 0;      // payloads of unknown or failed requests, discarded
  uint64_t frames_rejected = 0;
  uint64_t connections = 0;        // accepted after the handshake
  uint64_t refused = 0;            // failed the handshake
};

class transfer_registry {
 public:
  using event_sink = std::function<void(const transfer_event&)>;
  transfer_registry(event_sink sink, size_t max_pending);

  void expect(uint64_t request, transfer_view& target);  // failure(no_capacity) past max_pending
  void cancel(uint64_t request);                         // waits out a payload being written

  // The destination of a payload frame, or an empty span when its bytes must be dropped (no
  // such request, or the frame contradicts the registered transfer: that fails the request).
  std::span<std::byte> begin_payload(uint64_t connection, const frame_header& h, size_t bytes, const std::string& peer);
  // After a non-empty begin_payload: the bytes landed (error empty) or did not.
  void end_payload(const frame_header& h, size_t bytes, const std::string& error);
  void control(uint64_t connection, const frame_header& h, const std::string& peer);
  void connection_lost(uint64_t connection, const std::string& why);

  void count_dropped(size_t bytes);
  void count_connection(bool accepted);
  receive_counters stats() const;

 private:
  struct pending {
    transfer_view* target = nullptr;
    std::vector<int> received;      // payloads landed per layer
    std::vector<bool> layer_ready;
    int layers_ready = 0;
    bool done_seen = false;         // request_done arrived (possibly before the last payloads)
    int32_t first_token = 0;
    int busy = 0;                   // payloads being written into target right now
    std::set<uint64_t> connections; // the connections that carried it
    bool failed = false;            // reported failed; erased once no writer is left
  };
  void maybe_complete_locked(uint64_t request);
  void fail_locked(uint64_t request, const std::string& why);

  event_sink sink_;
  size_t max_pending_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::map<uint64_t, pending> pending_;
  receive_counters counters_;
};

}  // namespace prfaas::transport
