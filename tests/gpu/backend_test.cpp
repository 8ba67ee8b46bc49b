// On a machine with a GPU: the backend plugin, opened on asking, names the device, and a node
// asked for --device cuda opens it and says what it sees.  Elsewhere the executable reports
// skipped with the reason (exit 77), never passed.

#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "runtime/gpu/backend.h"
#include "tests/support/process.h"
#include "tests/support/skip_main.h"

using namespace prfaas;

TEST_CASE("the GPU backend, asked for, names each device it sees") {
  const auto gpu = gpu::load_backend();
  REQUIRE(gpu->device_count() >= 1);
  for (int i = 0; i < gpu->device_count(); ++i) CHECK_THAT(gpu->describe_device(i), Catch::Contains("GiB"));
  std::ifstream in("/proc/self/maps");
  const std::string maps((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_THAT(maps, Catch::Contains("libcudart") && Catch::Contains("libnccl"));
}

TEST_CASE("a node asked for --device cuda opens the GPU backend and names the device in what it says") {
  const auto r = testing::run({PRFAAS_NODE, "--role=decode", "--cluster=local", "--listen=127.0.0.1:0",
                               "--router=127.0.0.1:1", "--insecure", "--device", "cuda"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("the GPU backend (") && Catch::Contains(gpu::load_backend()->describe_device(0)));
}

int main(int argc, char** argv) {
  return testing::run_or_skip(argc, argv, []() -> std::string {
    if (!gpu::backend_built()) return "this build has no GPU backend (CUDA and NCCL were not found)";
    try {
      std::string why;
      if (gpu::load_backend()->device_count(&why) == 0) return why;
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  });
}
