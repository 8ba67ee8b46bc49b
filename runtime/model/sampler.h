#pragma once
// Seeded sampling of the next token, path-invariant: its one random number is a pure function of
// (seed, choice, position), never of a generator's history, so a request with a seed gives the
// same tokens whichever node decodes it, cached or not, batched or not, after a re-dispatch.
//
//   logits -> + logit_bias -> repetition penalty (prompt and output tokens: positive logits
//   divided by it, negative multiplied) -> presence and frequency penalties (output tokens)
//   -> temperature 0: the most likely token (greedy, first on ties)
//   -> else / temperature -> softmax -> top_k -> top_p (smallest set reaching it) -> min_p
//      (relative to the most likely) -> the token where the cumulative probability, in
//      descending order (ties by id), first passes draw(seed, choice, position) x the total.
//
//   sampling_params p{.temperature = 0.7f, .top_p = 0.9f, .seed = 42};
//   p.validate(vocab);
//   int32_t next = sample(logits, p, prompt, generated);
//
// The router gives every request a seed (its own or a drawn one, returned to the client); the
// prefill node samples the first token and the decode node the rest (engine/engine.h).

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "runtime/common/token_logprobs.h"

namespace prfaas::model {

struct sampling_params {
  float temperature = 0;          // 0: greedy
  float top_p = 1;                // (0, 1]
  int top_k = 0;                  // 0: all
  float min_p = 0;                // [0, 1]
  float presence_penalty = 0;     // [-2, 2], OpenAI's
  float frequency_penalty = 0;    // [-2, 2], OpenAI's
  float repetition_penalty = 1;   // (0, 10], as transformers and vLLM apply it
  std::vector<std::pair<int32_t, float>> logit_bias;  // id -> [-100, 100]
  uint64_t seed = 0;
  int choice = 0;                 // n choices of one prompt draw different streams
  int logprobs = -1;              // report the chosen token's log-probability and the top N (0..20); -1: none
  // Throws failure(invalid_argument) naming the first field out of its range.
  void validate(int vocab) const;
};

// The random number of (seed, choice, position), uniform in [0, 1).
double draw(uint64_t seed, int choice, int position);

// The next token after `prompt` and `generated`; the draw's position is generated.size(), the
// index of the token being chosen.
int32_t sample(std::span<const float> logits, const sampling_params& p, std::span<const int32_t> prompt,
               std::span<const int32_t> generated);

// A chosen token's log-probability and the most likely alternatives (runtime/common).
using prfaas::token_logprobs;

// How one sequence picks its next token, as an engine is handed it: greedy when `params` is null
// (or its temperature 0 with nothing else set), else sample() over what the sequence has seen.
// With params->logprobs >= 0 and `report` set, the choice's log-probabilities go there.
struct token_choice {
  const sampling_params* params = nullptr;
  std::span<const int32_t> prompt;
  std::span<const int32_t> generated;  // its size is the position of the token being chosen
  token_logprobs* report = nullptr;
  int32_t choose(std::span<const float> logits) const;
  // For an engine without logits: the chosen token with log-probability 0, itself its top.
  void report_without_logits(int32_t token) const;
  bool greedy() const;
  // The draw of this choice (uniform in [0, 1)), for an engine without logits (emulated).
  double random() const;
};

}  // namespace prfaas::model
