#pragma once
// What a step's logits say: log-probabilities and the most likely tokens.  (Greedy choice is
// model::greedy, beside the model.)

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace prfaas::model {

// log softmax, in double for the normaliser so a 250K vocabulary sums exactly enough.
std::vector<float> log_softmax(std::span<const float> logits);

// The `n` largest entries as (id, value), largest first, ties to the lower id.
std::vector<std::pair<int32_t, float>> top_logprobs(std::span<const float> logprobs, int n);

}  // namespace prfaas::model
