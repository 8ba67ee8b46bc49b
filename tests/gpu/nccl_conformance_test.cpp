// The carrier conformance suite (tests/support/carrier_conformance.h) against the NCCL carrier:
// the receiving end on device 1, the sending end on device 0, in one process (NCCL will not put
// two ranks of one process on one GPU).  Needs two GPUs: elsewhere the executable reports
// skipped (exit 77), never passed.  (tests/gpu/nccl_link_test.cpp covers one GPU, across two
// processes.)  The carrier comes from the GPU backend plugin, as a node would get it.

#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include "runtime/gpu/backend.h"
#include "tests/support/carrier_conformance.h"
#include "tests/support/skip_main.h"

using namespace prfaas;
using namespace prfaas::testing;

namespace {

test_memory device_memory(int device) {
  return {[device](size_t n) {
            void* p = nullptr;
            cudaSetDevice(device);
            REQUIRE(cudaMalloc(&p, n) == cudaSuccess);
            REQUIRE(cudaMemset(p, 0, n) == cudaSuccess);
            return static_cast<std::byte*>(p);
          },
          [](std::byte* p) { cudaFree(p); },
          [](std::byte* d, const std::byte* h, size_t n) { REQUIRE(cudaMemcpy(d, h, n, cudaMemcpyHostToDevice) == cudaSuccess); },
          [](std::byte* h, const std::byte* s, size_t n) { REQUIRE(cudaMemcpy(h, s, n, cudaMemcpyDeviceToHost) == cudaSuccess); }};
}

carrier_under_test nccl() {
  carrier_under_test t;
  t.make = [] {
    const auto gpu = gpu::load_backend();
    return std::make_pair(gpu->nccl_carrier(1), gpu->nccl_carrier(0));
  };
  t.memory = device_memory(0);
  t.receiver_memory = device_memory(1);
  return t;
}

}  // namespace

TEST_CASE("nccl carrier: every payload lands byte for byte, acknowledged layer by layer, then complete") {
  check_lands_and_acknowledges(nccl());
}

TEST_CASE("nccl carrier: payloads may go in parts and in any order") { check_parts_in_any_order(nccl()); }

TEST_CASE("nccl carrier: bytes posted and not yet sent stay within the window") { check_backpressure(nccl()); }

TEST_CASE("nccl carrier: a sender without the shared secret is refused before any KV moves") {
  check_refuses_wrong_secret(nccl());
}

TEST_CASE("nccl carrier: an unexpected or cancelled request fails at finish, and its target stays untouched") {
  check_unexpected_and_cancelled(nccl());
}

int main(int argc, char** argv) {
  return run_or_skip(argc, argv, []() -> std::string {
    if (!gpu::backend_built()) return "this build has no GPU backend (CUDA and NCCL were not found)";
    std::string why;
    const int devices = gpu::load_backend()->device_count(&why);
    if (devices < 2)
      return "the NCCL conformance run needs two CUDA devices, this machine has " + std::to_string(devices) +
             (why.empty() ? "" : " (" + why + ")");
    return {};
  });
}
