#pragma once
// Dense products through oneDNN's matrix multiply: the bulk of a model's work.
//
//   kernels::gemm g;                                  // one per model; thread-safe
//   auto wp = g.pack(w, in, out);                     // once per weight, w: [out][in]
//   g.multiply(x, wp, y, rows);                       // y = x · wᵀ, x: [rows][in]
//
// Why oneDNN and how it stays exact.  The project compares greedy output byte for byte across
// paths (a prompt prefilled whole or in chunks, a token decoded alone or in a batch, on one
// thread or two), so a product's row must come out with the same bits whatever rows are beside
// it.  Measured on our shapes (K 256/512, N 4-512, M 1-300, one and two threads): oneDNN's f32
// matmul with the shape fixed at creation gives every row the bits of the same row multiplied
// alone; OpenBLAS 0.3.21 does not (a row's bits depend on its place in a 16-row tile), nor does
// oneDNN with a run-time M.  So each product runs as primitives of fixed shape, made once and
// kept: the rows are cut into pieces of 256 and a remainder split into powers of two, which
// bounds the shapes per weight to nine (see max_primitives).  oneDNN's f32 matmul is also 2-3x
// OpenBLAS's speed on prefill shapes here (`prfaas bench engine` measures its peak each run).
//
// Weights are packed once into the layout oneDNN's kernel reads (chosen for 256-row products and
// used by every row count): unpacked, each product repacked its weights, a one-row product took
// 8.5 us instead of 3.5 and a 2,048-row one ran at a third of the speed.
//
// Threads: oneDNN runs a product on the calling thread's OpenMP team (omp_get_max_threads()).

#include <cstddef>
#include <memory>

namespace prfaas::kernels {

class gemm {
 public:
  gemm();
  ~gemm();
  gemm(const gemm&) = delete;
  gemm& operator=(const gemm&) = delete;

  // A weight matrix w[out][in] (row-major) in the library's layout; holds its own copy.
  class matrix {
   public:
    int in() const { return in_; }
    int out() const { return out_; }

   private:
    friend class gemm;
    struct impl;
    std::shared_ptr<const impl> impl_;
    int in_ = 0, out_ = 0;
  };
  matrix pack(const float* w, int in, int out) const;

  // y[r][o] = sum_i x[r][i] * w[o][i] for r < rows, o < w.out().  x: [rows][w.in()],
  // y: [rows][w.out()], not aliasing x.  Row r's bits depend on x's row r only.
  void multiply(const float* x, const matrix& w, float* y, int rows) const;

  // Primitives kept: nine row counts (256, 128, ..., 1) per weight shape, for up to 28 shapes.
  static constexpr size_t max_primitives = 256;
  size_t primitives() const;

 private:
  struct impl;
  void run(int rows, const float* x, const matrix& w, float* y) const;
  std::unique_ptr<impl> impl_;
};

// The library's own peak on this machine now: the best of `reps` n x n x n products in one
// primitive, GFLOP/s, on the calling thread's OpenMP team.  `prfaas bench engine`'s reference.
double library_peak_gflops(int n = 2048, int reps = 3);

}  // namespace prfaas::kernels
