#pragma once
// One shape for every way KV moves between nodes.  A carrier makes listeners (the receiving
// end: a decode node's, or a prefill node's taking pulled prefixes) and links (the sending end,
// one per peer).  TCP (kv_sender, kv_receiver), NCCL (nccl_link.h) and the in-process loopback
// (loopback_carrier.h) all carry transfer_views and all keep the same promises:
//
//   auto rx = carrier.listen({"127.0.0.1", 0}, sink, receiver_options{.secret = s});
//   rx->expect(id, destination);                       // before the sender starts
//   auto tx = carrier.connect({"127.0.0.1", rx->port()}, link_options{.secret = s});
//   tx->send_layer(id, source, l);                     // posts; waits only for window room
//   tx->send_done(id, tokens, first_token);
//   tx->finish(id, deadline);                          // confirmed: the source may be freed
//
// - Every payload lands byte for byte where the receiver's target says, whatever the order;
//   the sink hears layer_ready per layer and complete (or failed, naming the cause) once.
// - Completion: progress_of(id).acked_layers is the receiver's ready prefix of layers, monotone;
//   finish() returns once the receiver confirmed the whole request, with the request's payload
//   bytes on the wire (re-sends included: its record is gone afterwards).
// - Backpressure: at most link_options.max_inflight_bytes are posted and not yet written; a
//   poster waits for room (a carrier that writes synchronously never has more than a frame).
// - Ownership: once forget() or finish() returns, no thread of the carrier reads the source,
//   whatever happened (a broken connection, an abort, a deadline): only then may its blocks go
//   back to the pool.  Once the receiver's cancel() returns, none writes into the target.
// - Trust: a peer that does not prove the shared secret is refused before any KV moves.
// - Close: destroying a link or a listener stops and joins its threads; links to a listener
//   that is gone fail their transfers (TCP first tries to resume them: kv_sender.h).
//
// tests/support/carrier_conformance.h checks these against every carrier.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "runtime/common/endpoint.h"
#include "runtime/common/token_logprobs.h"
#include "runtime/transport/link_options.h"
#include "runtime/transport/link_stats.h"
#include "runtime/transport/pacer.h"
#include "runtime/transport/transfer.h"
#include "runtime/transport/transfer_registry.h"

namespace prfaas::transport {

// The receiving end's settings.
struct receiver_options {
  std::string secret;        // empty: accept unauthenticated peers
  int max_connections = 256;
  // Connections not yet past the handshake, at most this many at once, this many from one
  // address, and for this long in all (however they trickle bytes): peers that connect and say
  // nothing, or say it a byte at a time, cannot fill the connection bound nor another address's
  // slots.
  int max_handshaking = 32;
  int max_handshaking_per_peer = 4;
  std::chrono::milliseconds handshake_timeout{2000};
  size_t max_pending = 4096; // requests expected at once
  std::chrono::milliseconds receive_timeout{5000};  // a transfer's sender silent this long is dropped
  std::chrono::milliseconds resume_window{15000};   // an interrupted transfer waits this long
  std::chrono::milliseconds expect_grace{1000};     // a payload that outran its reservation waits this long
  bool require_encryption = false;  // refuse senders that do not ask for encrypted payloads
  // The KV layout this receiver lands (kv/kv_layout.h): a sender saying another one is refused,
  // both named, so bytes are never misread.  Empty: any (unit tests of the transport alone).
  std::string layout;
};

// What a sender knows of one request's transfer.
struct link_progress {
  bool known = false;
  uint32_t acked_layers = 0;        // the receiver's ready prefix
  bool complete = false;
  uint64_t payload_bytes_sent = 0;  // this request's, re-sends included
  bool failed = false;              // ended without completing (finish() says why)
};

// What a link keeps of one transfer's outcome; every carrier's per-request record is one.
struct transfer_outcome {
  enum state_t { active, complete, failed };
  state_t state = active;
  uint32_t acked_layers = 0;  // the receiver's ready prefix: only grows
  std::string error;          // failed: the cause, naming the peer
  uint64_t payload_sent = 0;  // this request's, re-sends included

  link_progress progress() const { return {true, acked_layers, state == complete, payload_sent, state == failed}; }
  void acknowledged(uint32_t layers) { acked_layers = std::max(acked_layers, layers); }
  void completed(uint32_t layers) {
    acknowledged(layers);
    if (state == active) state = complete;
  }
  void fail(std::string why) {
    if (state != active) return;
    state = failed;
    error = std::move(why);
  }
};

// The sending end of one link.  Thread-safe.  Errors: failure(transport_failed) naming the
// peer when the link or the transfer failed, failure(deadline_exceeded) from finish().
class carrier_link {
 public:
  using clock = std::chrono::steady_clock;
  virtual ~carrier_link() = default;

  // Payloads [first, end) of `layer`: a layer may go out in parts as they become final.
  virtual void send_payloads(uint64_t request, transfer_view& source, int layer, int first, int end) = 0;
  void send_layer(uint64_t request, transfer_view& source, int layer) {
    send_payloads(request, source, layer, 0, source.payload_count(layer));
  }
  // Every layer was sent; `first_token` is the prefill's, with its log-probabilities when the
  // job asked for them (the decode node reports them beside the tokens it chooses itself).
  virtual void send_done(uint64_t request, uint32_t tokens, int32_t first_token,
                         std::optional<token_logprobs> first_logprobs) = 0;
  void send_done(uint64_t request, uint32_t tokens, int32_t first_token) {
    send_done(request, tokens, first_token, std::nullopt);
  }
  // Tells the receiver to give the request up, and forgets it here.
  virtual void send_abort(uint64_t request, const std::string& reason) = 0;
  // Waits until the receiver confirmed the request complete; then its source may be freed.
  // Returns the request's payload bytes on the wire, re-sends included.
  virtual uint64_t finish(uint64_t request, clock::time_point deadline) = 0;
  // Drops the request without waiting for the receiver; once this returns no thread reads its
  // source.
  virtual void forget(uint64_t request) = 0;
  virtual link_progress progress_of(uint64_t request) const = 0;

  virtual bool broken() const = 0;
  // Nothing posted and unconfirmed, nothing queued: the link may be replaced.
  virtual bool idle() const = 0;
  virtual int connection_count() const = 0;
  virtual link_stats stats() const = 0;
  virtual uint64_t payload_bytes_sent() const = 0;  // every request's, re-sends included
};

// The receiving end: lands payloads in the targets registered for their requests.
class carrier_listener {
 public:
  virtual ~carrier_listener() = default;
  virtual uint16_t port() const = 0;
  // failure(no_capacity) past receiver_options.max_pending.
  virtual void expect(uint64_t request, transfer_view& target) = 0;
  // Afterwards no thread writes into the request's target.
  virtual void cancel(uint64_t request) = 0;
  virtual receive_counters stats() const = 0;
};

class carrier {
 public:
  using event_sink = transfer_registry::event_sink;
  virtual ~carrier() = default;
  virtual const char* name() const = 0;
  // Listens at `at` (port 0: any free one).  The sink is called on the carrier's threads,
  // possibly under its locks: it must only hand the event over.
  virtual std::unique_ptr<carrier_listener> listen(const endpoint& at, event_sink sink,
                                                   const receiver_options& options) = 0;
  // Connects and authenticates.  `egress` (optional) paces this link together with others.
  // Throws failure(unreachable), or failure(transport_failed) when refused.
  virtual std::shared_ptr<carrier_link> connect(const endpoint& to, const link_options& options,
                                                std::shared_ptr<pacer> egress = nullptr) = 0;
};

// TCP: kv_sender and kv_receiver, the default between hosts.
std::shared_ptr<carrier> make_tcp_carrier();

}  // namespace prfaas::transport
