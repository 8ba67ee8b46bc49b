#pragma once
// The one symbol the GPU backend plugin exports (backend.h opens the plugin, plugin.cpp fills
// this table).  A table of plain functions behind a C name, so the host finds it with dlsym
// without knowing any C++ mangling; the C++ types inside (carrier, std::string) are the ones
// both sides were built from in the same build, which `build_id` checks.

#include <memory>
#include <string>

namespace prfaas::transport {
class carrier;
}

namespace prfaas::gpu {

struct backend_api {
  // The build the plugin belongs to (PRFAAS_VERSION and the compiler's version): a plugin of
  // another build is refused, since the C++ types crossing here must be laid out the same.
  const char* build_id;
  // Usable CUDA devices; 0 with `why` set when there are none (no driver, no device).
  int (*device_count)(std::string* why);
  // "NVIDIA H200, 139 GiB" for device `index`.
  std::string (*describe_device)(int index);
  // The NCCL carrier (runtime/transport/nccl_link.h) on CUDA device `device`; `host_id` as
  // configure_nccl_socket_env takes it.
  std::shared_ptr<transport::carrier> (*nccl_carrier)(int device, const std::string& host_id);
};

}  // namespace prfaas::gpu

// The plugin's entry: returns its table (never null).
extern "C" const prfaas::gpu::backend_api* prfaas_gpu_backend_v1();

// What build_id holds for this build: both sides compute it from the same macros.
#define PRFAAS_GPU_BUILD_ID PRFAAS_GPU_VERSION " g++ " __VERSION__
