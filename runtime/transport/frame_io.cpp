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

size_t frame_reader::take(std::span<std::byte> dst) {
  const size_t n = std::min(dst.size(), carry_len_ - carry_pos_);
  std::memcpy(dst.data(), carry_.data() + carry_pos_, n);
  carry_pos_ += n;
  if (carry_pos_ == carry_len_) carry_pos_ = carry_len_ = 0;
  return n;
}

bool frame_reader::fill(size_t want) {
  if (carry_len_ - carry_pos_ >= want) return true;
  // Keep what is there at the front, then read up to the carry's size (never past it).
  std::memmove(carry_.data(), carry_.data() + carry_pos_, carry_len_ - carry_pos_);
  carry_len_ -= carry_pos_;
  carry_pos_ = 0;
  while (carry_len_ < want) {
    const size_t got = read_some(s_, std::span(carry_).subspan(carry_len_, want - carry_len_));
    if (got == 0) {
      if (carry_len_ == 0) return false;
      throw failure(errc::transport_failed, "peer closed the connection mid-frame");
    }
    carry_len_ += got;
  }
  return true;
}

bool frame_reader::read_header(received_header& out) {
  if (!fill(16)) return false;
  const std::byte* at = carry_.data() + carry_pos_;
  const size_t len = frame_decoder::table_bytes(std::span<const std::byte, 8>(at, 8));
  out.table = frame_decoder::parse_table(std::span(at, 16).first(len));
  const size_t header_bytes = len + out.table.header_words * 8;  // at most 16 + kMaxHeaderWords * 8
  fill(header_bytes);
  std::memcpy(out.seg0_storage.data(), carry_.data() + carry_pos_ + len, header_bytes - len);
  carry_pos_ += header_bytes;
  if (carry_pos_ == carry_len_) carry_pos_ = carry_len_ = 0;
  out.header = frame_decoder::decode_header(out.seg0(), out.table);
  next_header_ = header_bytes;
  return true;
}

void frame_reader::read_payload(std::span<std::byte> dst) {
  size_t done = take(dst);
  copied_ += done;  // payload bytes that came ahead of time, with the last header
  while (done < dst.size()) {
    // The rest of the payload and, when the sender has written it already, the next header.
    std::array<iovec, 2> iov{};
    iov[0] = {dst.data() + done, dst.size() - done};
    iov[1] = {carry_.data(), next_header_};
    const size_t got = read_some_v(s_, std::span(iov));
    if (got == 0) throw failure(errc::transport_failed, "peer closed the connection mid-frame");
    if (got <= dst.size() - done) {
      done += got;
    } else {
      carry_pos_ = 0;
      carry_len_ = got - (dst.size() - done);
      done = dst.size();
    }
  }
}

void frame_reader::skip(size_t bytes, std::span<std::byte> scratch) {
  while (bytes > 0) {
    const size_t n = std::min(bytes, scratch.size());
    read_payload(scratch.first(n));
    bytes -= n;
  }
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
