// The GPU backend is a plugin opened on asking (runtime/gpu/backend.h): before, this process maps
// no CUDA library; after, the plugin and CUDA's runtime and NCCL are mapped.  No GPU is needed:
// CUDA's runtime loads without a driver and says it sees no device.

#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "runtime/common/errc.h"
#include "runtime/gpu/backend.h"

using namespace prfaas;

namespace {
std::string own_maps() {
  std::ifstream in("/proc/self/maps");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
}  // namespace

TEST_CASE("the GPU backend is mapped only once asked for, and then brings CUDA and NCCL with it") {
  CHECK_THAT(own_maps(), !Catch::Contains("libcudart") && !Catch::Contains("libnccl") &&
                             !Catch::Contains("libprfaas_gpu"));
  if (!gpu::backend_built()) {
    // A build without CUDA says so by name when a GPU is asked for.
    CHECK_THROWS_WITH(gpu::load_backend(), Catch::Contains("no GPU backend") && Catch::Contains("CUDA"));
    CHECK_THAT(gpu::survey(), Catch::Contains("no GPU backend"));
    return;
  }
  const auto gpu = gpu::load_backend();
  CHECK(gpu == gpu::load_backend());  // once per process
  const std::string maps = own_maps();
  CHECK_THAT(maps, Catch::Contains(gpu->path()) && Catch::Contains("libcudart") && Catch::Contains("libnccl"));
  std::string why;
  const int n = gpu->device_count(&why);
  CHECK(n >= 0);
  if (n == 0) CHECK_THAT(why, Catch::Contains("no CUDA device"));
  CHECK_THAT(gpu::survey(), Catch::StartsWith("the GPU backend (" + gpu->path() + ") sees "));
}

TEST_CASE("$PRFAAS_GPU_BACKEND is the first place the GPU backend is looked for") {
  ::setenv("PRFAAS_GPU_BACKEND", "/nonexistent/libprfaas_gpu.so", 1);
  const auto candidates = gpu::backend_candidates();
  ::unsetenv("PRFAAS_GPU_BACKEND");
  REQUIRE_FALSE(candidates.empty());
  CHECK(candidates.front() == "/nonexistent/libprfaas_gpu.so");
}
