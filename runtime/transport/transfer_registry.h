#pragma once
// The receiving side's bookkeeping, whatever carries the bytes (TCP or NCCL): which requests are
// expected and into what, which payloads have landed, when a layer is ready and a request
// complete, which frames contradict what was registered, and which transfers a broken
// connection interrupted.  Thread-safe; events go to the sink, possibly under the registry's
// lock (the sink must only hand them over).
//
//   registry.expect(id, target);
//   auto land = registry.begin_payload(conn, header, bytes, peer);  // land.dst empty: drop the bytes
//   ... the payload lands in land.dst ...
//   auto ack = registry.end_payload(conn, header, bytes, error);    // counts it, may complete
//   auto ack = registry.control(conn, header, peer);                // request_done, abort
//   registry.connection_lost(conn, why);                            // interrupts what it carried
//   auto answer = registry.resume(conn, request);                   // what landed, for a resume
//
// Resumable transfers: a lost connection does not fail the requests it carried; they wait,
// interrupted, for the sender to come back over a new connection and ask what landed
// (resume), then re-send only the payloads missing.  A payload re-sent that already landed is
// dropped.  A transfer not resumed within the resume window fails (expire()).
//
// Early payloads: the router sends a decode node's reservation and the prefill job at once when
// the reservation's answer cannot change the job, so a payload may outrun its expect().  The
// first frame (a payload, or request_done on another connection) of a request this registry has
// not heard of waits up to `expect_grace` for it; one that ended here lately (completed, failed,
// cancelled), or that waited in vain once, does not wait: its frames are dropped and the sender
// told.
//
// Acknowledgements (the `receipt`s) go back to the sender on the connection that caused them:
// `acked` layers (the ready prefix, monotone), then complete, or failed with the cause.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "runtime/common/bounded_memory.h"
#include "runtime/common/errc.h"
#include "runtime/transport/frame.h"
#include "runtime/transport/transfer.h"

namespace prfaas::transport {

struct transfer_event {
  enum kind_t { layer_ready, complete, failed } kind;
  uint64_t request = 0;
  int layer = -1;           // layer_ready
  int32_t first_token = 0;  // complete
  std::string error;        // failed: names the cause (and the peer)
  std::chrono::steady_clock::time_point first_payload{};  // complete: when its first payload landed
  // failed: transport_failed (a connection lost and not resumed, the sender gave up: another
  // attempt may cure it) or bad_frame (a frame that does not fit the transfer: a peer's bug)
  errc code = errc::transport_failed;
  std::optional<token_logprobs> first_logprobs;  // complete: the first token's, when sent
};

struct receive_counters {
  uint64_t payload_bytes = 0;      // landed in transfers
  uint64_t dropped_bytes = 0;      // payloads of unknown or failed requests, discarded
  uint64_t copied_bytes = 0;       // payload bytes copied in user space (read ahead with a header)
  uint64_t duplicate_bytes = 0;    // payloads re-sent after a resume that had already landed
  uint64_t frames_rejected = 0;
  uint64_t connections = 0;        // accepted after the handshake
  uint64_t refused = 0;            // failed the handshake
  uint64_t interrupted = 0;        // transfers a lost connection interrupted
  uint64_t resumed = 0;            // resume requests answered for a live transfer
};

// What the receiving connection tells the sender after a frame (nothing, progress, the end).
struct receipt {
  enum kind_t { none, progress, complete, failed } kind = none;
  uint64_t request = 0;
  uint32_t acked_layers = 0;  // progress: layers [0, acked_layers) are ready
  std::string why;            // failed
};

// The `ack` frame that tells the sender a receipt (every carrier's receiver sends the same).
frame_header ack_frame(const receipt& r);

// The receiver's answer to a resume: what it holds of a request.
struct resume_answer {
  enum kind_t { unknown, active, complete } kind = unknown;
  std::vector<uint64_t> landed;  // active: one bit per payload, layers in order, payloads in order
  std::string why;               // unknown: why there is nothing to resume
};

class transfer_registry {
 public:
  using clock = std::chrono::steady_clock;
  using event_sink = std::function<void(const transfer_event&)>;
  // Cuts a connection at once (so a thread reading into a cancelled transfer stops now).
  using interrupter = std::function<void(uint64_t connection)>;

  transfer_registry(event_sink sink, size_t max_pending,
                    std::chrono::milliseconds resume_window = std::chrono::milliseconds(15000),
                    std::chrono::milliseconds expect_grace = std::chrono::milliseconds(1000));
  // Wakes payloads waiting for their expect() (they are dropped): the receiver is stopping.
  void close();

  void expect(uint64_t request, transfer_view& target);  // failure(no_capacity) past max_pending
  // Afterwards no thread writes into the target.  A payload being read into it is not waited
  // out: its connection is cut (its other transfers resume over a new one).  Of a request not
  // expected (its reservation refused): payloads that outran it are dropped at once.
  void cancel(uint64_t request);
  void set_interrupter(interrupter cut) { cut_ = std::move(cut); }

  struct landing {
    std::span<std::byte> dst;  // empty: the bytes must be read and dropped
    bool unknown = false;      // no such request (the sender should hear it once)
  };
  landing begin_payload(uint64_t connection, const frame_header& h, size_t bytes, const std::string& peer);
  // After a non-empty begin_payload: the bytes landed (error empty) or did not.  A
  // `connection_error` (the connection broke mid-payload) leaves the payload missing for a
  // resume; any other error fails the request.
  receipt end_payload(uint64_t connection, const frame_header& h, size_t bytes, const std::string& error,
                      bool connection_error = false);
  receipt control(uint64_t connection, const frame_header& h, const std::string& peer);
  // `resumable`: the transfers it carried wait for a resume; otherwise they fail now.
  void connection_lost(uint64_t connection, const std::string& why, bool resumable = true);
  resume_answer resume(uint64_t connection, uint64_t request);
  // A transfer this connection carries has made no progress for `limit`: the peer is stalled.
  bool stalled(uint64_t connection, clock::duration limit) const;
  void expire();  // fails interrupted transfers whose resume window has passed

  void count_dropped(size_t bytes);
  void count_copied(size_t bytes);
  void count_connection(bool accepted);
  receive_counters stats() const;

 private:
  struct pending {
    transfer_view* target = nullptr;
    std::vector<size_t> offset;     // first bit of each layer in `landed`
    std::vector<bool> landed;       // per payload
    std::vector<int> received;      // payloads landed per layer
    std::vector<bool> layer_ready;
    int layers_ready = 0;
    uint32_t acked = 0;             // the ready prefix last acknowledged
    bool done_seen = false;         // request_done arrived (possibly before the last payloads)
    int32_t first_token = 0;
    std::optional<token_logprobs> first_logprobs;
    std::multiset<uint64_t> writing;  // connections writing a payload into target right now
    std::set<uint64_t> connections;   // the connections that carried it
    bool failed = false;            // reported failed; erased once no writer is left
    clock::time_point progress;     // last frame for it
    clock::time_point first_landed{};  // its first payload (the request's timeline)
    clock::time_point interrupted{};  // a carrying connection was lost (epoch: not interrupted)
    std::string interrupted_by;
  };
  bool is_interrupted(const pending& p) const { return p.interrupted != clock::time_point{}; }
  // The request's entry (end(): none), after waiting up to expect_grace for its expect() when
  // this registry has not heard of it.  A payload or a request_done may come first.
  std::map<uint64_t, pending>::iterator await_expected(std::unique_lock<std::mutex>& lock, uint64_t request);
  receipt progress_receipt(uint64_t request, pending& p);
  receipt maybe_complete_locked(uint64_t request);
  receipt fail_locked(uint64_t request, const std::string& why, errc code = errc::transport_failed);
  void expire_locked(clock::time_point now);

  event_sink sink_;
  size_t max_pending_;
  std::chrono::milliseconds resume_window_;
  std::chrono::milliseconds expect_grace_;
  interrupter cut_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::condition_variable expected_;  // expect() ran: an early payload may land now
  bool closed_ = false;
  std::map<uint64_t, pending> pending_;
  // Requests that ended here lately (completed, else failed, cancelled or never expected), so a
  // resume after the end hears how it ended, and their payloads wait for nothing.
  bounded_memory<uint64_t, bool> recent_{4096};
  receive_counters counters_;
};

}  // namespace prfaas::transport
