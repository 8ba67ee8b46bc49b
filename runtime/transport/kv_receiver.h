#pragma once
// Receiving side of the KV data plane: a listener on a decode node that lands every payload
// straight in the sequence_kv its owner registered for the request.
//
//   kv_receiver rx({"127.0.0.1", 0}, [&](const kv_receiver::event& e) { post_to_owner(e); });
//   rx.expect(request, kv);        // before the router lets the prefill node start
//   ... event{complete, request, first_token} arrives from a receiver thread ...
//   rx.cancel(request);            // on abort: afterwards no thread touches kv
//
// Threads: one accept thread, one thread per connection (at most max_connections); the event
// sink is called on those threads, possibly under the receiver's lock, and must only hand the
// event over (e.g. send a message), never call back into the receiver.
// Frames for an unknown request are read into a scratch buffer and dropped, never written into
// a sequence; frames that contradict the registered layout fail that request.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/common/endpoint.h"
#include "runtime/kv/sequence_kv.h"
#include "runtime/transport/frame.h"
#include "runtime/transport/socket.h"

namespace prfaas::transport {

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
    uint64_t payload_bytes = 0;      // landed in sequences
    uint64_t dropped_bytes = 0;      // payloads of unknown or failed requests, discarded
    uint64_t frames_rejected = 0;
    uint64_t connections = 0;
  };

  kv_receiver(const endpoint& listen_at, event_sink sink, int max_connections = 64);
  ~kv_receiver();  // stops and joins every thread
  kv_receiver(const kv_receiver&) = delete;
  kv_receiver& operator=(const kv_receiver&) = delete;

  uint16_t port() const { return port_; }
  // kv.tokens() must already be the prompt length the sender will send.
  void expect(uint64_t request, kv::sequence_kv& kv);
  void cancel(uint64_t request);
  counters stats() const;

 private:
  struct pending;
  struct connection;
  void accept_loop();
  void serve(std::shared_ptr<connection> conn);
  bool handle_frame(connection& conn);
  void land_payload(connection& conn, const frame_header& h, const segment_table& t,
                    std::span<const std::byte> seg0);
  void fail_locked(uint64_t request, const std::string& why);
  void drain(connection& conn, size_t bytes);

  event_sink sink_;
  int max_connections_;
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
