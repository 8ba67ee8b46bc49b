#include "runtime/kv/prefix_directory.h"

#include <algorithm>

namespace prfaas::kv {

prefix_directory::prefix_directory(int block_tokens, size_t max_keys_per_node)
    : block_tokens_(block_tokens), max_keys_(max_keys_per_node) {}

void prefix_directory::apply(const std::string& node, const std::string& cluster, const cache_delta& d, bool reset) {
  node_index& n = index_[node];
  if (reset) n = {};
  n.cluster = cluster;
  for (uint64_t k : d.removed_blocks) n.blocks.erase(k);
  for (uint64_t k : d.removed_snapshots) n.snapshots.erase(k);
  for (uint64_t k : d.added_blocks) {
    if (n.blocks.size() >= max_keys_) { ++dropped_keys_; continue; }
    n.blocks.insert(k);
  }
  for (uint64_t k : d.added_snapshots) {
    if (n.snapshots.size() >= max_keys_) { ++dropped_keys_; continue; }
    n.snapshots.insert(k);
  }
}

void prefix_directory::drop(const std::string& node) { index_.erase(node); }

std::vector<directory_hit> prefix_directory::match(std::span<const uint64_t> chain) const {
  std::vector<directory_hit> hits;
  for (const auto& [name, n] : index_) {
    int usable = 0, held = 0;
    for (; held < static_cast<int>(chain.size()); ++held) {
      if (!n.blocks.count(chain[held])) break;
      if (n.snapshots.count(chain[held])) usable = held + 1;
    }
    if (held > 0) hits.push_back({name, n.cluster, usable * block_tokens_, held * block_tokens_});
  }
  std::stable_sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) { return a.tokens > b.tokens; });
  return hits;
}

int prefix_directory::best(const std::vector<directory_hit>& hits, const std::string& cluster) {
  int best = 0;
  for (const auto& h : hits)
    if (h.cluster == cluster) best = std::max(best, h.tokens);
  return best;
}

std::vector<prefix_directory::node_part> prefix_directory::snapshot(size_t max_keys) const {
  std::vector<node_part> parts;
  max_keys = std::max<size_t>(1, max_keys);
  for (const auto& [name, n] : index_) {
    parts.push_back({name, n.cluster, true, {}});
    size_t in_part = 0;
    auto add = [&](uint64_t key, std::vector<uint64_t> cache_delta::*to) {
      if (in_part == max_keys) {
        parts.push_back({name, n.cluster, false, {}});
        in_part = 0;
      }
      (parts.back().delta.*to).push_back(key);
      ++in_part;
    };
    for (uint64_t k : n.blocks) add(k, &cache_delta::added_blocks);
    for (uint64_t k : n.snapshots) add(k, &cache_delta::added_snapshots);
  }
  return parts;
}

size_t prefix_directory::keys(const std::string& node) const {
  auto it = index_.find(node);
  return it == index_.end() ? 0 : it->second.blocks.size();
}

}  // namespace prfaas::kv
