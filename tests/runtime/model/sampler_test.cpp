// Seeded sampling: a pure function of the logits, the tokens so far and (seed, choice,
// position); temperature 0 is greedy; the filters keep what they promise.

#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <vector>

#include "runtime/common/errc.h"
#include "runtime/model/sampler.h"

using namespace prfaas;
using model::sampling_params;

namespace {

// Parameters with some fields set (designated initialisers would leave the rest unnamed).
template <class F>
sampling_params with(F set) {
  sampling_params p;
  set(p);
  return p;
}

std::vector<float> some_logits(int n, uint64_t seed) {
  std::vector<float> l(n);
  for (int i = 0; i < n; ++i) l[i] = static_cast<float>(std::sin(i * 0.7 + seed) * 3);
  return l;
}

// The tokens of `steps` draws, as a decode loop makes them (the logits move with the tokens).
std::vector<int32_t> run(const sampling_params& p, int steps) {
  std::vector<int32_t> out;
  const std::vector<int32_t> prompt = {1, 2, 3};
  for (int i = 0; i < steps; ++i) out.push_back(model::sample(some_logits(50, out.empty() ? 0 : out.back()), p, prompt, out));
  return out;
}

}  // namespace

TEST_CASE("the same seed gives the same tokens, another seed or choice others, and the draw is uniform") {
  auto p = with([](sampling_params& p) { p.temperature = 1.0f; p.seed = 42; });
  const auto a = run(p, 40);
  CHECK(a == run(p, 40));
  p.seed = 43;
  CHECK(run(p, 40) != a);
  p.seed = 42;
  p.choice = 1;
  CHECK(run(p, 40) != a);
  double sum = 0;
  for (int i = 0; i < 20000; ++i) {
    const double u = model::draw(7, 0, i);
    REQUIRE(u >= 0);
    REQUIRE(u < 1);
    sum += u;
  }
  CHECK(sum / 20000 == Approx(0.5).margin(0.01));
}

TEST_CASE("temperature 0 is greedy, after the bias and the penalties") {
  const auto logits = some_logits(50, 3);
  const int32_t best = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  CHECK(model::sample(logits, {}, {}, {}) == best);
  sampling_params biased;
  biased.logit_bias = {{7, 100.0f}};
  CHECK(model::sample(logits, biased, {}, {}) == 7);
  const auto penalised = with([](sampling_params& p) { p.presence_penalty = 2.0f; p.frequency_penalty = 2.0f; });
  const std::vector<int32_t> generated(4, best);
  CHECK(model::sample(logits, penalised, {}, generated) != best);
}

TEST_CASE("top_k 1, a tiny top_p and min_p 1 are greedy whatever the seed") {
  const auto logits = some_logits(50, 5);
  const int32_t best = model::sample(logits, {}, {}, {});
  for (uint64_t seed = 0; seed < 50; ++seed) {
    CHECK(model::sample(logits, with([seed](sampling_params& p) { p.temperature = 2.0f; p.top_k = 1; p.seed = seed; }), {}, {}) == best);
    CHECK(model::sample(logits, with([seed](sampling_params& p) { p.temperature = 2.0f; p.top_p = 1e-6f; p.seed = seed; }), {}, {}) == best);
    CHECK(model::sample(logits, with([seed](sampling_params& p) { p.temperature = 2.0f; p.min_p = 1.0f; p.seed = seed; }), {}, {}) == best);
  }
}

TEST_CASE("sampled frequencies follow the softmax at the temperature") {
  const std::vector<float> logits = {0.0f, std::log(2.0f), std::log(5.0f)};  // probabilities 1:2:5
  std::map<int32_t, int> count;
  std::vector<int32_t> generated;
  for (int i = 0; i < 16000; ++i) {
    auto p = with([](sampling_params& p) { p.temperature = 1.0f; p.seed = 9; });
    generated.resize(i);  // each draw at its own position
    ++count[model::sample(logits, p, {}, generated)];
  }
  CHECK(count[0] / 16000.0 == Approx(1.0 / 8).margin(0.015));
  CHECK(count[1] / 16000.0 == Approx(2.0 / 8).margin(0.015));
  CHECK(count[2] / 16000.0 == Approx(5.0 / 8).margin(0.015));
}

TEST_CASE("parameters out of range are refused naming the field") {
  auto error_of = [](const sampling_params& p) {
    try {
      p.validate(100);
    } catch (const failure& f) {
      CHECK(f.code() == errc::invalid_argument);
      return std::string(f.what());
    }
    return std::string();
  };
  CHECK(error_of({}).empty());
  CHECK_THAT(error_of(with([](sampling_params& p) { p.temperature = -1; })), Catch::Contains("temperature"));
  CHECK_THAT(error_of(with([](sampling_params& p) { p.temperature = NAN; })), Catch::Contains("temperature"));
  CHECK_THAT(error_of(with([](sampling_params& p) { p.top_p = 0; })), Catch::Contains("top_p"));
  CHECK_THAT(error_of(with([](sampling_params& p) { p.top_k = 101; })), Catch::Contains("top_k"));
  CHECK_THAT(error_of(with([](sampling_params& p) { p.repetition_penalty = 0; })), Catch::Contains("repetition_penalty"));
  CHECK_THAT(error_of(with([](sampling_params& p) { p.logit_bias = {{100, 1.0f}}; })), Catch::Contains("outside the vocabulary"));
}
