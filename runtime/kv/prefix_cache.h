#pragma once
// A node's hybrid prefix cache (DESIGN.md, hybrid prefix cache): full-attention KV blocks in
// hash chains, and linear-attention state snapshots taken at exact block boundaries.
//
//   - A full block is cached under its chain key (block_hash.h), so a prompt matches block by
//     block.  Its memory is the pool block the prefill wrote: the cache retains it (a second
//     holder) instead of copying it, and never writes it.
//   - A linear layer's state is reusable only at the exact length it was taken at.  Snapshots
//     sit on the chain entry of the block they end at; a prefill takes them every
//     `snapshot_every_blocks` blocks and at the end of the reusable prompt (snapshot_points()).
//   - A hit is the longest prefix whose blocks are all cached and whose last block carries a
//     snapshot: both kinds of state must exist at that length.
//   - Entries are evicted least recently used first, leaves only (a chain never loses a block
//     in its middle), until the cache fits `budget_bytes`.  Evicting releases the cache's hold
//     on a block; a sequence that adopted the block keeps it until it lets go, so eviction never
//     frees a block in use.
//   - Inserts and evictions are recorded as a delta the node publishes to the cache directory.
//
//   prefix_cache cache(model.kv_layout(), pool, {.budget_bytes = 32 << 20});
//   auto chain = reusable_chain(prompt, model.block_tokens);
//   sequence_kv kv(model.kv_layout(), pool);
//   int cached = cache.restore(chain, kv);             // kv starts at `cached` tokens
//   ... prefill the rest, taking snapshots at cache.snapshot_points(cached / B, chain.size())
//   cache.insert(chain, kv, std::move(snapshots));
//   publish(cache.take_delta());
//
// Not thread-safe: one actor owns it (the pool it draws from is thread-safe).

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "runtime/kv/block_hash.h"
#include "runtime/kv/block_pool.h"
#include "runtime/kv/sequence_kv.h"
#include "runtime/kv/kv_layout.h"

namespace prfaas::kv {

struct prefix_cache_options {
  int64_t budget_bytes = 32LL << 20;  // blocks and snapshots held; 0 disables caching
  int snapshot_every_blocks = 4;      // besides the reusable prompt's end
};

struct prefix_cache_stats {
  int64_t lookups = 0, hits = 0;      // restore() calls, and those that reused something
  int64_t lookup_tokens = 0, hit_tokens = 0;
  int64_t evictions = 0;              // chain entries evicted
  int64_t bytes = 0;                  // held now: blocks and snapshots
  int64_t blocks = 0, snapshots = 0;  // chain entries and snapshots held now
};

// What changed since the last take_delta(): keys added and removed, for the cache directory.
// A snapshot's key is the key of the block it ends at.
struct cache_delta {
  std::vector<uint64_t> added_blocks, removed_blocks, added_snapshots, removed_snapshots;
  bool empty() const {
    return added_blocks.empty() && removed_blocks.empty() && added_snapshots.empty() && removed_snapshots.empty();
  }
};

// The linear layers' state at a block boundary of a sequence being prefilled.
struct state_snapshot {
  int blocks = 0;                           // taken after this many full blocks
  std::vector<std::vector<float>> states;   // [layer]; empty for full layers
};

class prefix_cache {
 public:
  prefix_cache(const kv::layout& shape, block_pool& pool, prefix_cache_options options);
  ~prefix_cache();  // releases every block it holds
  prefix_cache(const prefix_cache&) = delete;
  prefix_cache& operator=(const prefix_cache&) = delete;

  // Tokens of the longest usable hit of `chain`.  No side effect.
  int match(std::span<const uint64_t> chain) const;

  // Starts the empty `kv` from the longest usable hit (shared blocks, copied states), refreshes
  // the hit's entries and counts the lookup (unless `count` is false: a prefix sent to another
  // node is no hit of this node's prefills).  Returns the tokens restored (0 on a miss).
  int restore(std::span<const uint64_t> chain, sequence_kv& kv, bool count = true);

  // Starts the empty `kv` from the longest run of `chain`'s blocks cached here, snapshot or not
  // (shared, as restore() shares them; the run's entries are refreshed): a decode node whose
  // sequence's linear states and remaining blocks arrive over the transport needs only these.
  // The linear states stay as they are.  Returns the tokens held (0: none).
  int lend_blocks(std::span<const uint64_t> chain, sequence_kv& kv);

  // Block counts in (from_blocks, chain_blocks] at which a prefill should take a snapshot.
  std::vector<int> snapshot_points(int from_blocks, int chain_blocks) const;
  // The linear states of `kv` now; kv.tokens() must be a whole number of blocks.
  static state_snapshot take(const sequence_kv& kv);

  // Caches the first chain.size() blocks of `kv` under `chain` and the given snapshots (each
  // within the chain), then evicts down to the budget.
  void insert(std::span<const uint64_t> chain, const sequence_kv& kv, std::vector<state_snapshot> snapshots);

  // Evicts least recently used leaves until the pool has `free_blocks` free blocks or the cache
  // is empty: sequences come before cached prefixes when they share one pool.  Evicting a block
  // a sequence still holds frees nothing, so the pool may stay short.
  void make_room(int free_blocks);

  // Caches a finished sequence whose KV holds `tokens` (a decode node's prompt and answer; the
  // answer's last token has no KV yet, so only the first kv.tokens() count) under their keys.
  void insert_sequence(std::span<const int32_t> tokens, const sequence_kv& kv, std::vector<state_snapshot> snapshots);

  cache_delta take_delta();
  cache_delta everything() const;  // every key held, for a full re-publication

  const prefix_cache_stats& stats() const { return stats_; }
  const prefix_cache_options& options() const { return options_; }

  // Throws failure(internal) naming the first broken invariant: every cached block is held in
  // the pool, parents and child counts agree, the byte count is exact and within budget.
  void check_invariants() const;
  // Adds the cache's holds per pool block to `holds` (indexed by block id), for checkers.
  void count_holds(std::vector<int>& holds) const;

 private:
  struct entry {
    uint64_t parent = 0;     // key of the previous block; 0 for the first block
    int depth = 0;           // 1 for the first block
    std::vector<int> ids;    // one pool block per full layer, in layer order
    int children = 0;
    std::unique_ptr<std::vector<std::vector<float>>> snapshot;  // [layer] at this block's end
    std::list<uint64_t>::iterator lru;
  };

  int usable_blocks(std::span<const uint64_t> chain) const;
  void touch(entry& e);
  uint64_t lru_leaf() const;  // the least recently used entry without children
  void evict_to_budget();
  void evict(uint64_t key);

  const kv::layout layout_;  // a copy: small, and no borrowed model
  block_pool& pool_;
  prefix_cache_options options_;
  std::vector<int> full_layers_, linear_layers_;
  int64_t entry_bytes_ = 0, snapshot_bytes_ = 0;
  std::unordered_map<uint64_t, entry> entries_;
  std::list<uint64_t> lru_;  // front: most recently used
  cache_delta delta_;
  prefix_cache_stats stats_;
};

}  // namespace prfaas::kv
