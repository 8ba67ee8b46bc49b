#include "runtime/gpu/backend.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>

#include "runtime/common/errc.h"
#include "runtime/gpu/backend_api.h"

namespace prfaas::gpu {

bool backend_built() {
#ifdef PRFAAS_GPU_BUILD_PATH
  return true;
#else
  return false;
#endif
}

std::vector<std::string> backend_candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("PRFAAS_GPU_BACKEND"); env && *env) out.emplace_back(env);
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
#ifdef PRFAAS_GPU_INSTALL_DIR
  if (!ec) out.push_back((exe.parent_path() / ".." / PRFAAS_GPU_INSTALL_DIR / "libprfaas_gpu.so").lexically_normal());
#endif
#ifdef PRFAAS_GPU_BUILD_PATH
  out.emplace_back(PRFAAS_GPU_BUILD_PATH);
#endif
  return out;
}

std::shared_ptr<const backend> load_backend() {
  static std::mutex mutex;
  static std::shared_ptr<const backend> loaded;
  std::lock_guard lock(mutex);
  if (loaded) return loaded;
  if (!backend_built() && !std::getenv("PRFAAS_GPU_BACKEND"))
    throw failure(errc::bad_config,
                  "this build has no GPU backend: CUDA and NCCL were not found when it was configured");
  std::string tried;
  for (const auto& path : backend_candidates()) {
    if (!std::filesystem::exists(path)) {
      tried += "; " + path + ": no such file";
      continue;
    }
    // RTLD_LOCAL: the plugin's copies of runtime code stay its own, resolved inside it.
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      tried += "; " + path + ": " + ::dlerror();
      continue;
    }
    using entry_fn = const backend_api* (*)();
    auto entry = reinterpret_cast<entry_fn>(::dlsym(handle, "prfaas_gpu_backend_v1"));
    if (!entry) {
      tried += "; " + path + ": no prfaas_gpu_backend_v1 entry";
      ::dlclose(handle);
      continue;
    }
    const backend_api* api = entry();
    if (std::string(api->build_id) != PRFAAS_GPU_BUILD_ID) {
      tried += "; " + path + ": from another build (" + api->build_id + ")";
      ::dlclose(handle);
      continue;
    }
    loaded = std::shared_ptr<const backend>(new backend(path, api));  // the handle stays open
    return loaded;
  }
  throw failure(errc::bad_config, "cannot load the GPU backend" + (tried.empty() ? std::string() : ": " + tried.substr(2)));
}

std::string survey() {
  try {
    auto gpu = load_backend();
    std::string why;
    const int n = gpu->device_count(&why);
    std::string out = "the GPU backend (" + gpu->path() + ") ";
    if (n == 0) return out + "sees " + why;
    out += "sees " + std::to_string(n) + (n == 1 ? " device: " : " devices: ");
    for (int i = 0; i < n; ++i) out += (i ? "; " : "") + gpu->describe_device(i);
    return out;
  } catch (const failure& f) {
    return f.what();
  }
}

int backend::device_count(std::string* why) const {
  std::string reason;
  const int n = api_->device_count(&reason);
  if (why) *why = reason;
  return n;
}

std::string backend::describe_device(int index) const { return api_->describe_device(index); }

std::shared_ptr<transport::carrier> backend::nccl_carrier(int device, const std::string& host_id) const {
  return api_->nccl_carrier(device, host_id);
}

}  // namespace prfaas::gpu
