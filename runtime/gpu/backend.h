#pragma once
// The GPU backend: CUDA, cuBLAS and NCCL live in a plugin, libprfaas_gpu.so, built whenever CUDA
// and NCCL are found, and opened only by a process that asks for a GPU (`--device cuda`, an NCCL
// carrier).  A CPU process maps none of their libraries (a CUDA runtime alone is ~150 MB of
// address space and ~0.5 s of start-up per process).
//
//   auto gpu = gpu::load_backend();              // throws failure(bad_config) naming why not
//   std::string why;
//   if (gpu->device_count(&why) == 0) ... why
//   auto carrier = gpu->nccl_carrier(0, "");
//
// Where the plugin is looked for, first found wins: $PRFAAS_GPU_BACKEND (a file path), the
// installed layout (<prefix>/bin/../<libdir>/prfaas/libprfaas_gpu.so beside the executable), the
// build tree it was built in.  The process keeps the plugin open until it exits.

#include <memory>
#include <string>
#include <vector>

namespace prfaas::transport {
class carrier;
}

namespace prfaas::gpu {

struct backend_api;

class backend {
 public:
  int device_count(std::string* why = nullptr) const;
  std::string describe_device(int index) const;
  std::shared_ptr<transport::carrier> nccl_carrier(int device, const std::string& host_id = "") const;
  const std::string& path() const { return path_; }  // the plugin file that was opened

 private:
  friend std::shared_ptr<const backend> load_backend();
  backend(std::string path, const backend_api* api) : path_(std::move(path)), api_(api) {}
  std::string path_;
  const backend_api* api_;
};

// Whether this build made a plugin at all (CUDA and NCCL were found when it was configured).
bool backend_built();

// Opens the plugin once per process (later calls return the same backend); throws
// failure(errc::bad_config) saying which files were tried and why each failed.
std::shared_ptr<const backend> load_backend();

// One line on what a GPU would be here, for a refusal or a status: "the GPU backend
// (PATH) sees 1 device: NVIDIA H200, 139 GiB", "... sees no CUDA device: REASON", or why the
// backend could not be loaded.  Loads the backend.
std::string survey();

// The places load_backend tries, in order.
std::vector<std::string> backend_candidates();

}  // namespace prfaas::gpu
