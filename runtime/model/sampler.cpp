#include "runtime/model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <unordered_map>

#include "runtime/common/errc.h"
#include "runtime/model/hybrid_model.h"
#include "runtime/model/logprobs.h"

namespace prfaas::model {

namespace {

uint64_t mix(uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

void sampling_params::validate(int vocab) const {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw failure(errc::invalid_argument, what);
  };
  need(std::isfinite(temperature) && temperature >= 0 && temperature <= 100, "temperature must be in [0, 100]");
  need(std::isfinite(top_p) && top_p > 0 && top_p <= 1, "top_p must be in (0, 1]");
  need(top_k >= 0 && top_k <= vocab, "top_k must be in [0, " + std::to_string(vocab) + "]");
  need(std::isfinite(min_p) && min_p >= 0 && min_p <= 1, "min_p must be in [0, 1]");
  need(std::isfinite(presence_penalty) && std::abs(presence_penalty) <= 2, "presence_penalty must be in [-2, 2]");
  need(std::isfinite(frequency_penalty) && std::abs(frequency_penalty) <= 2, "frequency_penalty must be in [-2, 2]");
  need(std::isfinite(repetition_penalty) && repetition_penalty > 0 && repetition_penalty <= 10,
       "repetition_penalty must be in (0, 10]");
  need(choice >= 0 && choice < 128, "n must be in [1, 128]");
  need(logprobs >= -1 && logprobs <= kMaxTopLogprobs, "logprobs must be in [0, " + std::to_string(kMaxTopLogprobs) + "]");
  need(logit_bias.size() <= 300, "logit_bias holds at most 300 entries");
  for (const auto& [id, bias] : logit_bias) {
    need(id >= 0 && id < vocab, "logit_bias names token " + std::to_string(id) + ", outside the vocabulary");
    need(std::isfinite(bias) && std::abs(bias) <= 100, "logit_bias values must be in [-100, 100]");
  }
}

double draw(uint64_t seed, int choice, int position) {
  const uint64_t z = mix(mix(seed ^ 0x9e3779b97f4a7c15ull) + (static_cast<uint64_t>(choice) << 32) +
                         static_cast<uint32_t>(position));
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

int32_t sample(std::span<const float> logits_in, const sampling_params& p, std::span<const int32_t> prompt,
               std::span<const int32_t> generated) {
  const int n = static_cast<int>(logits_in.size());
  PRFAAS_REQUIRE(n > 0, "sampling needs logits");
  std::vector<float> logits(logits_in.begin(), logits_in.end());
  for (const auto& [id, bias] : p.logit_bias) logits[id] += bias;
  if (p.repetition_penalty != 1) {
    std::vector<bool> seen(n, false);
    for (int32_t t : prompt) seen[t] = true;
    for (int32_t t : generated) seen[t] = true;
    for (int i = 0; i < n; ++i)
      if (seen[i]) logits[i] = logits[i] > 0 ? logits[i] / p.repetition_penalty : logits[i] * p.repetition_penalty;
  }
  if (p.presence_penalty != 0 || p.frequency_penalty != 0) {
    std::unordered_map<int32_t, int> count;
    for (int32_t t : generated) ++count[t];
    for (const auto& [t, c] : count) logits[t] -= p.presence_penalty + p.frequency_penalty * static_cast<float>(c);
  }
  if (p.temperature == 0) return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  // Candidates by descending logit, ties by id: one fixed order, so the cut and the pick are too.
  std::vector<int32_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  const int keep = p.top_k > 0 ? p.top_k : n;
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(ids.begin(), ids.begin() + keep, ids.end(), by_logit);
  ids.resize(keep);
  const double top = logits[ids[0]] / p.temperature;
  std::vector<double> prob(ids.size());
  double total = 0;
  for (size_t i = 0; i < ids.size(); ++i) total += prob[i] = std::exp(logits[ids[i]] / p.temperature - top);
  // top_p: the smallest prefix whose mass reaches top_p of the whole; min_p: relative to the first.
  size_t cut = ids.size();
  if (p.top_p < 1) {
    double mass = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      mass += prob[i];
      if (mass >= p.top_p * total) {
        cut = i + 1;
        break;
      }
    }
  }
  if (p.min_p > 0)
    while (cut > 1 && prob[cut - 1] < p.min_p * prob[0]) --cut;
  double kept = 0;
  for (size_t i = 0; i < cut; ++i) kept += prob[i];
  const double target = draw(p.seed, p.choice, static_cast<int>(generated.size())) * kept;
  double run = 0;
  for (size_t i = 0; i < cut; ++i) {
    run += prob[i];
    if (run > target) return ids[i];
  }
  return ids[cut - 1];
}

bool token_choice::greedy() const {
  if (!params) return true;
  const auto& p = *params;
  return p.temperature == 0 && p.logit_bias.empty() && p.repetition_penalty == 1 && p.presence_penalty == 0 &&
         p.frequency_penalty == 0;
}

int32_t token_choice::choose(std::span<const float> logits) const {
  // Greedy: the very argmax the reference uses.
  const int32_t token = greedy() ? model::greedy(logits) : sample(logits, *params, prompt, generated);
  if (report && params && params->logprobs >= 0) {
    const auto lp = log_softmax(logits);
    report->logprob = lp[static_cast<size_t>(token)];
    report->top_ids.clear();
    report->top_logprobs.clear();
    for (const auto& [id, v] : top_logprobs(lp, params->logprobs)) {
      report->top_ids.push_back(id);
      report->top_logprobs.push_back(v);
    }
  }
  return token;
}

void token_choice::report_without_logits(int32_t token) const {
  if (!report || !params || params->logprobs < 0) return;
  *report = {0.0f, {}, {}};
  if (params->logprobs > 0) {
    report->top_ids.push_back(token);
    report->top_logprobs.push_back(0.0f);
  }
}

double token_choice::random() const {
  return params ? draw(params->seed, params->choice, static_cast<int>(generated.size())) : 0.0;
}

}  // namespace prfaas::model
