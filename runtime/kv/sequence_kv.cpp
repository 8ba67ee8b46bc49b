#include "runtime/kv/sequence_kv.h"

#include <algorithm>

#include "runtime/common/errc.h"

namespace prfaas::kv {

sequence_kv::sequence_kv(const kv::layout& shape, block_pool& pool)
    : layout_(shape), pool_(pool) {
  PRFAAS_REQUIRE(pool.block_bytes() == shape.block_bytes(),
                 "block pool block size does not match the model's KV block");
  block_ids_.resize(shape.n_layers());
  block_ptrs_.resize(shape.n_layers());
  states_.resize(shape.n_layers());
  for (int l = 0; l < shape.n_layers(); ++l)
    if (shape.kind(l) == layer_kind::linear)
      states_[l].assign(shape.linear_state_bytes() / sizeof(float), 0.0f);
}

sequence_kv::~sequence_kv() {
  for (auto& ids : block_ids_)
    for (int id : ids) pool_.release(id);
}

void sequence_kv::reserve(int tokens) {
  PRFAAS_REQUIRE(tokens <= layout_.max_context, "sequence longer than the model's context");
  if (tokens <= reserved_tokens_) return;
  const int want = layout_.blocks_for(tokens);
  for (int l = 0; l < layout_.n_layers(); ++l) {
    if (layout_.kind(l) != layer_kind::full) continue;
    while (static_cast<int>(block_ids_[l].size()) < want) {
      auto id = pool_.allocate();
      if (!id)
        throw failure(errc::no_capacity, "KV block pool exhausted (" +
                                             std::to_string(pool_.capacity()) + " blocks)");
      block_ids_[l].push_back(*id);
      block_ptrs_[l].push_back(pool_.floats(*id));
    }
  }
  reserved_tokens_ = want * layout_.block_tokens;
}

void sequence_kv::adopt_prefix(int tokens, const std::vector<std::vector<int>>& ids,
                               const std::vector<const std::vector<float>*>& states) {
  PRFAAS_REQUIRE(tokens_ == 0, "a shared prefix starts an empty sequence");
  PRFAAS_REQUIRE(tokens % layout_.block_tokens == 0, "a shared prefix is a whole number of blocks");
  const int blocks = tokens / layout_.block_tokens;
  for (int l = 0; l < layout_.n_layers(); ++l) {
    if (layout_.kind(l) == layer_kind::full) {
      PRFAAS_REQUIRE(static_cast<int>(ids.at(l).size()) == blocks, "shared prefix has the wrong block count");
      for (int b = 0; b < blocks; ++b) {
        const int id = ids[l][b];
        pool_.retain(id);
        if (b < static_cast<int>(block_ids_[l].size())) {
          pool_.release(block_ids_[l][b]);  // a block reserved for this position: the shared one replaces it
          block_ids_[l][b] = id;
          block_ptrs_[l][b] = pool_.floats(id);
        } else {
          block_ids_[l].push_back(id);
          block_ptrs_[l].push_back(pool_.floats(id));
        }
      }
    } else {
      const auto* s = states.at(l);
      if (!s) continue;
      PRFAAS_REQUIRE(s->size() == states_[l].size(), "shared prefix has the wrong state size");
      states_[l] = *s;
    }
  }
  reserved_tokens_ = std::max(reserved_tokens_, tokens);
  tokens_ = tokens;
}

void sequence_kv::set_tokens(int tokens) {
  PRFAAS_REQUIRE(tokens >= 0 && tokens <= reserved_tokens_, "token count beyond reserved KV");
  tokens_ = tokens;
}

int sequence_kv::payload_count(int layer) const {
  return layout_.kind(layer) == layer_kind::full ? layout_.blocks_for(tokens_) : 1;
}

std::span<std::byte> sequence_kv::payload(int layer, int index) {
  PRFAAS_REQUIRE(layer >= 0 && layer < layout_.n_layers(), "layer out of range");
  PRFAAS_REQUIRE(index >= 0 && index < payload_count(layer), "payload index out of range");
  if (layout_.kind(layer) == layer_kind::full)
    return {pool_.data(block_ids_[layer][index]), static_cast<size_t>(pool_.block_bytes())};
  auto& s = states_[layer];
  return {reinterpret_cast<std::byte*>(s.data()), s.size() * sizeof(float)};
}

long sequence_kv::total_payload_bytes() const { return layout_.sequence_bytes(tokens_); }

}  // namespace prfaas::kv
