#pragma once
// A check of the actor plane's byte stream before CAF's BASP parser sees it: CAF 0.17 trusts a
// header it has decrypted from a peer that proved a certificate, and 32 bytes (a client
// handshake declaring no payload) crash it, a header declaring a 2 GiB payload makes it allocate
// one.  Any certificate holder could do either.  This checker walks the stream as BASP frames
// it: a 32-byte header (operation, 3 bytes, payload length, operation data, source and
// destination actor, big-endian), then the payload it declares, and fails at the first header
// that is not one a well-behaved CAF node sends:
//
//   - an operation outside 0..6 (server/client handshake, direct, routed, monitor, down, heartbeat);
//   - a routed message (op 3), unless allowed: every member of a deployment talks to the router
//     directly, so a message that claims another node as its source is a forgery;
//   - a payload longer than the bound (node.max_message_mib);
//   - a handshake, message, monitor or down frame without a payload; a heartbeat with one;
//   - a server handshake without operation data; a client handshake naming actors;
//   - a direct message to no actor.
//
// Pure: no sockets, no CAF, no OpenSSL (actors/basp_door.cpp feeds it from the TLS layer).
//
//   basp_check c({.max_payload = 16 << 20});
//   if (!c.feed(bytes, n)) refuse(c.why());

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace prfaas::security {

struct basp_limits {
  uint64_t max_payload = 16u << 20;  // bytes one BASP message may declare
  bool allow_routed = false;         // routed messages (op 3)
};

class basp_check {
 public:
  static constexpr size_t header_bytes = 32;
  explicit basp_check(basp_limits limits = {}) : limits_(limits) {}
  // Feeds bytes as the peer sent them; false from the first bad header on (and ever after).
  bool feed(const uint8_t* data, size_t n);
  bool failed() const { return !why_.empty(); }
  const std::string& why() const { return why_; }
  uint64_t frames() const { return frames_; }
  uint64_t messages() const { return messages_; }  // of those, actor messages (direct or routed)
  // The payload of the peer's handshake (the node it declares itself to be is in it), once it
  // is complete; returned once.  At most handshake_bytes are kept.
  static constexpr size_t handshake_bytes = 4096;
  bool take_handshake(std::string& payload);

 private:
  bool check_header();
  basp_limits limits_;
  std::array<uint8_t, header_bytes> header_{};
  size_t have_ = 0;            // header bytes collected
  uint64_t payload_left_ = 0;  // of the current frame
  uint64_t frames_ = 0;
  uint64_t messages_ = 0;
  std::string why_;
  bool in_handshake_ = false;   // the current frame is the first handshake
  bool handshake_seen_ = false;
  bool handshake_ready_ = false;
  std::string handshake_;
};

}  // namespace prfaas::security
