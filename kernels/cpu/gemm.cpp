#include "kernels/cpu/gemm.h"

#include <dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace prfaas::kernels {

namespace {
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
constexpr int kPiece = 256;  // rows per primitive call at most (then the exact powers of two)

// oneDNN's weights layout for products of this shape, the same for every row count.
dnnl::memory::desc packed_desc(const dnnl::engine& e, int in, int out) {
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(dnnl::memory::desc({kPiece, in}, dt::f32, tag::ab),
                                                           dnnl::memory::desc({in, out}, dt::f32, tag::any),
                                                           dnnl::memory::desc({kPiece, out}, dt::f32, tag::ab)),
                                        e);
  return pd.weights_desc();
}

}  // namespace

struct gemm::matrix::impl {
  dnnl::memory packed;
  std::vector<int> pieces;  // its shape's exact row counts (gemm::impl::exact)
};

struct gemm::impl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  mutable std::mutex mu;
  std::map<std::tuple<int, int, int>, dnnl::matmul> primitives;  // (rows, in, out)
  // Per weight shape (in, out): the row counts whose primitive gives a row the bits the
  // 256-row one gives it, largest first (256 always; probed at the first pack of the shape).
  std::map<std::pair<int, int>, std::vector<int>> exact;

  const dnnl::matmul& primitive(int rows, int in, int out, const dnnl::memory::desc& weights) {
    std::lock_guard lock(mu);
    const auto key = std::make_tuple(rows, in, out);
    if (auto it = primitives.find(key); it != primitives.end()) return it->second;
    if (primitives.size() >= max_primitives)
      throw std::length_error("gemm: more than " + std::to_string(max_primitives) + " product shapes");
    const dnnl::memory::desc a({rows, in}, dt::f32, tag::ab), c({rows, out}, dt::f32, tag::ab);
    return primitives.emplace(key, dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, weights, c), engine)))
        .first->second;
  }
};

gemm::gemm() : impl_(std::make_unique<impl>()) {}
gemm::~gemm() = default;

size_t gemm::primitives() const {
  std::lock_guard lock(impl_->mu);
  return impl_->primitives.size();
}

gemm::matrix gemm::pack(const float* w, int in, int out) const {
  const auto& e = impl_->engine;
  auto m = std::make_shared<matrix::impl>();
  m->packed = dnnl::memory(packed_desc(e, in, out), e);
  dnnl::memory plain({{in, out}, dt::f32, tag::ba}, e, const_cast<float*>(w));
  dnnl::stream s(e);
  dnnl::reorder(plain, m->packed).execute(s, plain, m->packed);
  s.wait();
  matrix result;
  result.impl_ = m;
  result.in_ = in;
  result.out_ = out;
  {
    std::lock_guard lock(impl_->mu);
    if (auto it = impl_->exact.find({in, out}); it != impl_->exact.end()) m->pieces = it->second;
  }
  if (m->pieces.empty()) {
    m->pieces = probe_pieces(result);
    std::lock_guard lock(impl_->mu);
    impl_->exact.emplace(std::make_pair(in, out), m->pieces);
  }
  return result;
}

// Which oneDNN kernel a product runs, and so the order it sums a row's terms in, depends on the
// primitive's row count in ways that differ by CPU (AVX-512 machines gave every power of two
// the same bits; an AVX2 one only 4, 128 and 256).  So it is measured: random rows through the
// 256-row primitive, then through each smaller one, at the start and at the end of the 256 (a
// row's place in its piece must not matter either).  Equal bits for random data mean the same
// order of operations; a different order shows in the last bits almost surely.
std::vector<int> gemm::probe_pieces(const matrix& w) const {
  const long in = w.in_, out = w.out_;
  std::vector<float> x(static_cast<size_t>(kPiece) * in), full(static_cast<size_t>(kPiece) * out);
  uint32_t state = 12345;
  for (auto& v : x) {  // a fixed sequence: the probe's verdict does not vary from run to run
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(state >> 8) / static_cast<float>(1u << 24) * 2 - 1;
  }
  run(kPiece, x.data(), w, full.data());
  std::vector<int> pieces{kPiece};
  for (int rows = kPiece / 2; rows >= 1; rows /= 2) {
    std::vector<float> y(static_cast<size_t>(rows) * out);
    bool same = true;
    for (const long first : {0L, static_cast<long>(kPiece - rows)}) {
      run(rows, x.data() + first * in, w, y.data());
      same = same && std::memcmp(y.data(), full.data() + first * out, y.size() * sizeof(float)) == 0;
    }
    if (same) pieces.push_back(rows);
  }
  return pieces;
}

void gemm::run(int rows, const float* x, const matrix& w, float* y) const {
  const int in = w.in_, out = w.out_;
  const auto& packed = w.impl_->packed;
  const auto& mm = impl_->primitive(rows, in, out, packed.get_desc());
  const auto& e = impl_->engine;
  dnnl::memory a({{rows, in}, dt::f32, tag::ab}, e, const_cast<float*>(x));
  dnnl::memory c({{rows, out}, dt::f32, tag::ab}, e, y);
  dnnl::stream s(e);
  mm.execute(s, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, packed}, {DNNL_ARG_DST, c}});
  s.wait();
}

void gemm::multiply(const float* x, const matrix& w, float* y, int rows) const {
  // Fixed shapes only (see the header): 256-row pieces, then the largest exact pieces that fit;
  // fewer rows than the smallest exact piece go through it padded with zero rows.
  const long in = w.in_, out = w.out_;
  const auto& pieces = w.impl_->pieces;
  int r = 0;
  for (const int piece : pieces)
    for (; rows - r >= piece; r += piece) run(piece, x + r * in, w, y + r * out);
  if (r == rows) return;
  const int piece = pieces.back(), left = rows - r;
  std::vector<float> xp(static_cast<size_t>(piece) * in, 0.0f), yp(static_cast<size_t>(piece) * out);
  std::memcpy(xp.data(), x + r * in, static_cast<size_t>(left) * in * sizeof(float));
  run(piece, xp.data(), w, yp.data());
  std::memcpy(y + r * out, yp.data(), static_cast<size_t>(left) * out * sizeof(float));
}

double library_peak_gflops(int n, int reps) {
  dnnl::engine e(dnnl::engine::kind::cpu, 0);
  const dnnl::memory::desc md({n, n}, dt::f32, tag::ab);
  dnnl::matmul mm(dnnl::matmul::primitive_desc(dnnl::matmul::desc(md, md, md), e));
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size());
  dnnl::memory am(md, e, a.data()), bm(md, e, b.data()), cm(md, e, c.data());
  dnnl::stream s(e);
  double best = 0;
  for (int rep = 0; rep <= reps; ++rep) {  // the first run warms up and is not counted
    const auto t0 = std::chrono::steady_clock::now();
    mm.execute(s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    s.wait();
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep > 0) best = std::max(best, 2.0 * n * n * n / t / 1e9);
  }
  return best;
}

}  // namespace prfaas::kernels
