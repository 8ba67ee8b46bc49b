// Specification of a deployment whose nodes compute on a GPU (engine.device = "cuda"): requests
// on both paths complete with the CPU's greedy output (prfaas generate --in-process, the CPU
// engine).  Needs one GPU; elsewhere the executable reports skipped.

#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cuda_runtime_api.h>

#include <string>

#include "tests/support/process.h"
#include "tests/support/skip_main.h"

using namespace prfaas::testing;

TEST_CASE("gpu: a deployment on the GPU serves long (PrfaaS) and short (local) prompts with the CPU's greedy tokens") {
  deployment d("[engine]\ndevice = \"cuda\"\n");
  for (const int bytes : {3000, 200}) {
    const auto prompt = text_prompt(bytes);
    const auto served = parse_ok(d.generate(prompt, 24));
    const auto direct = parse_ok(generate_in_process(prompt, 24));  // the CPU engine
    INFO("prompt of " << bytes << " bytes, path " << served["path"]);
    CHECK(served["path"] == (bytes > 1024 ? "prfaas" : "local"));
    CHECK(served["tokens"] == direct["tokens"]);
  }
}

int main(int argc, char** argv) {
  return prfaas::testing::run_or_skip(argc, argv, [] {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n >= 1 ? std::string() : std::string("no GPU on this machine");
  });
}
