#pragma once
// Receiving side of the KV data plane: a listener on a decode node that lands every payload
// straight in the transfer its owner registered for the request.
//
//   kv_receiver rx({"127.0.0.1", 0}, sink, {.secret = s});
//   sequence_transfer dst(kv);
//   rx.expect(request, dst);       // before the router lets the prefill node start
//   ... sink(event{layer_ready, request, l}) for each layer, in any order ...
//   ... sink(event{complete, request, first_token}) ...
//   rx.cancel(request);            // on abort: afterwards no thread touches the transfer
//
// Each connection is authenticated first (link_options.h).  Payloads may come over any of a
// link's connections in any order: a layer is ready when all its payloads landed, the request
// complete when every layer is ready and its request_done arrived.  The receiver reads a
// frame's table and header, checks them against the registered transfer (layer, kind, index,
// token count, exact size) and only then reads the payload into its block: zero user-space
// copies.  Frames for unknown requests are read into a scratch buffer and dropped; frames that
// contradict the registered layout fail that request.
//
// Threads: one accept thread, one per connection (at most max_connections).  The sink is
// called on them, possibly under the receiver's lock: it must only hand the event over.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runtime/common/endpoint.h"
#include "runtime/transport/frame_io.h"
#include "runtime/transport/socket.h"
#include "runtime/transport/transfer.h"

namespace prfaas::transport {

struct receiver_options {
  std::string secret;        // empty: accept unauthenticated peers
  int max_connections = 256;
  size_t max_pending = 4096; // requests expected at once
};

class kv_receiver {
 public:
  struct event {
    enum kind_t { layer_ready, complete, failed } kind;
    uint64_t request = 0;
    int layer = -1;           // layer_ready
    int32_t first_token = 0;  // complete
    std::string error;        // failed: names the cause (and the peer)
  };
  using event_sink = std::function<void(const event&)>;

  struct counters {
    uint64_t payload_bytes = 0;      // landed in transfers
    uint64_t copied_bytes = 0;       // payload bytes copied in user space on the way (0 here)
    uint64_t dropped_bytes = 0;      // payloads of unknown or failed requests, discarded
    uint64_t frames_rejected = 0;
    uint64_t connections = 0;        // accepted after the handshake
    uint64_t refused = 0;            // failed the handshake
  };

  kv_receiver(const endpoint& listen_at, event_sink sink, receiver_options options = {});
  ~kv_receiver();  // stops and joins every thread
  kv_receiver(const kv_receiver&) = delete;
  kv_receiver& operator=(const kv_receiver&) = delete;

  uint16_t port() const { return port_; }
  void expect(uint64_t request, transfer_view& target);  // throws failure(no_capacity) past max_pending
  void cancel(uint64_t request);
  counters stats() const;

 private:
  struct pending;
  struct connection;
  void accept_loop();
  void serve(std::shared_ptr<connection> conn);
  bool authenticate(connection& conn);
  bool handle_frame(connection& conn);
  void land_payload(connection& conn, const received_header& h);
  void maybe_complete_locked(uint64_t request);
  void fail_locked(uint64_t request, const std::string& why);
  void drain(connection& conn, size_t bytes);

  event_sink sink_;
  receiver_options options_;
  socket_fd listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::map<uint64_t, pending> pending_;
  std::vector<std::shared_ptr<connection>> connections_;
  counters counters_;
};

}  // namespace prfaas::transport
