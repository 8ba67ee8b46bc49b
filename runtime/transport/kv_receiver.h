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
// Acknowledgements go back on the connection that carried the frame: each newly ready prefix
// of layers, then complete (or failed, naming the cause; also once for frames of a request it
// does not expect).  A connection that breaks interrupts its transfers instead of failing them:
// the sender reconnects, asks what landed (resume) and sends the rest; a transfer not resumed
// within `resume_window` fails (transfer_registry.h).  A connection whose transfer sees no byte
// for `receive_timeout` is dropped (a hung sender), which interrupts that transfer the same way.
//
// Each connection is authenticated first (link_options.h).  Payloads may come over any of a
// link's connections in any order: a layer is ready when all its payloads landed, the request
// complete when every layer is ready and its request_done arrived.  The receiver reads a
// frame's table and header, checks them against the registered transfer (layer, kind, index,
// token count, exact size) and only then reads the payload into its block: zero user-space
// copies.  Frames for unknown requests are read into a scratch buffer and dropped; frames that
// contradict the registered layout fail that request.
//
// Threads: one accept thread, one per connection (at most max_connections).  The accept thread
// also cuts handshakes past their deadline (a trickling peer resets no per-read timeout's worth).  The sink is
// called on them, possibly under the receiver's lock: it must only hand the event over.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runtime/common/endpoint.h"
#include "runtime/common/log_budget.h"
#include "runtime/transport/carrier.h"
#include "runtime/transport/frame_io.h"
#include "runtime/transport/payload_cipher.h"
#include "runtime/transport/socket.h"
#include "runtime/transport/transfer.h"
#include "runtime/transport/transfer_registry.h"

namespace prfaas::transport {

class kv_receiver final : public carrier_listener {
 public:
  using event = transfer_event;
  using event_sink = transfer_registry::event_sink;
  using counters = receive_counters;

  kv_receiver(const endpoint& listen_at, event_sink sink, receiver_options options = {});
  ~kv_receiver();  // stops and joins every thread
  kv_receiver(const kv_receiver&) = delete;
  kv_receiver& operator=(const kv_receiver&) = delete;

  uint16_t port() const override { return port_; }
  void expect(uint64_t request, transfer_view& target) override { registry_.expect(request, target); }
  void cancel(uint64_t request) override { registry_.cancel(request); }
  counters stats() const override { return registry_.stats(); }

 private:
  struct connection;
  void accept_loop();
  void serve(std::shared_ptr<connection> conn);
  bool handle_frame(connection& conn);
  void land_payload(connection& conn, const received_header& h);
  void answer_resume(connection& conn, uint64_t request);
  void acknowledge(connection& conn, const receipt& r);
  void cut(uint64_t connection);
  void refuse(socket_fd s, const std::string& why);
  void drain(connection& conn, size_t bytes);
  void cut_late_handshakes();  // under mutex_

  receiver_options options_;
  transfer_registry registry_;
  socket_fd listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;  // guards connections_ and log_
  std::vector<std::shared_ptr<connection>> connections_;
  log_budget log_{10, std::chrono::seconds(1)};  // refusals: a flood must not flood the log
};

// The receiving half of the handshake (link_options.h) on a fresh connection: reads hello,
// challenges when `secret` is set and proves it back.  Returns the peer's name and, when it
// asked for encrypted payloads, the connection's key; nothing when it failed to prove the
// secret, or did not ask for encryption that `require_encryption` demands (logged, and told
// why).  The caller answers accepted.  Throws failure(bad_frame) on a protocol error.
struct accepted_peer {
  std::string name;
  std::optional<payload_key> key;
};
std::optional<accepted_peer> accept_handshake(const socket_fd& s, const std::string& secret,
                                              bool require_encryption = false, const std::string& layout = "");

}  // namespace prfaas::transport
