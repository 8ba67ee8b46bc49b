#pragma once
// Frames over a socket: read a frame's table and header segment, read a small payload (the
// handshake's), write a whole frame.  KV payloads are read by the receiver itself, straight
// into their destination.

#include <array>
#include <span>
#include <vector>

#include "runtime/transport/frame.h"
#include "runtime/transport/socket.h"

namespace prfaas::transport {

struct received_header {
  segment_table table;
  frame_header header;
  alignas(8) std::array<std::byte, kMaxHeaderWords * 8> seg0_storage;
  std::span<const std::byte> seg0() const { return std::span(seg0_storage).first(table.header_words * 8); }
  size_t payload_bytes() const { return table.payload_words * 8; }
};

// Returns false on a clean EOF before the frame; throws failure(bad_frame / transport_failed).
bool read_header(const socket_fd& s, received_header& out);
// Reads a payload of at most `max_bytes` (the handshake's nonce or proof) into a vector.
std::vector<uint8_t> read_small_payload(const socket_fd& s, const received_header& h, size_t max_bytes);
// Encodes and writes one frame (one sendmsg).
void write_frame(const socket_fd& s, frame_encoder& enc, const frame_header& h, std::span<const std::byte> payload = {});

}  // namespace prfaas::transport
