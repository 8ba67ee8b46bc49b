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

// Reads one connection's frames with as few system calls as it can: a frame's payload and the
// start of the next frame come in one readv, the next frame's header bytes into a small carry
// (as many as the header just read had: a stream's frames are alike), so a frame costs about
// one call instead of three.  When the next header is shorter than that, the carry holds the
// first bytes of its payload, which read_payload copies into place: the bounce path, counted in
// copied_bytes() (a few bytes a frame at most).  Errors are read_header's and read_exact's.
class frame_reader {
 public:
  explicit frame_reader(const socket_fd& s) : s_(s) {}
  bool buffered() const { return carry_len_ > carry_pos_; }  // bytes read ahead: do not wait on the socket
  bool read_header(received_header& out);             // false on a clean EOF before a frame
  void read_payload(std::span<std::byte> dst);        // exactly dst.size() bytes
  void skip(size_t bytes, std::span<std::byte> scratch);  // a payload nobody wants
  uint64_t copied_bytes() const { return copied_; }

 private:
  size_t take(std::span<std::byte> dst);                  // from the carry
  bool fill(size_t want);                                 // the carry holds `want` bytes (false: EOF first)

  const socket_fd& s_;
  alignas(8) std::array<std::byte, 16 + kMaxHeaderWords * 8> carry_{};
  size_t carry_pos_ = 0, carry_len_ = 0;
  size_t next_header_ = 16;  // bytes to read ahead after a payload
  uint64_t copied_ = 0;
};
// Reads a payload of at most `max_bytes` (the handshake's nonce or proof) into a vector.
std::vector<uint8_t> read_small_payload(const socket_fd& s, const received_header& h, size_t max_bytes);
// Encodes and writes one frame (one sendmsg).
void write_frame(const socket_fd& s, frame_encoder& enc, const frame_header& h, std::span<const std::byte> payload = {});

}  // namespace prfaas::transport
