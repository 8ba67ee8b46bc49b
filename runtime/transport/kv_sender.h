#pragma once
// Sending side of the KV data plane: one link (several TCP connections) to one receiver.
//
//   kv_sender tx(decode_endpoint, options);                 // connects and authenticates
//   sequence_transfer src(kv);
//   model.prefill(prompt, kv, [&](int l) { tx.send_layer(id, src, l); });   // returns at once
//   tx.send_done(id, kv.tokens(), first_token);
//   tx.flush();                                             // before kv may be freed
//
// send_layer only posts the layer's frames: connection threads take them from one queue (so
// payloads stripe over the connections, each taking the next frame when it is free) and write
// each with one sendmsg of [segment table, header, block]: no KV byte is copied in user space.
// Layer k is on the wire while the caller computes layer k+1; at most
// options.max_inflight_bytes may be posted and unwritten, beyond that send_layer waits
// (backpressure).  The payload memory must stay valid until flush() returns.
//
// Errors: the first failure marks the sender broken; every later call (and flush) throws
// failure(transport_failed) naming the peer.  Thread-safe.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/common/endpoint.h"
#include "runtime/transport/frame.h"
#include "runtime/transport/link_options.h"
#include "runtime/transport/link_stats.h"
#include "runtime/transport/pacer.h"
#include "runtime/transport/socket.h"
#include "runtime/transport/transfer.h"

namespace prfaas::transport {

class kv_sender {
 public:
  // Connects options.connections sockets and runs the handshake on each. Throws
  // failure(unreachable) or failure(transport_failed) ("refused: authentication failed").
  // `shared_pacer` (optional) paces this link together with others, e.g. a node's egress.
  kv_sender(const endpoint& to, link_options options, std::shared_ptr<pacer> shared_pacer = nullptr);
  ~kv_sender();
  kv_sender(const kv_sender&) = delete;
  kv_sender& operator=(const kv_sender&) = delete;

  void send_layer(uint64_t request, transfer_view& source, int layer);
  // Payloads [first, end) of `layer` only: a layer may go out in parts as they become final.
  void send_payloads(uint64_t request, transfer_view& source, int layer, int first, int end);
  void send_done(uint64_t request, uint32_t tokens, int32_t first_token);
  void send_abort(uint64_t request, const std::string& reason);
  void flush();  // every frame posted so far is written

  bool broken() const;
  link_stats stats() const;
  const endpoint& peer() const { return peer_; }
  uint64_t payload_bytes_sent() const;

 private:
  struct frame_job {
    frame_header header;
    std::span<const std::byte> payload;
    std::chrono::steady_clock::time_point due;  // posted + the emulated one-way delay
  };
  void post(frame_job job);
  void run_connection(size_t index);
  void fail(const std::string& why);
  void check() const;

  endpoint peer_;
  link_options options_;
  std::shared_ptr<pacer> pacer_;
  std::vector<socket_fd> sockets_;
  std::vector<std::thread> threads_;

  mutable std::mutex mutex_;
  std::condition_variable work_;    // connection threads wait for frames
  std::condition_variable room_;    // posters wait for window room; flush waits for idle
  std::deque<frame_job> queue_;
  uint64_t inflight_ = 0;           // posted and not yet written
  bool stopping_ = false;
  std::string broken_;              // empty while healthy
  uint64_t posted_ = 0, sent_ = 0, payload_sent_ = 0, frames_ = 0, received_ = 0;
};

}  // namespace prfaas::transport
