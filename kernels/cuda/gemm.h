#pragma once
// Dense products on the GPU through cuBLAS: y = x · wᵀ with the CPU's row-major [out][in]
// weights (kernels/cpu/gemm.h), in f32.  One handle per model; its calls go on the given stream.

#include <cuda_runtime_api.h>

namespace prfaas::kernels::cuda {

class gemm {
 public:
  gemm();
  ~gemm();
  gemm(const gemm&) = delete;
  gemm& operator=(const gemm&) = delete;

  // x: [rows][in], w: [out][in], y: [rows][out]; device memory.
  void multiply(const float* x, const float* w, float* y, int rows, int in, int out, cudaStream_t s) const;

  // cuBLAS's own f32 peak on this GPU now: the best of `reps` n^3 products, GFLOP/s.
  static double library_peak_gflops(int n = 8192, int reps = 5);

 private:
  void* handle_ = nullptr;  // cublasHandle_t
};

}  // namespace prfaas::kernels::cuda
