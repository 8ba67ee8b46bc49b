#pragma once
// Optional encryption of KV payloads on a link (transport.encrypt): AES-256-GCM through OpenSSL,
// for links that cross networks the deployment does not own.  Frame headers stay readable (they
// carry no KV) but are authenticated with their payload, so a payload cannot be moved to another
// block, layer or request.
//
// Each connection has its own key, derived from the deployment's secret and the two nonces of
// its handshake (so no two connections, and no two runs, share a key), and numbers its payload
// frames: the n-th payload frame on a connection is sealed with nonce n, which both ends count,
// TCP keeping the order.  A payload that fails authentication is refused and never used.
//
// The sender seals into its own buffer: the one copy that encryption costs (the KV blocks it
// reads stay untouched for resends).  The receiver opens in place, in the block the payload
// landed in.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/transport/frame.h"

namespace prfaas::transport {

using payload_key = std::array<uint8_t, 32>;
using payload_tag = std::array<uint8_t, 16>;

// The connection's key: HMAC-SHA256(secret, label | receiver's challenge | sender's nonce).
payload_key derive_payload_key(const std::string& secret, const std::vector<uint8_t>& receiver_challenge,
                               const std::vector<uint8_t>& sender_nonce);

class payload_cipher {
 public:
  explicit payload_cipher(const payload_key& key);
  ~payload_cipher();
  payload_cipher(const payload_cipher&) = delete;
  payload_cipher& operator=(const payload_cipher&) = delete;

  // Encrypts `in` into `out` (same size) under the next frame number; returns the tag.
  payload_tag seal(const frame_header& h, std::span<const std::byte> in, std::span<std::byte> out);
  // Decrypts `data` in place under the next frame number; false when the tag does not match
  // (then `data` holds nothing usable).
  bool open(const frame_header& h, std::span<std::byte> data, const payload_tag& tag);
  // A payload received but not opened (nobody expected it): its number is spent all the same.
  void skip();

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

}  // namespace prfaas::transport
