#pragma once
// Sending side of the KV data plane: one link (several TCP connections) to one receiver.
//
//   kv_sender tx(decode_endpoint, options);                 // connects and authenticates
//   sequence_transfer src(kv);
//   model.prefill(prompt, kv, [&](int l) { tx.send_layer(id, src, l); });   // returns at once
//   tx.send_done(id, kv.tokens(), first_token);
//   tx.finish(id, deadline);                                // the receiver has it all; kv may go
//
// send_layer only posts the layer's frames: connection threads take them from one queue (so
// payloads stripe over the connections, each taking the next frame when it is free) and write
// each with one sendmsg of [segment table, header, block]: no KV byte is copied in user space.
// Layer k is on the wire while the caller computes layer k+1; at most
// options.max_inflight_bytes may be posted and unwritten, beyond that send_layer waits
// (backpressure).  The source must stay valid until finish() or forget() returns.
//
// Acknowledged and resumable: the receiver acknowledges each ready prefix of layers (`acked`,
// monotone) and the end.  When a connection breaks (reset, link cut, peer restart, a peer
// silent for options.receive_timeout), the link is interrupted, not failed: a keeper thread
// reconnects with backoff, asks the receiver what landed of each unfinished transfer, and posts
// only the payloads missing.  Only when it cannot within options.resume_timeout is the link
// broken; a transfer the receiver no longer holds (it restarted, or cancelled it) fails alone.
//
// Errors: a broken link makes every later call throw failure(transport_failed) naming the peer;
// finish() throws it for a failed transfer, failure(deadline_exceeded) past its deadline.
// Thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/common/endpoint.h"
#include "runtime/transport/carrier.h"
#include "runtime/transport/frame.h"
#include "runtime/transport/link_options.h"
#include "runtime/transport/link_stats.h"
#include "runtime/transport/pacer.h"
#include "runtime/transport/socket.h"
#include "runtime/transport/transfer.h"

namespace prfaas::transport {

class kv_sender final : public carrier_link {
 public:
  using progress = link_progress;

  // Connects options.connections sockets and runs the handshake on each. Throws
  // failure(unreachable) or failure(transport_failed) ("refused: authentication failed").
  // `shared_pacer` (optional) paces this link together with others, e.g. a node's egress.
  kv_sender(const endpoint& to, link_options options, std::shared_ptr<pacer> shared_pacer = nullptr);
  ~kv_sender();
  kv_sender(const kv_sender&) = delete;
  kv_sender& operator=(const kv_sender&) = delete;

  // The carrier_link calls (carrier.h).
  void send_payloads(uint64_t request, transfer_view& source, int layer, int first, int end) override;
  using carrier_link::send_done;
  void send_done(uint64_t request, uint32_t tokens, int32_t first_token,
                 std::optional<token_logprobs> first_logprobs) override;
  void send_abort(uint64_t request, const std::string& reason) override;
  uint64_t finish(uint64_t request, clock::time_point deadline) override;
  // Its queued frames go, and it waits out writers inside sendmsg on its payloads.
  void forget(uint64_t request) override;
  // Every frame posted so far is written, or a connection broke (then other connections may
  // still be writing: free a source only after forget() or finish() of its request).
  void flush();

  progress progress_of(uint64_t request) const override;
  // Breaks every connection now, as a reset would: the link resumes (fault injection, tests).
  void break_connections(const std::string& why);
  // Breaks connection `index` alone, as a reset of it would (tests).
  void break_connection(int index);

  bool broken() const override;
  bool idle() const override;
  int connection_count() const override;
  link_stats stats() const override;
  const endpoint& peer() const { return peer_; }
  uint64_t payload_bytes_sent() const override;
  uint64_t resumes() const;  // times the link was re-established and its transfers resumed

 private:
  enum class link_state { up, interrupted, broken };
  struct frame_job {
    frame_header header;
    std::span<const std::byte> payload;
    clock::time_point due;  // posted + the emulated one-way delay
  };
  struct record : transfer_outcome {  // one request's transfer on this link
    transfer_view* source = nullptr;
    std::vector<size_t> offset;  // first bit of each layer
    std::vector<bool> posted;    // per payload: posted by the caller
    bool done_posted = false;
    frame_header done;
    int writing = 0;                     // its frames inside sendmsg right now
    clock::time_point written_all{};     // its done frame was written (epoch: not yet)
  };
  struct connection {
    socket_fd socket;
    std::thread writer, reader;
    std::shared_ptr<payload_cipher> cipher;  // options.encrypt: seals this connection's payloads
  };

  record& record_for(uint64_t request, transfer_view& source);  // under mutex_
  void post(frame_job job, std::unique_lock<std::mutex>& lock);
  void run_writer(size_t index, uint64_t generation);
  void run_reader(size_t index, uint64_t generation);
  void on_ack(const frame_header& h);
  void interrupt(uint64_t generation, const std::string& why);
  void keep_link();
  std::vector<connection> connect_all();
  struct landed_answer {  // the receiver's answer to a resume
    resume_kind kind = resume_kind::unknown;
    std::vector<uint64_t> bits;  // active: one bit per payload landed
    std::string why;             // unknown
  };
  using landed_map = std::map<uint64_t, landed_answer>;
  landed_map ask_landed(const connection& c, const std::vector<uint64_t>& requests);
  void install(std::vector<connection> fresh, const landed_map& landed);
  void give_up(const std::string& why);
  void start_threads();
  void check_locked() const;

  endpoint peer_;
  link_options options_;
  std::shared_ptr<pacer> pacer_;
  uint64_t link_id_;

  mutable std::mutex mutex_;
  std::condition_variable work_;    // writers wait for frames
  std::condition_variable room_;    // posters wait for window room; flush and finish wait
  std::condition_variable keeper_;  // the keeper waits for an interruption
  std::vector<connection> conns_;
  std::thread keeper_thread_;
  uint64_t generation_ = 0;         // bumped when a new set of connections is installed
  link_state state_ = link_state::up;
  clock::time_point interrupted_at_{};
  std::string interrupted_by_;
  std::deque<frame_job> queue_;
  std::map<uint64_t, record> records_;
  uint64_t inflight_ = 0;           // posted and not yet written
  bool stopping_ = false;
  std::string broken_;              // set once the link is given up
  uint64_t posted_ = 0, sent_ = 0, payload_sent_ = 0, frames_ = 0, received_ = 0, resumes_ = 0, copied_ = 0,
           source_faults_ = 0;
};

}  // namespace prfaas::transport
