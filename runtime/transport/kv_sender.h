#pragma once
// Sending side of the KV data plane: one TCP connection to one receiver (a decode node).
//
//   kv_sender tx(decode_data_endpoint, "prefill-0", 2s);          // connects, sends hello
//   model.prefill(prompt, kv, [&](int l) { tx.send_layer(id, kv, l); });   // layer-wise
//   tx.send_done(id, kv.tokens(), first_token);
//
// Each payload goes out as one frame whose Data segment is the block itself: one sendmsg of
// [segment table, header, block], no user-space copy.  Not thread-safe: one owner thread.
// Any error throws failure(transport_failed) and leaves the sender broken (reconnect anew).

#include <chrono>
#include <cstdint>
#include <string>

#include "runtime/common/endpoint.h"
#include "runtime/kv/sequence_kv.h"
#include "runtime/transport/frame.h"
#include "runtime/transport/socket.h"

namespace prfaas::transport {

class kv_sender {
 public:
  kv_sender(const endpoint& to, const std::string& self_name, std::chrono::milliseconds timeout);

  void send_layer(uint64_t request, kv::sequence_kv& kv, int layer);
  void send_done(uint64_t request, int tokens, int32_t first_token);
  void send_abort(uint64_t request, const std::string& reason);

  bool broken() const { return broken_; }
  uint64_t payload_bytes_sent() const { return payload_bytes_; }
  const endpoint& peer() const { return peer_; }

 private:
  void send(const frame_header& h, std::span<const std::byte> payload = {});

  endpoint peer_;
  socket_fd socket_;
  frame_encoder encoder_;
  bool broken_ = false;
  uint64_t payload_bytes_ = 0;
};

}  // namespace prfaas::transport
