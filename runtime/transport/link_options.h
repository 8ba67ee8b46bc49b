#pragma once
// Settings of one KV link (the connections from one sender to one receiver), and the
// handshake's authentication.
//
// Handshake on every connection:   sender: hello(name, link id, connection index)
//                                  receiver: challenge(32 random bytes)
//                                  sender: proof = HMAC-SHA256(secret, challenge | name)
//                                  receiver: accepted   (or it logs and closes)
// A receiver with an empty secret accepts any peer (unit tests); deployments always set one.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/common/endpoint.h"
#include "runtime/transport/payload_cipher.h"
#include "runtime/faults/fault_points.h"
#include "runtime/transport/socket.h"

namespace prfaas::transport {

struct link_options {
  std::string name;                        // this sender, e.g. "prfaas-prefill-0"
  std::string secret;                      // the deployment's shared secret
  int connections = 4;                     // TCP connections per peer, payloads striped
  // A link whose path needs more (transport/path_sizing.h) is re-made with up to this many,
  // between transfers; at most `connections`: never more.
  int max_connections = 0;
  size_t window_per_connection = 0;        // bytes one connection keeps in flight (0: the kernel's buffer maxima)
  size_t max_inflight_bytes = 64u << 20;   // enqueued and not yet written: the backpressure window
  double pacing_gbps = 0;                  // 0: unpaced; else every byte waits for the pacer
  // The link's rate, paced by the kernel (SO_MAX_PACING_RATE on each connection, its share of
  // this); 0: none.  For a real egress limit: no user-space sleep, TCP itself spaces segments.
  double kernel_pacing_gbps = 0;
  std::chrono::microseconds delay{0};      // added one-way delay (link emulation)
  double capacity_gbps = 0;                // the link's capacity, for utilisation (0: unknown)
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds receive_timeout{5000};   // a silent receiver (handshake, resume, acks)
  std::chrono::milliseconds resume_timeout{15000};   // a broken link is re-established for this long
  std::shared_ptr<fault_injector> faults;            // drop_frame, reset_link (null: none)
  bool encrypt = false;  // AES-256-GCM on every payload (payload_cipher.h); needs the secret
  std::string layout;    // the KV layout this sender's payloads have (kv/kv_layout.h), said in hello
};

// HMAC-SHA256 of `challenge` and `name` under `secret`.
std::vector<uint8_t> handshake_proof(const std::string& secret, const std::vector<uint8_t>& challenge,
                                     const std::string& name);
// The receiver's answer to the sender's own challenge: HMAC under another label.
std::vector<uint8_t> receiver_proof(const std::string& secret, const std::vector<uint8_t>& challenge,
                                    const std::string& sender_name);
std::vector<uint8_t> random_challenge();
// Constant-time comparison.
bool proofs_equal(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);
uint64_t random_link_id();

// The sending half of the handshake on a fresh connection: hello, then the proof (with a
// challenge of its own) when challenged, then the receiver's proof, until accepted.  With a
// secret, a receiver that does not prove it gets no KV.  Returns the bytes the receiver sent.  Throws
// failure(transport_failed) "... refused the connection ..." when the receiver hangs up.
struct handshake_result {
  uint64_t received = 0;            // bytes the receiver sent
  std::optional<payload_key> key;   // options.encrypt: the connection's payload key
};
handshake_result connect_handshake(const socket_fd& s, const link_options& o, uint64_t link_id, size_t index,
                                   const endpoint& peer);

}  // namespace prfaas::transport
