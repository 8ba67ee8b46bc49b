#include "runtime/kv/prefix_directory.h"

namespace prfaas::kv {

std::vector<uint64_t> block_hash_chain(std::span<const int32_t> tokens, int block_tokens) {
  std::vector<uint64_t> chain;
  uint64_t parent = 0xcbf29ce484222325ull;
  for (size_t start = 0; start + block_tokens <= tokens.size(); start += block_tokens) {
    // FNV-1a over (parent, tokens): a block's key depends on everything before it.
    uint64_t h = parent;
    auto mix = [&h](uint64_t v) {
      for (int i = 0; i < 8; ++i) { h ^= (v >> (8 * i)) & 0xff; h *= 0x100000001b3ull; }
    };
    for (int i = 0; i < block_tokens; ++i) mix(static_cast<uint32_t>(tokens[start + i]));
    chain.push_back(h);
    parent = h;
  }
  return chain;
}

prefix_directory::prefix_directory(int block_tokens, size_t max_entries)
    : block_tokens_(block_tokens), max_entries_(max_entries) {}

void prefix_directory::insert(const std::string& cluster, std::span<const uint64_t> chain) {
  auto& keys = keys_[cluster];
  auto& order = order_[cluster];
  for (uint64_t k : chain) {
    if (!keys.insert(k).second) continue;
    order.push_back(k);
    if (order.size() > max_entries_) {
      keys.erase(order.front());
      order.pop_front();
    }
  }
}

int prefix_directory::match(const std::string& cluster, std::span<const uint64_t> chain) const {
  auto it = keys_.find(cluster);
  if (it == keys_.end()) return 0;
  int blocks = 0;
  for (uint64_t k : chain) {
    if (!it->second.count(k)) break;
    ++blocks;
  }
  return blocks * block_tokens_;
}

}  // namespace prfaas::kv
