#pragma once
// The cache directory's index: per cluster, the block-hash chains its nodes reported as cached.
// A prompt's chain is the hash of each full block of tokens chained to its parent's hash, so a
// prefix matches block by block (DESIGN.md, hybrid prefix cache).
//
// In this version no node reports cached blocks yet (prefill nodes free their KV once it is
// sent), so every match answers 0 tokens in a live deployment; insert() is exercised by tests.
// Limit: at most max_entries chains per cluster; inserting more evicts the oldest.

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "runtime/kv/block_hash.h"

namespace prfaas::kv {


class prefix_directory {
 public:
  explicit prefix_directory(int block_tokens, size_t max_entries = 1 << 20);

  void insert(const std::string& cluster, std::span<const uint64_t> chain);
  // Tokens of the longest cached prefix of `chain` in `cluster`.
  int match(const std::string& cluster, std::span<const uint64_t> chain) const;

 private:
  int block_tokens_;
  size_t max_entries_;
  std::map<std::string, std::set<uint64_t>> keys_;       // per cluster: cached block keys
  std::map<std::string, std::deque<uint64_t>> order_;    // insertion order, for the bound
};

}  // namespace prfaas::kv
