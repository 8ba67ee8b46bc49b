#pragma once
// What one request's KV transfer reads from (sender) and lands in (receiver): a list of layers,
// each a list of payloads addressed by (layer, index), each an 8-byte-aligned byte span that
// stays valid until the transfer is done or cancelled.  sequence_kv is the usual one; the
// transport bench uses plain buffers.

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace prfaas::kv { class sequence_kv; }

namespace prfaas::transport {

// The id a request's KV goes under on the data plane, per attempt: the request's own for its
// first, another for each later one (the attempt in the top byte; a router's ids share their
// random high half, so no other request of its has it).  Payloads of an aborted attempt still
// on their way, or re-sent by their sender's resume, never land in a later attempt's sequence on
// the same node, whose layout may differ (another held prefix, a resumption).
inline uint64_t transfer_key(uint64_t request, int32_t attempt) {
  return request ^ (static_cast<uint64_t>(static_cast<uint8_t>(attempt)) << 56);
}


enum class payload_kind : uint8_t { block, state };

class transfer_view {
 public:
  virtual ~transfer_view() = default;
  virtual int layers() const = 0;
  virtual int payload_count(int layer) const = 0;
  virtual payload_kind kind(int layer) const = 0;
  virtual std::span<std::byte> payload(int layer, int index) = 0;
  virtual uint32_t token_count() const = 0;
};

// Every payload of a transfer numbered in order (layers in order, payloads in order): how the
// two ends name "what landed" when a transfer resumes.  offset[l] is layer l's first number.
struct payload_numbering {
  std::vector<size_t> offset;
  size_t total = 0;
  explicit payload_numbering(const transfer_view& t) {
    for (int l = 0; l < t.layers(); ++l) {
      offset.push_back(total);
      total += static_cast<size_t>(t.payload_count(l));
    }
  }
};

// The transfer view of one sequence's hybrid KV: full layers are blocks, linear layers states.
//
// `held_blocks` leaves out the first blocks of every full layer: the receiver already holds them
// (its prefix cache has the prompt's start), so they are neither sent nor expected, and payload
// i of a full layer is block held_blocks + i.  Both ends build their view with the same number:
// the linear states always cross (a state is only valid at the sequence's end).
class sequence_transfer final : public transfer_view {
 public:
  // `tokens` >= 0 fixes the token count frames carry: a sequence still being prefilled in
  // chunks streams its finished blocks under the length it will have.
  explicit sequence_transfer(kv::sequence_kv& kv, int tokens = -1, int held_blocks = 0)
      : kv_(kv), tokens_(tokens), held_(held_blocks) {}
  int held_blocks() const { return held_; }
  // Payloads [first, end) of `layer` as the sequence numbers them (its blocks), as this view
  // numbers them: held blocks left out, the range empty when all of it is held.
  std::pair<int, int> view_range(int layer, int first, int end) const;
  int layers() const override;
  int payload_count(int layer) const override;
  payload_kind kind(int layer) const override;
  std::span<std::byte> payload(int layer, int index) override;
  uint32_t token_count() const override;

 private:
  kv::sequence_kv& kv_;
  int tokens_;
  int held_;
};

// One layer of `count` equal buffers of `bytes` each, carved from `base` (bench, tests).
class buffer_transfer final : public transfer_view {
 public:
  buffer_transfer(std::byte* base, int count, size_t bytes) : base_(base), count_(count), bytes_(bytes) {}
  int layers() const override { return 1; }
  int payload_count(int) const override { return count_; }
  payload_kind kind(int) const override { return payload_kind::block; }
  std::span<std::byte> payload(int, int index) override { return {base_ + index * bytes_, bytes_}; }
  uint32_t token_count() const override { return static_cast<uint32_t>(count_); }

 private:
  std::byte* base_;
  int count_;
  size_t bytes_;
};

}  // namespace prfaas::transport
