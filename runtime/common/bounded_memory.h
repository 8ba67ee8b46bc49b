#pragma once
// A map that remembers at most `capacity` entries, forgetting the oldest insertion first: for
// what a node must recall for a while but never without bound (cancelled requests, transfers
// that ended, results a late retry may ask for again).  Not thread-safe: its owner locks.
//
//   bounded_memory<uint64_t, bool> recent(4096);
//   recent.remember(id, true);
//   if (const bool* done = recent.find(id)) ...

#include <cstddef>
#include <deque>
#include <functional>
#include <unordered_map>

namespace prfaas {

// Hashed, not ordered: the router remembers an entry for every request it takes, at thousands a
// second, and an ordered map's insert and erase walked some 13 levels of nodes each.
template <class Key, class Value, class Hash = std::hash<Key>>
class bounded_memory {
 public:
  explicit bounded_memory(size_t capacity) : capacity_(capacity) { entries_.reserve(capacity + 1); }

  // Stores (or overwrites) `value` under `key`; a new key may push the oldest one out.
  void remember(const Key& key, Value value) {
    auto [it, fresh] = entries_.insert_or_assign(key, std::move(value));
    if (!fresh) return;
    order_.push_back(key);
    while (order_.size() > capacity_) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
  }
  const Value* find(const Key& key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
  }
  // Forgets `key` now (its place in the order goes when it would have been pushed out).
  void forget(const Key& key) { entries_.erase(key); }
  size_t size() const { return entries_.size(); }

 private:
  size_t capacity_;
  std::unordered_map<Key, Value, Hash> entries_;
  std::deque<Key> order_;
};

}  // namespace prfaas
