#include "runtime/transport/frame_io.h"

#include <cstring>

#include "runtime/common/errc.h"

namespace prfaas::transport {

// Two reads a frame: its first 16 bytes (a frame has at most two segments, so they hold the
// whole table, and with one segment the header's first word too: every header has one), then
// the rest of the header.  The payload, if any, is left for its destination.
bool read_header(const socket_fd& s, received_header& out) {
  alignas(8) std::array<std::byte, 16> first{};
  if (!read_exact(s, first)) return false;
  const size_t len = frame_decoder::table_bytes(std::span<const std::byte, 8>(first.data(), 8));
  out.table = frame_decoder::parse_table(std::span(first).first(len));
  const auto seg0 = std::span(out.seg0_storage).first(out.table.header_words * 8);
  const size_t have = first.size() - len;  // header bytes already read
  std::memcpy(seg0.data(), first.data() + len, have);
  if (seg0.size() > have) read_exact(s, seg0.subspan(have));
  out.header = frame_decoder::decode_header(out.seg0(), out.table);
  return true;
}

std::vector<uint8_t> read_small_payload(const socket_fd& s, const received_header& h, size_t max_bytes) {
  if (h.payload_bytes() > max_bytes) throw failure(errc::bad_frame, std::string(to_string(h.header.kind)) + " payload too large");
  std::vector<uint64_t> words(h.table.payload_words);
  auto bytes = std::as_writable_bytes(std::span(words));
  read_exact(s, bytes);
  // The Data field's exact length is at most the segment; the handshake fixes it to whole words.
  frame_decoder::verify_payload(h.seg0(), bytes, bytes.size());
  std::vector<uint8_t> out(bytes.size());
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

void write_frame(const socket_fd& s, frame_encoder& enc, const frame_header& h, std::span<const std::byte> payload) {
  enc.encode(h, payload);
  auto src = enc.iovecs();
  std::array<iovec, 3> iov{};
  std::copy(src.begin(), src.end(), iov.begin());
  write_all(s, std::span<iovec>(iov.data(), src.size()));
}

}  // namespace prfaas::transport
