// Specification of the tiny model on a GPU: the CPU model's logits within float rounding, the
// same greedy tokens, prefill in chunks equal to prefill whole within rounding.  Needs one GPU;
// elsewhere the executable reports skipped.

#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "runtime/common/errc.h"
#include "runtime/gpu/cuda_model.h"
#include "runtime/kv/block_pool.h"
#include "runtime/kv/sequence_kv.h"
#include "runtime/model/hybrid_model.h"
#include "runtime/model/tokenizer.h"
#include "tests/support/skip_main.h"

using namespace prfaas;

namespace {

std::vector<int32_t> prompt(int n, const std::string& seed_text) {
  std::string s;
  while (static_cast<int>(s.size()) < n) s += seed_text;
  s.resize(n);
  return model::encode(s);
}

// Largest |a - b| over the largest |b|: the logits' relative error.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return diff / scale;
}

constexpr double kTolerance = 1e-3;  // stated: logits within 0.1 % of their largest magnitude

}  // namespace

TEST_CASE("gpu: the tiny model's prefill logits match the CPU's within 0.1 %, and its greedy tokens are the CPU's") {
  const model::model_config c;
  model::hybrid_model cpu(c);
  gpu::cuda_model gpu_model(c, 0, 2048);
  kv::block_pool pool(c.block_bytes(), 2048);
  for (const int n : {1, 37, 64, 65, 700, 2000}) {
    const auto p = prompt(n, "cross-datacenter prefill moves the KV cache over commodity ethernet; ");
    kv::sequence_kv kv(c, pool);
    auto seq = gpu_model.start(n + 16);
    auto want = cpu.prefill(p, kv);
    auto got = gpu_model.prefill(p, *seq);
    INFO("prompt of " << n << " tokens");
    CHECK(relative_error(got, want) < kTolerance);
    std::vector<int32_t> cpu_tokens, gpu_tokens;
    int32_t a = model::greedy(want), b = model::greedy(got);
    for (int step = 0; step < 16; ++step) {
      cpu_tokens.push_back(a);
      gpu_tokens.push_back(b);
      want = cpu.decode_step(a, kv);
      got = gpu_model.decode_step(b, *seq);
      a = model::greedy(want);
      b = model::greedy(got);
    }
    CHECK(gpu_tokens == cpu_tokens);
  }
}

TEST_CASE("gpu: a prefill in two chunks gives the logits of one, within rounding") {
  const model::model_config c;
  gpu::cuda_model m(c, 0, 512);
  const auto p = prompt(300, "hybrid attention keeps the state small; ");
  auto whole = m.start(300), chunked = m.start(300);
  const auto a = m.prefill(p, *whole);
  m.prefill(std::span(p).first(130), *chunked);
  const auto b = m.prefill(std::span(p).subspan(130), *chunked);
  CHECK(relative_error(b, a) < kTolerance);
  CHECK(chunked->tokens() == 300);
}

TEST_CASE("gpu: a sequence past the pool's blocks is refused, and its blocks return") {
  const model::model_config c;
  gpu::cuda_model m(c, 0, 8);
  const int free_before = m.pool().free_blocks();
  CHECK_THROWS_AS(m.start(c.max_context), failure);
  CHECK(m.pool().free_blocks() == free_before);
}

int main(int argc, char** argv) {
  return testing::run_or_skip(argc, argv, [] {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n >= 1 ? std::string() : std::string("no GPU on this machine");
  });
}
