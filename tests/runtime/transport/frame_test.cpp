// The frame codec: what goes on the wire, that payloads are referenced not copied, and that a
// malformed frame is refused before any byte of it is written anywhere.

#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include "runtime/common/errc.h"
#include "runtime/transport/frame.h"

using namespace prfaas;
using namespace prfaas::transport;

namespace {

// Flattens an encoder's iovecs into the bytes a socket would carry.
std::vector<std::byte> wire(const frame_encoder& enc) {
  std::vector<std::byte> out;
  for (const auto& v : enc.iovecs()) {
    auto* p = static_cast<const std::byte*>(v.iov_base);
    out.insert(out.end(), p, p + v.iov_len);
  }
  return out;
}

struct decoded {
  segment_table table;
  frame_header header;
  std::vector<uint64_t> seg0;  // 8-byte aligned copy
  size_t payload_offset;
};

decoded decode(const std::vector<std::byte>& bytes) {
  decoded d;
  const size_t table_len = frame_decoder::table_bytes(std::span<const std::byte, 8>(bytes.data(), 8));
  d.table = frame_decoder::parse_table(std::span(bytes).first(table_len));
  d.seg0.resize(d.table.header_words);
  std::memcpy(d.seg0.data(), bytes.data() + table_len, d.table.header_words * 8);
  auto seg0 = std::as_bytes(std::span(d.seg0));
  d.header = frame_decoder::decode_header(seg0, d.table);
  d.payload_offset = table_len + d.table.header_words * 8;
  return d;
}

}  // namespace

TEST_CASE("a KV frame carries its header and references the block in place") {
  alignas(64) static std::array<float, 1024> block;
  for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<float>(i) * 0.5f;
  frame_header h;
  h.kind = frame_kind::kv_block;
  h.request = 42;
  h.layer = 3;
  h.index = 7;
  h.token_count = 500;
  frame_encoder enc;
  enc.encode(h, std::as_bytes(std::span(block)));

  auto iov = enc.iovecs();
  REQUIRE(iov.size() == 3);
  CHECK(iov[2].iov_base == block.data());  // zero copy: the kernel reads the block itself
  CHECK(iov[2].iov_len == sizeof(block));

  const auto bytes = wire(enc);
  const auto d = decode(bytes);
  CHECK(d.header.kind == frame_kind::kv_block);
  CHECK(d.header.request == 42);
  CHECK(d.header.layer == 3);
  CHECK(d.header.index == 7);
  CHECK(d.header.token_count == 500);
  CHECK(d.table.payload_words * 8 == sizeof(block));

  // The payload lands in a destination; the frame's Data must point exactly there.
  std::vector<uint64_t> dst(sizeof(block) / 8);
  std::memcpy(dst.data(), bytes.data() + d.payload_offset, sizeof(block));
  auto dst_bytes = std::as_bytes(std::span(dst));
  frame_decoder::verify_payload(std::as_bytes(std::span(d.seg0)), dst_bytes, sizeof(block));
  CHECK(std::memcmp(dst.data(), block.data(), sizeof(block)) == 0);
  CHECK_THROWS_AS(frame_decoder::verify_payload(std::as_bytes(std::span(d.seg0)), dst_bytes, sizeof(block) - 8), failure);
}

TEST_CASE("control frames carry no payload and keep their text") {
  frame_header h;
  h.kind = frame_kind::abort;
  h.request = 9;
  h.reason = "prefill node lost its GPU";
  frame_encoder enc;
  enc.encode(h);
  CHECK(enc.iovecs().size() == 2);
  const auto d = decode(wire(enc));
  CHECK(d.header.kind == frame_kind::abort);
  CHECK(d.header.reason == "prefill node lost its GPU");
  CHECK(d.table.payload_words == 0);
}

TEST_CASE("request_done carries the first token and, when the job asked, its log-probabilities") {
  frame_header h;
  h.kind = frame_kind::request_done;
  h.request = 11;
  h.token_count = 300;
  h.first_token = 151643;
  frame_encoder enc;
  enc.encode(h);
  CHECK_FALSE(decode(wire(enc)).header.first_logprobs);  // not asked: none
  token_logprobs lp;
  lp.logprob = -0.25f;
  for (int i = 0; i < 20; ++i) {
    lp.top_ids.push_back(151000 + i);
    lp.top_logprobs.push_back(-0.25f - static_cast<float>(i));
  }
  h.first_logprobs = lp;
  enc.encode(h);
  const auto d = decode(wire(enc));
  CHECK(d.header.first_token == 151643);
  REQUIRE(d.header.first_logprobs);
  CHECK(d.header.first_logprobs->logprob == -0.25f);
  CHECK(d.header.first_logprobs->top_ids == lp.top_ids);
  CHECK(d.header.first_logprobs->top_logprobs == lp.top_logprobs);
  // More alternatives than OpenAI's 20, or ids and values that differ in number: never sent.
  h.first_logprobs->top_ids.push_back(5);
  h.first_logprobs->top_logprobs.push_back(-30);
  CHECK_THROWS(enc.encode(h));
  h.first_logprobs->top_ids.resize(3);
  CHECK_THROWS(enc.encode(h));
}

TEST_CASE("the encoder refuses payloads capnp would send past their end") {
  alignas(8) std::array<std::byte, 16> buf{};
  frame_header h;
  h.kind = frame_kind::kv_block;
  frame_encoder enc;
  CHECK_THROWS_AS(enc.encode(h, std::span(buf).subspan(1, 8)), failure);  // unaligned
  CHECK_THROWS_AS(enc.encode(h, std::span(buf).first(13)), failure);       // not whole words
}

TEST_CASE("malformed segment tables are refused with bad_frame") {
  auto table = [](std::vector<uint32_t> words) {
    std::vector<std::byte> b(words.size() * 4);
    std::memcpy(b.data(), words.data(), b.size());
    return b;
  };
  auto refused = [](auto&& f) {
    try { f(); } catch (const failure& e) { return e.code() == errc::bad_frame; }
    return false;
  };
  const auto three_segments = table({2, 4, 4, 4});
  CHECK(refused([&] { frame_decoder::table_bytes(std::span<const std::byte, 8>(three_segments.data(), 8)); }));
  const auto huge_header = table({0, 100000});
  CHECK(refused([&] { frame_decoder::parse_table(huge_header); }));
  const auto huge_payload = table({1, 4, 0x7fffffff, 0});
  CHECK(refused([&] { frame_decoder::parse_table(huge_payload); }));
  const auto empty_header = table({0, 0});
  CHECK(refused([&] { frame_decoder::parse_table(empty_header); }));
}

TEST_CASE("a data frame without a payload, or a control frame with one, is refused") {
  frame_header h;
  h.kind = frame_kind::kv_block;
  frame_encoder enc;
  enc.encode(h);  // the encoder allows it; the decoder must not
  CHECK_THROWS_AS(decode(wire(enc)), failure);
}

TEST_CASE("random bytes never crash the decoder: they decode or fail with bad_frame") {
  std::mt19937_64 rng(1234);  // fixed seed; print it on failure
  INFO("seed 1234");
  int refused = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint64_t> words(2 + rng() % 12);
    for (auto& w : words) w = rng();
    if (round % 2) { words[0] = (rng() % 2) | (uint64_t{1 + rng() % 8} << 32); }  // plausible tables
    auto bytes = std::as_bytes(std::span(words));
    try {
      const size_t tl = frame_decoder::table_bytes(bytes.first<8>());
      if (tl > bytes.size()) continue;
      const auto t = frame_decoder::parse_table(bytes.first(tl));
      if (tl + t.header_words * 8 > bytes.size()) continue;
      frame_decoder::decode_header(bytes.subspan(tl, t.header_words * 8), t);
    } catch (const failure& f) {
      REQUIRE(f.code() == errc::bad_frame);
      ++refused;
    }
  }
  CHECK(refused > 0);
}
