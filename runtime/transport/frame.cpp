#include "runtime/transport/frame.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>

#include "runtime/common/errc.h"
#include "schemas/kv_frame.capnp.h"

namespace prfaas::transport {
namespace {

capnp::ReaderOptions frame_reader_options() {
  capnp::ReaderOptions opts;
  // A frame is at most one payload plus a small header; the limit stops a crafted frame from
  // making the reader walk more than that.
  opts.traversalLimitInWords = (kMaxPayloadBytes / 8) + kMaxHeaderWords * 4;
  opts.nestingLimit = 4;
  return opts;
}

[[noreturn]] void bad(const std::string& what) { throw failure(errc::bad_frame, "bad KV frame: " + what); }

uint32_t read_u32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // little-endian wire, little-endian hosts (x86-64, aarch64)
}

}  // namespace

struct frame_encoder::state {
  std::unique_ptr<capnp::MallocMessageBuilder> builder;
};

frame_encoder::frame_encoder() : state_(std::make_unique<state>()) {}
frame_encoder::~frame_encoder() = default;

void frame_encoder::encode(const frame_header& h, std::span<const std::byte> payload) {
  PRFAAS_REQUIRE(reinterpret_cast<uintptr_t>(payload.data()) % 8 == 0,
                 "KV payload must be 8-byte aligned");
  PRFAAS_REQUIRE(payload.size() % 8 == 0, "KV payload size must be a multiple of 8 bytes");
  PRFAAS_REQUIRE(payload.size() <= kMaxPayloadBytes, "KV payload too large");
  // A fresh builder per frame costs well under a microsecond; its first segment is sized for
  // the header so the payload is always segment 1.
  state_->builder = std::make_unique<capnp::MallocMessageBuilder>(kMaxHeaderWords);
  auto& mb = *state_->builder;
  auto f = mb.initRoot<KvFrame>();
  f.setKind(static_cast<FrameKind>(h.kind));
  f.setRequestId(h.request);
  f.setLayer(h.layer);
  f.setIndex(h.index);
  f.setTokenCount(h.token_count);
  f.setFirstToken(h.first_token);
  if (h.first_logprobs) {
    const auto& lp = *h.first_logprobs;
    PRFAAS_REQUIRE(lp.top_ids.size() == lp.top_logprobs.size() && lp.top_ids.size() <= size_t{kMaxTopLogprobs},
                   "a first token's alternatives: as many ids as log-probabilities, at most " +
                       std::to_string(kMaxTopLogprobs));
    auto w = f.initFirstLogprobs();
    w.setLogprob(lp.logprob);
    auto ids = w.initTopIds(static_cast<unsigned>(lp.top_ids.size()));
    auto lps = w.initTopLogprobs(static_cast<unsigned>(lp.top_logprobs.size()));
    for (size_t i = 0; i < lp.top_ids.size(); ++i) {
      ids.set(static_cast<unsigned>(i), lp.top_ids[i]);
      lps.set(static_cast<unsigned>(i), lp.top_logprobs[i]);
    }
  }
  f.setVersion(h.version);
  if (!h.reason.empty()) f.setReason(h.reason.substr(0, 256));
  PRFAAS_REQUIRE(h.layout.size() <= kMaxLayoutChars, "KV layout descriptor too long");
  if (!h.layout.empty()) f.setLayout(h.layout);
  f.setPayloadBytes(h.payload_bytes);
  if (h.has_tag) f.setTag(capnp::Data::Reader(h.tag.data(), h.tag.size()));
  if (!payload.empty())
    f.adoptData(mb.getOrphanage().referenceExternalData(
        capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(payload.data()), payload.size())));
  auto segs = mb.getSegmentsForOutput();
  PRFAAS_ASSERT(segs.size() == (payload.empty() ? 1u : 2u));
  table_[0] = static_cast<uint32_t>(segs.size() - 1);
  for (size_t i = 0; i < segs.size(); ++i) table_[1 + i] = static_cast<uint32_t>(segs[i].size());
  table_[segs.size() + 1] = 0;  // padding word half when the count is even
  const size_t table_len = ((1 + segs.size()) * 4 + 7) / 8 * 8;
  iov_[0] = {table_.data(), table_len};
  for (size_t i = 0; i < segs.size(); ++i)
    iov_[1 + i] = {const_cast<capnp::word*>(segs[i].begin()), segs[i].size() * sizeof(capnp::word)};
  iov_count_ = 1 + segs.size();
}

size_t frame_encoder::wire_bytes() const {
  size_t n = 0;
  for (size_t i = 0; i < iov_count_; ++i) n += iov_[i].iov_len;
  return n;
}

size_t frame_decoder::table_bytes(std::span<const std::byte, 8> first_word) {
  const uint32_t segments = read_u32(first_word.data()) + 1;
  if (segments < 1 || segments > 2) bad("segment count " + std::to_string(segments));
  return ((1 + segments) * 4 + 7) / 8 * 8;
}

segment_table frame_decoder::parse_table(std::span<const std::byte> table) {
  if (table.size() < 8) bad("short segment table");
  const size_t expect = table_bytes(table.first<8>());
  if (table.size() != expect) bad("segment table size");
  const uint32_t segments = read_u32(table.data()) + 1;
  segment_table t;
  t.table_bytes = expect;
  t.header_words = read_u32(table.data() + 4);
  if (t.header_words == 0 || t.header_words > kMaxHeaderWords)
    bad("header segment of " + std::to_string(t.header_words) + " words");
  if (segments == 2) {
    t.payload_words = read_u32(table.data() + 8);
    if (t.payload_words == 0 || t.payload_words * 8 > kMaxPayloadBytes)
      bad("payload segment of " + std::to_string(t.payload_words) + " words");
  }
  return t;
}

frame_header frame_decoder::decode_header(std::span<const std::byte> seg0, const segment_table& t) {
  if (seg0.size() != t.header_words * 8) bad("header segment size");
  if (reinterpret_cast<uintptr_t>(seg0.data()) % 8 != 0) bad("unaligned header segment");
  try {
    kj::ArrayPtr<const capnp::word> segs[1] = {
        {reinterpret_cast<const capnp::word*>(seg0.data()), t.header_words}};
    // Only segment 0 is given: reading the scalar fields never follows the payload pointer.
    capnp::SegmentArrayMessageReader rd(kj::arrayPtr(segs, 1), frame_reader_options());
    auto f = rd.getRoot<KvFrame>();
    frame_header h;
    const auto kind = static_cast<uint16_t>(f.getKind());
    if (kind > static_cast<uint16_t>(frame_kind::resume_state)) bad("unknown frame kind " + std::to_string(kind));
    h.kind = static_cast<frame_kind>(kind);
    h.request = f.getRequestId();
    h.layer = f.getLayer();
    h.index = f.getIndex();
    h.token_count = f.getTokenCount();
    h.first_token = f.getFirstToken();
    if (f.hasFirstLogprobs()) {
      const auto r = f.getFirstLogprobs();
      const auto ids = r.getTopIds();
      const auto lps = r.getTopLogprobs();
      if (ids.size() != lps.size() || ids.size() > unsigned{kMaxTopLogprobs})
        bad("a first token's log-probabilities with " + std::to_string(ids.size()) + " ids and " +
            std::to_string(lps.size()) + " values (at most " + std::to_string(kMaxTopLogprobs) + ", as many of each)");
      token_logprobs lp;
      lp.logprob = r.getLogprob();
      for (unsigned i = 0; i < ids.size(); ++i) {
        lp.top_ids.push_back(ids[i]);
        lp.top_logprobs.push_back(lps[i]);
      }
      h.first_logprobs = std::move(lp);
    }
    h.version = f.getVersion();
    if (f.hasReason()) h.reason = f.getReason().cStr();
    if (f.hasLayout()) {
      const auto layout = f.getLayout();
      if (layout.size() > kMaxLayoutChars) bad("a layout descriptor of " + std::to_string(layout.size()) + " characters");
      h.layout = layout.cStr();
    }
    h.payload_bytes = f.getPayloadBytes();
    if (f.hasTag()) {
      const auto tag = f.getTag();
      if (tag.size() != h.tag.size()) bad("a payload tag of " + std::to_string(tag.size()) + " bytes");
      std::memcpy(h.tag.data(), tag.begin(), h.tag.size());
      h.has_tag = true;
    }
    const bool wants_payload = carries_payload(h.kind);
    if (!may_carry_payload(h.kind) && wants_payload != (t.payload_words > 0))
      bad(std::string(to_string(h.kind)) + (wants_payload ? " frame without" : " frame with") + " a payload");
    return h;
  } catch (const kj::Exception& e) {
    bad(e.getDescription().cStr());
  }
}

void frame_decoder::verify_payload(std::span<const std::byte> seg0, std::span<const std::byte> payload,
                                   size_t expected_bytes) {
  try {
    kj::ArrayPtr<const capnp::word> segs[2] = {
        {reinterpret_cast<const capnp::word*>(seg0.data()), seg0.size() / 8},
        {reinterpret_cast<const capnp::word*>(payload.data()), payload.size() / 8}};
    capnp::SegmentArrayMessageReader rd(kj::arrayPtr(segs, 2), frame_reader_options());
    auto data = rd.getRoot<KvFrame>().getData();
    if (reinterpret_cast<const std::byte*>(data.begin()) != payload.data() || data.size() != expected_bytes)
      bad("payload does not cover its segment (" + std::to_string(data.size()) + " bytes, expected " +
          std::to_string(expected_bytes) + ")");
  } catch (const kj::Exception& e) {
    bad(e.getDescription().cStr());
  }
}

const char* to_string(frame_kind kind) {
  switch (kind) {
    case frame_kind::hello: return "hello";
    case frame_kind::kv_block: return "kv_block";
    case frame_kind::linear_state: return "linear_state";
    case frame_kind::layer_done: return "layer_done";
    case frame_kind::request_done: return "request_done";
    case frame_kind::abort: return "abort";
    case frame_kind::challenge: return "challenge";
    case frame_kind::proof: return "proof";
    case frame_kind::accepted: return "accepted";
    case frame_kind::nccl_id: return "nccl_id";
    case frame_kind::device_payload: return "device_payload";
    case frame_kind::ack: return "ack";
    case frame_kind::resume: return "resume";
    case frame_kind::resume_state: return "resume_state";
  }
  return "unknown";
}

}  // namespace prfaas::transport
