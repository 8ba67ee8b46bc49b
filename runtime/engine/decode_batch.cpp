#include "runtime/engine/decode_batch.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "runtime/common/errc.h"

namespace prfaas::engine {
namespace {

// Log-probabilities another node sent name only tokens of this vocabulary; else they are a
// peer's mistake, reported as none rather than passed on to a client.
bool known_ids(const model::token_logprobs& lp, int vocab, uint64_t request) {
  for (int32_t t : lp.top_ids)
    if (t < 0 || t >= vocab) {
      spdlog::warn("request {}: the prefill's first-token log-probabilities name token {} outside the vocabulary; "
                   "reported as none", request, t);
      return false;
    }
  return true;
}

}  // namespace

decode_batch::decode_batch(const engine& e, int max_sequences, bool snapshots)
    : engine_(e), max_sequences_(std::min(max_sequences, e.max_batch())), snapshots_(snapshots) {}

void decode_batch::maybe_snapshot(sequence& s) const {
  if (snapshots_ && s.kv->tokens() > 0 && s.kv->tokens() % engine_.layout().block_tokens == 0)
    s.snapshots.push_back(kv::prefix_cache::take(*s.kv));
}

void decode_batch::add(uint64_t request, std::unique_ptr<kv::sequence_kv> kv, std::vector<int32_t> output,
                       int max_tokens, rules how) {
  if (size() >= max_sequences_)
    throw failure(errc::no_capacity, "decode batch full (" + std::to_string(max_sequences_) + " sequences)");
  PRFAAS_REQUIRE(max_tokens >= 1, "max tokens must be at least 1");
  PRFAAS_REQUIRE(!output.empty(), "a sequence starts with its first token");
  sequence s{std::move(kv), std::move(output), max_tokens, std::chrono::steady_clock::now(), {}, std::move(how)};
  // The stop condition reads the output so far (a stop string may span the resumption).
  for (int32_t t : s.tokens) s.stopped = s.stopped || (s.how.stop && s.how.stop->push(t));
  if (s.how.sampling.logprobs >= 0) {
    s.logprobs.resize(s.tokens.size());  // chosen elsewhere: known here only as the prefill sent the first
    if (s.tokens.size() == 1 && s.how.first_logprobs && known_ids(*s.how.first_logprobs, engine_.layout().vocab, request))
      s.logprobs[0] = std::move(*s.how.first_logprobs);
  }
  maybe_snapshot(s);
  active_.emplace(request, std::move(s));
}

bool decode_batch::remove(uint64_t request) { return active_.erase(request) > 0; }

const std::vector<int32_t>* decode_batch::tokens(uint64_t request) const {
  auto it = active_.find(request);
  return it == active_.end() ? nullptr : &it->second.tokens;
}

std::vector<decode_batch::finished> decode_batch::step() {
  const auto started = std::chrono::steady_clock::now();
  std::vector<finished> done;
  // One forward pass for every sequence that still wants a token.
  std::vector<sequence*> stepping;
  std::vector<int32_t> last;
  std::vector<kv::sequence_kv*> kvs;
  std::vector<model::token_choice> how;
  std::vector<model::token_logprobs> reports(active_.size());
  for (auto& [id, s] : active_)
    if (!s.done()) {
      stepping.push_back(&s);
      last.push_back(s.tokens.back());
      kvs.push_back(s.kv.get());
      how.push_back({&s.how.sampling, s.how.prompt, s.tokens, &reports[how.size()]});
    }
  if (!stepping.empty()) {
    const auto next = engine_.decode_steps(last, kvs, how);
    for (size_t i = 0; i < stepping.size(); ++i) {
      auto& s = *stepping[i];
      s.tokens.push_back(next[i]);
      if (s.how.sampling.logprobs >= 0) s.logprobs.push_back(std::move(reports[i]));
      s.stopped = s.how.stop && s.how.stop->push(next[i]);
      maybe_snapshot(s);
    }
  }
  for (auto it = active_.begin(); it != active_.end();) {
    sequence& s = it->second;
    if (s.done()) {
      const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s.started).count();
      done.push_back({it->first, std::move(s.tokens), s.stopped, std::move(s.logprobs), ms, std::move(s.kv),
                      std::move(s.snapshots)});
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
  // Steps keep to a timeline of one floor each, so that a late wake-up (a busy machine) is made
  // up by the next step instead of slowing every sequence down; after an idle spell the
  // timeline starts again from now.
  if (const auto floor = engine_.step_floor(); floor.count() > 0) {
    if (started > next_due_ + floor) next_due_ = started;
    next_due_ += floor;
    std::this_thread::sleep_until(next_due_);
  }
  return done;
}

}  // namespace prfaas::engine
