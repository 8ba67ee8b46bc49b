#include "runtime/kv/prefix_cache.h"

#include <algorithm>

#include "runtime/common/errc.h"

namespace prfaas::kv {

prefix_cache::prefix_cache(const kv::layout& shape, block_pool& pool, prefix_cache_options options)
    : layout_(shape), pool_(pool), options_(options) {
  PRFAAS_REQUIRE(options.budget_bytes >= 0, "prefix cache budget must not be negative");
  PRFAAS_REQUIRE(options.snapshot_every_blocks >= 1, "snapshot spacing must be at least one block");
  for (int l = 0; l < shape.n_layers(); ++l)
    (shape.kind(l) == layer_kind::full ? full_layers_ : linear_layers_).push_back(l);
  entry_bytes_ = static_cast<int64_t>(full_layers_.size()) * shape.block_bytes();
  snapshot_bytes_ = static_cast<int64_t>(linear_layers_.size()) * shape.linear_state_bytes();
}

prefix_cache::~prefix_cache() {
  for (auto& [key, e] : entries_)
    for (int id : e.ids) pool_.release(id);
}

int prefix_cache::usable_blocks(std::span<const uint64_t> chain) const {
  int usable = 0;
  for (size_t b = 0; b < chain.size(); ++b) {
    auto it = entries_.find(chain[b]);
    if (it == entries_.end()) break;
    if (it->second.snapshot) usable = static_cast<int>(b) + 1;
  }
  return usable;
}

int prefix_cache::match(std::span<const uint64_t> chain) const {
  return usable_blocks(chain) * layout_.block_tokens;
}

void prefix_cache::touch(entry& e) {
  lru_.splice(lru_.begin(), lru_, e.lru);
  e.lru = lru_.begin();
}

int prefix_cache::restore(std::span<const uint64_t> chain, sequence_kv& kv, bool count) {
  if (count) {
    ++stats_.lookups;
    stats_.lookup_tokens += static_cast<int64_t>(chain.size()) * layout_.block_tokens;
  }
  const int blocks = usable_blocks(chain);
  if (blocks == 0) return 0;
  std::vector<std::vector<int>> ids(layout_.n_layers());
  for (int b = 0; b < blocks; ++b) {
    entry& e = entries_.at(chain[b]);
    for (size_t f = 0; f < full_layers_.size(); ++f) ids[full_layers_[f]].push_back(e.ids[f]);
    touch(e);  // in chain order: the deepest block ends most recent
  }
  const auto& snap = *entries_.at(chain[blocks - 1]).snapshot;
  std::vector<const std::vector<float>*> states(layout_.n_layers(), nullptr);
  for (int l : linear_layers_) states[l] = &snap[l];
  const int tokens = blocks * layout_.block_tokens;
  kv.adopt_prefix(tokens, ids, states);
  if (count) {
    ++stats_.hits;
    stats_.hit_tokens += tokens;
  }
  return tokens;
}

int prefix_cache::lend_blocks(std::span<const uint64_t> chain, sequence_kv& kv) {
  std::vector<std::vector<int>> ids(layout_.n_layers());
  int blocks = 0;
  for (; blocks < static_cast<int>(chain.size()); ++blocks) {
    auto it = entries_.find(chain[blocks]);
    if (it == entries_.end()) break;
    for (size_t f = 0; f < full_layers_.size(); ++f) ids[full_layers_[f]].push_back(it->second.ids[f]);
    touch(it->second);
  }
  if (blocks == 0) return 0;
  const int tokens = blocks * layout_.block_tokens;
  kv.adopt_prefix(tokens, ids, std::vector<const std::vector<float>*>(layout_.n_layers(), nullptr));
  return tokens;
}

std::vector<int> prefix_cache::snapshot_points(int from_blocks, int chain_blocks) const {
  std::vector<int> points;
  if (options_.budget_bytes == 0) return points;
  for (int b = from_blocks + 1; b <= chain_blocks; ++b)
    if (b % options_.snapshot_every_blocks == 0 || b == chain_blocks) points.push_back(b);
  return points;
}

state_snapshot prefix_cache::take(const sequence_kv& kv) {
  const auto& c = kv.layout();
  PRFAAS_REQUIRE(kv.tokens() % c.block_tokens == 0, "a snapshot is taken at a block boundary");
  state_snapshot s;
  s.blocks = kv.tokens() / c.block_tokens;
  s.states.resize(c.n_layers());
  for (int l = 0; l < c.n_layers(); ++l)
    if (c.kind(l) == layer_kind::linear) s.states[l] = kv.linear_state_vector(l);
  return s;
}

void prefix_cache::insert(std::span<const uint64_t> chain, const sequence_kv& kv,
                          std::vector<state_snapshot> snapshots) {
  if (options_.budget_bytes == 0) return;
  const int have = full_layers_.empty() ? 0 : static_cast<int>(kv.block_ids(full_layers_[0]).size());
  const int kv_full_blocks = std::min(have, kv.tokens() / layout_.block_tokens);
  const int n = std::min(static_cast<int>(chain.size()), kv_full_blocks);
  uint64_t parent = 0;
  for (int b = 0; b < n; ++b) {
    const uint64_t key = chain[b];
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      entry e;
      e.parent = parent;
      e.depth = b + 1;
      for (int l : full_layers_) {
        const int id = kv.block_ids(l)[b];
        pool_.retain(id);
        e.ids.push_back(id);
      }
      lru_.push_front(key);
      e.lru = lru_.begin();
      if (parent) ++entries_.at(parent).children;
      entries_.emplace(key, std::move(e));
      stats_.bytes += entry_bytes_;
      ++stats_.blocks;
      delta_.added_blocks.push_back(key);
    } else {
      touch(it->second);
    }
    parent = key;
  }
  for (auto& s : snapshots) {
    if (s.blocks < 1 || s.blocks > n) continue;
    entry& e = entries_.at(chain[s.blocks - 1]);
    if (e.snapshot) continue;
    PRFAAS_REQUIRE(static_cast<int>(s.states.size()) == layout_.n_layers(), "snapshot has the wrong layer count");
    e.snapshot = std::make_unique<std::vector<std::vector<float>>>(std::move(s.states));
    stats_.bytes += snapshot_bytes_;
    ++stats_.snapshots;
    delta_.added_snapshots.push_back(chain[s.blocks - 1]);
  }
  evict_to_budget();
}

uint64_t prefix_cache::lru_leaf() const {
  // A chain only ever loses its last block; a non-empty forest always has a leaf.
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it)
    if (entries_.at(*it).children == 0) return *it;
  PRFAAS_ASSERT(false && "a non-empty prefix cache without a leaf");
  return 0;
}

void prefix_cache::make_room(int free_blocks) {
  while (pool_.free_blocks() < free_blocks && !lru_.empty()) evict(lru_leaf());
}

void prefix_cache::evict_to_budget() {
  while (stats_.bytes > options_.budget_bytes && !lru_.empty()) evict(lru_leaf());
}

void prefix_cache::evict(uint64_t key) {
  auto it = entries_.find(key);
  entry& e = it->second;
  PRFAAS_ASSERT(e.children == 0);
  for (int id : e.ids) pool_.release(id);  // a sequence that adopted it still holds it
  if (e.parent) --entries_.at(e.parent).children;
  if (e.snapshot) {
    stats_.bytes -= snapshot_bytes_;
    --stats_.snapshots;
    delta_.removed_snapshots.push_back(key);
  }
  stats_.bytes -= entry_bytes_;
  --stats_.blocks;
  ++stats_.evictions;
  delta_.removed_blocks.push_back(key);
  lru_.erase(e.lru);
  entries_.erase(it);
}

void prefix_cache::insert_sequence(std::span<const int32_t> tokens, const sequence_kv& kv,
                                   std::vector<state_snapshot> snapshots) {
  const auto n = std::min(tokens.size(), static_cast<size_t>(kv.tokens()));
  insert(block_hash_chain(tokens.first(n), layout_.block_tokens), kv, std::move(snapshots));
}

cache_delta prefix_cache::take_delta() {
  cache_delta d = std::move(delta_);
  delta_ = {};
  return d;
}

cache_delta prefix_cache::everything() const {
  cache_delta d;
  for (const auto& [key, e] : entries_) {
    d.added_blocks.push_back(key);
    if (e.snapshot) d.added_snapshots.push_back(key);
  }
  return d;
}

void prefix_cache::check_invariants() const {
  auto broken = [](const std::string& what) { throw failure(errc::internal, "prefix cache: " + what); };
  int64_t bytes = 0;
  std::unordered_map<uint64_t, int> children;
  for (const auto& [key, e] : entries_) {
    bytes += entry_bytes_ + (e.snapshot ? snapshot_bytes_ : 0);
    if (e.ids.size() != full_layers_.size()) broken("an entry has the wrong block count");
    for (int id : e.ids)
      if (pool_.holders(id) < 1) broken("cached block " + std::to_string(id) + " is free in the pool");
    if (e.depth > 1) {
      if (!entries_.count(e.parent)) broken("an entry's parent is missing");
      ++children[e.parent];
    } else if (e.parent != 0) {
      broken("a first block has a parent");
    }
  }
  for (const auto& [key, e] : entries_)
    if (e.children != children[key]) broken("child count out of step");
  if (bytes != stats_.bytes) broken("byte count out of step");
  if (stats_.bytes > options_.budget_bytes) broken("over budget");
  if (lru_.size() != entries_.size()) broken("LRU list out of step");
}

void prefix_cache::count_holds(std::vector<int>& holds) const {
  for (const auto& [key, e] : entries_)
    for (int id : e.ids) ++holds.at(id);
}

}  // namespace prfaas::kv
