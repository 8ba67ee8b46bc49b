#pragma once
// The cache directory's index: which node holds which full-block chain keys and which state
// snapshots (DESIGN.md, hybrid prefix cache), as the nodes publish them (prefix_cache's deltas).
// A node's hit for a prompt is computed as the node's own cache computes it: the longest prefix
// whose blocks are all held and whose last block carries a snapshot.  Beside it, the longest run
// of held blocks, snapshot or not: what a decode node can lend a new sequence (prefix_cache::
// lend_blocks), so that KV need not be sent to it.  The directory answers per
// node and per cluster; the router uses both (offload on the uncached length, cache affinity).
//
//   prefix_directory dir(64);
//   dir.apply("local-prefill-0", "local", delta, /*reset=*/false);
//   auto hits = dir.match(reusable_chain(prompt, 64));   // [{node, cluster, tokens}, ...]
//
// A node that restarts publishes with reset = true (its cache is new); a node that is lost is
// dropped.  Limit: at most max_keys_per_node block keys per node; keys past it are not indexed
// (the node's hits are then under-reported, never over-reported) and counted.

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "runtime/kv/block_hash.h"
#include "runtime/kv/prefix_cache.h"

namespace prfaas::kv {

struct directory_hit {
  std::string node;
  std::string cluster;
  int tokens = 0;         // the usable hit (a prefill can start there)
  int held_tokens = 0;    // the prompt's blocks held from its start (>= tokens)
};

class prefix_directory {
 public:
  explicit prefix_directory(int block_tokens, size_t max_keys_per_node = 1 << 20);

  void apply(const std::string& node, const std::string& cluster, const cache_delta& delta, bool reset);
  void drop(const std::string& node);

  // Every node holding the first block of `chain`, longest usable hit first (ties by name).
  std::vector<directory_hit> match(std::span<const uint64_t> chain) const;
  // The longest hit in `cluster` among `hits`.
  static int best(const std::vector<directory_hit>& hits, const std::string& cluster);

  // Its whole view as deltas that rebuild it in another directory (the router's copy): each
  // node's keys, at most `max_keys` a delta, the first of a node's with `reset` set.
  struct node_part {
    std::string node, cluster;
    bool reset = false;
    cache_delta delta;
  };
  std::vector<node_part> snapshot(size_t max_keys) const;

  size_t nodes() const { return index_.size(); }
  size_t keys(const std::string& node) const;
  int64_t dropped_keys() const { return dropped_keys_; }

 private:
  struct node_index {
    std::string cluster;
    std::unordered_set<uint64_t> blocks, snapshots;
  };
  int block_tokens_;
  size_t max_keys_;
  std::map<std::string, node_index> index_;
  int64_t dropped_keys_ = 0;
};

}  // namespace prfaas::kv
