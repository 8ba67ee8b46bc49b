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
// it.  OpenBLAS 0.3.21 cannot (a row's bits depend on its place in a 16-row tile), nor can
// oneDNN with a run-time M; oneDNN's f32 matmul with the shape fixed at creation gives a row the
// same bits at any place in the product, but which kernel it runs (and so the order a row's
// terms are summed in) depends on that row count, differently by CPU: on an AVX-512 machine
// every power of two agreed with the 256-row product, on an AVX2 one only 4, 128 and 256.  So
// each product runs as primitives of fixed shape, made once and kept, and the row counts that
// agree are measured once per weight shape when it is first packed (probe_pieces): the rows are
// cut into pieces of 256, then the largest agreeing pieces that fit, and fewer rows than the
// smallest agreeing piece go through it padded with zero rows.  Nine shapes per weight at most
// (see max_primitives).  oneDNN's f32 matmul is also 2-3x
// OpenBLAS's speed on prefill shapes here (`prfaas bench engine` measures its peak each run).
//
// Weights are packed once into the layout oneDNN's kernel reads (chosen for 256-row products and
// used by every row count): unpacked, each product repacked its weights, a one-row product took
// 8.5 us instead of 3.5 and a 2,048-row one ran at a third of the speed.
//
// Threads: oneDNN runs a product on the calling thread's OpenMP team (omp_get_max_threads()).

#include <cstddef>
#include <memory>
#include <vector>

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
  std::vector<int> probe_pieces(const matrix& w) const;
  std::unique_ptr<impl> impl_;
};

// The library's own peak on this machine now: the best of `reps` n x n x n products in one
// primitive, GFLOP/s, on the calling thread's OpenMP team.  `prfaas bench engine`'s reference.
double library_peak_gflops(int n = 2048, int reps = 3);

}  // namespace prfaas::kernels
