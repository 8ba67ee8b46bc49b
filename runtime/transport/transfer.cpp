#include "runtime/transport/transfer.h"

#include <algorithm>

#include "runtime/kv/sequence_kv.h"

namespace prfaas::transport {

int sequence_transfer::layers() const { return kv_.layout().n_layers(); }
// A fixed token count fixes the layout too: a sequence still being prefilled has fewer blocks
// than it will have, and both ends must agree on the final layout from the first frame on.
int sequence_transfer::payload_count(int layer) const {
  if (kind(layer) == payload_kind::state) return kv_.payload_count(layer);
  const int blocks = tokens_ < 0 ? kv_.payload_count(layer) : kv_.layout().blocks_for(tokens_);
  return std::max(0, blocks - held_);
}
payload_kind sequence_transfer::kind(int layer) const {
  return kv_.layout().kind(layer) == kv::layer_kind::full ? payload_kind::block : payload_kind::state;
}
std::pair<int, int> sequence_transfer::view_range(int layer, int first, int end) const {
  if (kind(layer) == payload_kind::state) return {first, end};
  return {std::max(first - held_, 0), std::max(end - held_, 0)};
}

std::span<std::byte> sequence_transfer::payload(int layer, int index) {
  return kv_.payload(layer, kind(layer) == payload_kind::block ? held_ + index : index);
}
uint32_t sequence_transfer::token_count() const {
  return static_cast<uint32_t>(tokens_ >= 0 ? tokens_ : kv_.tokens());
}

}  // namespace prfaas::transport
