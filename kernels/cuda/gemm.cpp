#include "kernels/cuda/gemm.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace prfaas::kernels::cuda {

namespace {

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string("cuBLAS: ") + what + " failed (" + std::to_string(status) + ")");
}
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

}  // namespace

gemm::gemm() {
  cublasHandle_t h;
  check(cublasCreate(&h), "cublasCreate");
  handle_ = h;
}

gemm::~gemm() { cublasDestroy(static_cast<cublasHandle_t>(handle_)); }

void gemm::multiply(const float* x, const float* w, float* y, int rows, int in, int out, cudaStream_t s) const {
  // Row-major y = x wᵀ is column-major yᵀ = w xᵀ: w's row-major [out][in] is column-major
  // [in][out], used transposed.
  auto h = static_cast<cublasHandle_t>(handle_);
  check(cublasSetStream(h, s), "cublasSetStream");
  const float one = 1.0f, zero = 0.0f;
  check(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, &one, w, in, x, in, &zero, y, out), "cublasSgemm");
}

double gemm::library_peak_gflops(int n, int reps) {
  gemm g;
  float *a, *b, *c;
  const size_t bytes = static_cast<size_t>(n) * n * sizeof(float);
  check(cudaMalloc(&a, bytes), "cudaMalloc");
  check(cudaMalloc(&b, bytes), "cudaMalloc");
  check(cudaMalloc(&c, bytes), "cudaMalloc");
  cudaMemset(a, 0, bytes);
  cudaMemset(b, 0, bytes);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  double best = 0;
  for (int rep = 0; rep <= reps; ++rep) {  // the first run warms up
    cudaEventRecord(start, nullptr);
    g.multiply(a, b, c, n, n, n, nullptr);
    cudaEventRecord(stop, nullptr);
    check(cudaEventSynchronize(stop), "a timed product");
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    if (rep > 0) best = std::max(best, 2.0 * n * n * static_cast<double>(n) / (ms * 1e-3) / 1e9);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
  return best;
}

}  // namespace prfaas::kernels::cuda
