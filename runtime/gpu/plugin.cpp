// The GPU backend plugin (libprfaas_gpu.so): the one place CUDA and NCCL are linked.  Opened by
// runtime/gpu/backend.cpp; exports prfaas_gpu_backend_v1 and nothing else (a version script
// hides the runtime code linked into it).

#include <cuda_runtime.h>

#include <string>

#include "runtime/gpu/backend_api.h"
#include "runtime/transport/nccl_link.h"

namespace {

int device_count(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = std::string("no CUDA device: ") + cudaGetErrorString(e);
    return 0;
  }
  if (n == 0 && why) *why = "no CUDA device";
  return n;
}

std::string describe_device(int index) {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, index) != cudaSuccess) return "cuda:" + std::to_string(index) + " (unreadable)";
  return std::string(p.name) + ", " + std::to_string(p.totalGlobalMem >> 30) + " GiB";
}

std::shared_ptr<prfaas::transport::carrier> nccl_carrier(int device, const std::string& host_id) {
  prfaas::transport::configure_nccl_socket_env(host_id);
  return prfaas::transport::make_nccl_carrier(device);
}

const prfaas::gpu::backend_api api{PRFAAS_GPU_BUILD_ID, device_count, describe_device, nccl_carrier};

}  // namespace

extern "C" __attribute__((visibility("default"))) const prfaas::gpu::backend_api* prfaas_gpu_backend_v1() {
  return &api;
}
