#pragma once
// Continuous batching on a decode node: sequences join whenever their KV has arrived and leave
// as soon as they have their tokens; every step() advances each active sequence by one token.
//
//   decode_batch batch(model, max_sequences);
//   batch.add(id, std::move(kv), first_token, max_tokens, {sampling, prompt, stop});
//   while (!batch.empty()) for (auto& done : batch.step()) reply(done);
//
// Greedy or seeded sampling over the same engine code as the in-process reference, so a
// request's tokens do not depend on what else shares its batch.  A sequence leaves when it has
// max_tokens or its stop condition holds (the first token included): its slot and blocks go at
// that step, not max_tokens later.  A step lasts at least the engine's step_floor
// (an emulated engine's T_decode), and a batch holds at most its max_batch sequences.
//
// With `snapshots` on, each sequence keeps its linear states whenever its KV reaches a block
// boundary (on arrival and after any step), so the finished sequence can go into a prefix
// cache (kv::prefix_cache::insert) with state snapshots at exact lengths.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "runtime/kv/prefix_cache.h"
#include "runtime/kv/sequence_kv.h"
#include "runtime/engine/engine.h"
#include "runtime/text/stop_condition.h"

namespace prfaas::engine {

class decode_batch {
 public:
  struct finished {
    uint64_t request;
    std::vector<int32_t> tokens;
    bool stopped;      // its stop condition ended it (else it reached max_tokens)
    // Per output token when its sampling asked for them; the first token's (chosen by the
    // prefill) as rules::first_logprobs gave it, else empty, and so are those of a resumed
    // sequence's output before it was added.
    std::vector<model::token_logprobs> logprobs;
    double decode_ms;  // from add() to the last token
    std::unique_ptr<kv::sequence_kv> kv;           // its KV: the prompt and every token but the last
    std::vector<kv::state_snapshot> snapshots;     // at block boundaries (with snapshots on)
  };

  // Holds at most min(max_sequences, e.max_batch()) sequences.
  decode_batch(const engine& e, int max_sequences, bool snapshots = false);
  int capacity() const { return max_sequences_; }

  // How a sequence chooses and ends: sampling (default greedy), its prompt (for the repetition
  // penalty), its stop condition (null: max_tokens only), and the first token's log-probabilities
  // as the prefill reported them (with the KV), reported first when the sampling asks for them
  // (ids outside the vocabulary are a peer's mistake: reported as none, with a warning).
  struct rules {
    model::sampling_params sampling;
    std::vector<int32_t> prompt;
    std::unique_ptr<text::stop_condition> stop;
    std::optional<model::token_logprobs> first_logprobs;
  };

  // Throws failure(no_capacity) beyond max_sequences.
  void add(uint64_t request, std::unique_ptr<kv::sequence_kv> kv, int32_t first_token, int max_tokens, rules how = {}) {
    add(request, std::move(kv), std::vector<int32_t>{first_token}, max_tokens, std::move(how));
  }
  // A sequence whose output so far is `output` (at least its first token; its KV holds the
  // prompt and all of it but the last): a request resumed after its decode node was lost.  Its
  // next token is chosen at position output.size(), as it would have been; `max_tokens` counts
  // the whole output.  Log-probabilities are reported for the tokens chosen here only.
  void add(uint64_t request, std::unique_ptr<kv::sequence_kv> kv, std::vector<int32_t> output, int max_tokens,
           rules how = {});
  bool remove(uint64_t request);
  // The output so far of an active sequence (its first token included); null when not active.
  const std::vector<int32_t>* tokens(uint64_t request) const;
  std::vector<finished> step();

  bool empty() const { return active_.empty(); }
  int size() const { return static_cast<int>(active_.size()); }

 private:
  struct sequence {
    std::unique_ptr<kv::sequence_kv> kv;
    std::vector<int32_t> tokens;
    int max_tokens;
    std::chrono::steady_clock::time_point started;
    std::vector<kv::state_snapshot> snapshots;
    rules how;
    bool stopped = false;
    std::vector<model::token_logprobs> logprobs;
    bool done() const { return stopped || static_cast<int>(tokens.size()) >= max_tokens; }
  };
  void maybe_snapshot(sequence& s) const;

  const engine& engine_;
  int max_sequences_;
  bool snapshots_;
  std::map<uint64_t, sequence> active_;
  std::chrono::steady_clock::time_point next_due_{};  // when the step in progress may end (step floor)
};

}  // namespace prfaas::engine
