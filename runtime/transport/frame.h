#pragma once
// KV frame codec: a pure class over byte spans, apart from sockets (fuzzed directly).
//
// Wire form of one frame (Cap'n Proto's standard stream framing, schemas/kv_frame.capnp):
//   segment table | segment 0: the KvFrame struct | segment 1: the payload, if any
// The payload segment is the sender's block memory itself (referenceExternalData), so encoding
// copies no KV byte, and the receiver reads the table and segment 0 first, learns where the
// payload belongs, and reads segment 1 straight into that place.
//
// Sending:
//   frame_encoder enc;
//   enc.encode(header, block_bytes);          // block_bytes: 8-byte aligned, outlives the send
//   writev(fd, enc.iovecs().data(), enc.iovecs().size());
//
// Receiving:
//   std::byte word[8];   read 8 bytes               -> frame_decoder::table_bytes(word)
//   read the rest of the table                       -> frame_decoder::parse_table(table)
//   read segment 0 (table.header_words * 8 bytes)    -> frame_decoder::decode_header(seg0, table)
//   check header against the destination; read table.payload_words * 8 bytes into it
//   frame_decoder::verify_payload(seg0, dst, expected_bytes)
//
// Every limit is checked before any byte is written: a hostile peer can make a frame fail,
// never make the receiver allocate or write beyond what the header's destination allows.

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "runtime/common/token_logprobs.h"

namespace prfaas::transport {

inline constexpr uint32_t kProtocolVersion = 4;  // 2: mutual authentication; 3: the KV layout in hello;
                                                 // 4: the first token's log-probabilities in request_done
inline constexpr size_t kMaxLayoutChars = 192;   // a hello's layout descriptor
inline constexpr size_t kMaxHeaderWords = 64;                  // the KvFrame struct and its text
inline constexpr size_t kMaxPayloadBytes = size_t{256} << 20;  // below capnp's 512 MiB Data limit

// Mirrors KvFrame.kind; values are the schema's.
enum class frame_kind : uint16_t {
  hello = 0, kv_block = 1, linear_state = 2, layer_done = 3, request_done = 4, abort = 5,
  challenge = 6, proof = 7, accepted = 8, nccl_id = 9, device_payload = 10, ack = 11, resume = 12,
  resume_state = 13
};

// Frames that carry a payload segment: KV data, and the handshake's nonce and proof.
inline bool carries_payload(frame_kind k) {
  return k == frame_kind::kv_block || k == frame_kind::linear_state || k == frame_kind::challenge ||
         k == frame_kind::proof || k == frame_kind::nccl_id;
}
// A resume_state carries its bitmap only when there is something to resume.
inline bool may_carry_payload(frame_kind k) { return k == frame_kind::resume_state; }

// A hello's `token_count`: the sender asks for encrypted payloads (payload_cipher.h).
inline constexpr uint32_t kHelloEncrypt = 1;

// An ack's `index`, and a resume_state's.
enum class ack_kind : uint32_t { progress = 1, complete = 2, failed = 3 };
enum class resume_kind : uint32_t { unknown = 0, active = 1, complete = 2 };

struct frame_header {
  frame_kind kind = frame_kind::hello;
  uint64_t request = 0;
  uint32_t layer = 0;
  uint32_t index = 0;
  uint32_t token_count = 0;
  int32_t first_token = 0;
  // request_done, when the job asked for them: the first token's log-probabilities (at most
  // kMaxTopLogprobs alternatives, runtime/common/token_logprobs.h).
  std::optional<token_logprobs> first_logprobs;
  uint32_t version = kProtocolVersion;
  std::string reason;  // hello: sender name; abort: cause
  std::string layout;  // hello: the sender's KV layout descriptor (kv/kv_layout.h)
  uint64_t payload_bytes = 0;  // device_payload: bytes that follow over NCCL
  // kv_block, linear_state on an encrypted link (payload_cipher.h): the payload's tag.
  bool has_tag = false;
  std::array<uint8_t, 16> tag{};
};

// Builds one frame; the iovecs stay valid until the next encode() or destruction.
class frame_encoder {
 public:
  frame_encoder();
  ~frame_encoder();
  // payload must be 8-byte aligned with a size that is a multiple of 8 (capnp sends whole words).
  void encode(const frame_header& header, std::span<const std::byte> payload = {});
  std::span<const iovec> iovecs() const { return {iov_.data(), iov_count_}; }
  size_t wire_bytes() const;

 private:
  struct state;
  std::unique_ptr<state> state_;
  std::array<uint32_t, 4> table_{};
  std::array<iovec, 3> iov_{};
  size_t iov_count_ = 0;
};

struct segment_table {
  size_t table_bytes = 0;    // bytes of the table itself, padding included
  size_t header_words = 0;   // segment 0
  size_t payload_words = 0;  // segment 1, 0 when the frame has no payload
};

struct frame_decoder {
  // From the first 8 bytes: the whole table's size. Throws failure(bad_frame).
  static size_t table_bytes(std::span<const std::byte, 8> first_word);
  // From the whole table. Throws failure(bad_frame) on a segment count other than 1 or 2 or a
  // segment over its limit.
  static segment_table parse_table(std::span<const std::byte> table);
  // From segment 0 (8-byte aligned). Throws failure(bad_frame) on a malformed struct.
  static frame_header decode_header(std::span<const std::byte> segment0, const segment_table& t);
  // After the payload landed at `payload` (payload_words * 8 bytes): the frame's Data must be
  // exactly expected_bytes long and start at payload.data(). Throws failure(bad_frame).
  static void verify_payload(std::span<const std::byte> segment0,
                             std::span<const std::byte> payload, size_t expected_bytes);
};

const char* to_string(frame_kind kind);

}  // namespace prfaas::transport
