#include "runtime/kv/prefix_directory.h"

namespace prfaas::kv {

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
