#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <memory>

namespace prfaas::kernels {

namespace {

constexpr int kQueryTile = 16;  // queries (positions) sharing one pass over the cache

// One query head's running softmax over the blocks seen so far.
struct running {
  float max = -INFINITY;
  float sum = 0;
};

// Folds one key block (`n` keys, transposed K in kt[d][j], V rows at v + j * v_stride) into one
// query's state.  Every operation's order is fixed by n and head_dim alone.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void fold_block(const float* qs, const float* kt, int bt, const float* v, long v_stride, int n, int dim,
                running& st, float* acc, float* scores) {
  for (int j = 0; j < n; ++j) scores[j] = 0;
  for (int d = 0; d < dim; ++d) {
    const float qd = qs[d];
    const float* row = kt + static_cast<long>(d) * bt;
    for (int j = 0; j < n; ++j) scores[j] += qd * row[j];
  }
  float block_max = -INFINITY;
  for (int j = 0; j < n; ++j) block_max = std::max(block_max, scores[j]);
  const float new_max = std::max(st.max, block_max);
  const float rescale = exp_poly(st.max - new_max);  // 0 on the first block, 1 when the max holds
  for (int j = 0; j < n; ++j) scores[j] = exp_poly(scores[j] - new_max);
  float part[16] = {};
  for (int j = 0; j < n; ++j) part[j % 16] += scores[j];
  float block_sum = 0;
  for (int l = 0; l < 16; ++l) block_sum += part[l];
  st.sum = st.sum * rescale + block_sum;
  st.max = new_max;
  for (int d = 0; d < dim; ++d) acc[d] *= rescale;
  for (int j = 0; j < n; ++j) {
    const float p = scores[j];
    const float* vj = v + j * v_stride;
    for (int d = 0; d < dim; ++d) acc[d] += p * vj[d];
  }
}


// The fast path for the default shape (head_dim 64, blocks of 64 tokens): four query heads at a
// time against one block, their scores and outputs held in registers (16-lane vectors).  Each
// query's lanes see the same operations in the same order as when it runs alone; slots past the
// tile's queries carry zeros and are dropped.
// 16-lane vectors: AVX-512 registers where the CPU has them, split by g++ where it has not.
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float v16 __attribute__((vector_size(64)));
typedef int vi16 __attribute__((vector_size(64)));
constexpr int kSlots = 4;
constexpr int kDim = 64, kBlock = 64;
constexpr int kDc = kDim / 16, kKc = kBlock / 16;

__attribute__((always_inline)) inline v16 splat(float x) { return v16{} + x; }

// exp_poly on 16 lanes, the same formula.
__attribute__((always_inline)) inline v16 exp_v(v16 x) {
  const v16 lo = splat(-87.0f), hi = splat(88.0f), big = splat(12582912.0f);
  const v16 xc = x < lo ? lo : (x > hi ? hi : x);
  const v16 n = (xc * 1.44269504088896341f + big) - big;
  const v16 r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  v16 p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const vi16 e = (__builtin_convertvector(n, vi16) + 127) << 23;
  const v16 scaled = p * (v16)e;  // the exponent's bits: a same-size vector cast reinterprets
  return x < lo ? v16{} : scaled;
}

__attribute__((always_inline)) inline float lane_sum(v16 v) {
  float l[16];
  __builtin_memcpy(l, &v, sizeof l);
  float s8[8], s4[4];
  for (int i = 0; i < 8; ++i) s8[i] = l[i] + l[i + 8];
  for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

__attribute__((always_inline)) inline float lane_max(v16 v) {
  float l[16];
  __builtin_memcpy(l, &v, sizeof l);
  float m = l[0];
  for (int i = 1; i < 16; ++i) m = m > l[i] ? m : l[i];
  return m;
}

// Folds one block into up to four queries: qs[s] their scaled vectors, n[s] their keys in this
// block (0: an empty slot), st/acc their running state.  kt: the block's keys transposed
// [kDim][kBlock]; v: the first V row, rows v_stride apart.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void fold_slots(const float* const* qs, const int* n, const float* kt, const float* v, long v_stride,
                running* const* st, float* const* acc) {
  v16 s[kSlots][kKc];
  for (int q = 0; q < kSlots; ++q)
    for (int c = 0; c < kKc; ++c) s[q][c] = v16{};
  for (int d = 0; d < kDim; ++d) {
    v16 k[kKc];
    __builtin_memcpy(k, kt + d * kBlock, sizeof k);
    for (int q = 0; q < kSlots; ++q) {
      const v16 qd = splat(qs[q][d]);
      for (int c = 0; c < kKc; ++c) s[q][c] += qd * k[c];
    }
  }
  alignas(64) float p[kSlots][kBlock];
  float rescale[kSlots];
  int most = 0;
  for (int q = 0; q < kSlots; ++q) {
    if (n[q] == 0) {
      rescale[q] = 1;
      for (int j = 0; j < kBlock; ++j) p[q][j] = 0;
      continue;
    }
    most = n[q] > most ? n[q] : most;
    vi16 index;
    for (int l = 0; l < 16; ++l) index[l] = l;
    v16 top = splat(-INFINITY);
    for (int c = 0; c < kKc; ++c) {
      s[q][c] = index + c * 16 < n[q] ? s[q][c] : splat(-INFINITY);
      top = s[q][c] > top ? s[q][c] : top;
    }
    const float new_max = std::max(st[q]->max, lane_max(top));
    rescale[q] = exp_poly(st[q]->max - new_max);
    v16 sum{};
    for (int c = 0; c < kKc; ++c) {
      const v16 e = exp_v(s[q][c] - new_max);
      sum += e;
      __builtin_memcpy(&p[q][c * 16], &e, sizeof e);
    }
    st[q]->sum = st[q]->sum * rescale[q] + lane_sum(sum);
    st[q]->max = new_max;
  }
  v16 o[kSlots][kDc];
  for (int q = 0; q < kSlots; ++q)
    for (int c = 0; c < kDc; ++c) {
      __builtin_memcpy(&o[q][c], acc[q] + c * 16, sizeof(v16));
      o[q][c] *= rescale[q];
    }
  for (int j = 0; j < most; ++j) {
    v16 vj[kDc];
    __builtin_memcpy(vj, v + j * v_stride, sizeof vj);
    for (int q = 0; q < kSlots; ++q) {
      const v16 pj = splat(p[q][j]);
      for (int c = 0; c < kDc; ++c) o[q][c] += pj * vj[c];
    }
  }
  for (int q = 0; q < kSlots; ++q)
    if (n[q] > 0) __builtin_memcpy(acc[q], &o[q][0], sizeof o[q]);
}

}  // namespace

void store_kv(float* block, int slot, const float* k, const float* v, int block_tokens, int kv_heads, int head_dim) {
  const long per_token = static_cast<long>(kv_heads) * head_dim;
  for (long i = 0; i < per_token; ++i) block[i * block_tokens + slot] = k[i];
  float* values = block + block_tokens * per_token + slot * per_token;
  for (long i = 0; i < per_token; ++i) values[i] = v[i];
}

void attend_causal(const float* q, int rows, int heads, const kv_block_view& kv, int first_position,
                   float* out) {
  const int dim = kv.head_dim, bt = kv.block_tokens, group = heads / kv.kv_heads;
  const long stride = static_cast<long>(heads) * dim;          // one query row
  const long kv_stride = static_cast<long>(kv.kv_heads) * dim;  // one token in a block
  const long v_offset = static_cast<long>(bt) * kv_stride;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
  const int tiles = (rows + kQueryTile - 1) / kQueryTile;
  const bool fast = dim == kDim && bt == kBlock;
  // Work items: (KV head, query tile); later tiles see more blocks, so hand them out dynamically.
#pragma omp parallel
  {
    // Per thread, not zero-filled: every tile sets what it reads.
    const size_t slots = static_cast<size_t>(kQueryTile) * group;
    std::unique_ptr<float[]> scores(new float[bt]), qs_mem(new float[slots * dim]), acc_mem(new float[slots * dim]);
    std::unique_ptr<running[]> state(new running[slots]);
    float* qs = qs_mem.get();
    float* acc = acc_mem.get();
#pragma omp for schedule(dynamic, 1) collapse(2)
    for (int g = 0; g < kv.kv_heads; ++g)
      for (int tile = 0; tile < tiles; ++tile) {
        const int r0 = tile * kQueryTile, r1 = std::min(rows, r0 + kQueryTile);
        for (int r = r0; r < r1; ++r)
          for (int i = 0; i < group; ++i) {
            const float* src = q + r * stride + static_cast<long>(g * group + i) * dim;
            float* dst = &qs[(static_cast<size_t>(r - r0) * group + i) * dim];
            for (int d = 0; d < dim; ++d) dst[d] = src[d] * scale;
            std::fill_n(&acc[(static_cast<size_t>(r - r0) * group + i) * dim], dim, 0.0f);
            state[(r - r0) * group + i] = running{};
          }
        const int last = first_position + r1 - 1;  // the tile's last position
        for (int b = 0; b <= last / bt; ++b) {
          const float* block = kv.blocks[b];
          const float* kt = block + static_cast<long>(g) * dim * bt;  // this KV head's keys, [dim][bt]
          const float* v = block + v_offset + static_cast<long>(g) * dim;
          if (fast) {
            // Four (position, head) slots at a time; a slot whose position precedes this block
            // or lies past the tile stays empty.
            const int slots = (r1 - r0) * group;
            for (int s0 = 0; s0 < slots; s0 += kSlots) {
              const float* qp[kSlots];
              int n[kSlots];
              running* sp[kSlots];
              float* ap[kSlots];
              for (int i = 0; i < kSlots; ++i) {
                const int s = std::min(s0 + i, slots - 1);
                const int position = first_position + r0 + s / group;
                n[i] = s0 + i < slots && position >= b * bt ? std::min(bt, position + 1 - b * bt) : 0;
                qp[i] = &qs[static_cast<size_t>(s) * dim];
                sp[i] = &state[s];
                ap[i] = &acc[static_cast<size_t>(s) * dim];
              }
              fold_slots(qp, n, kt, v, kv_stride, sp, ap);
            }
            continue;
          }
          for (int r = r0; r < r1; ++r) {
            const int position = first_position + r;
            if (position < b * bt) continue;
            const int n = std::min(bt, position + 1 - b * bt);
            for (int i = 0; i < group; ++i) {
              const size_t s = static_cast<size_t>(r - r0) * group + i;
              fold_block(&qs[s * dim], kt, bt, v, kv_stride, n, dim, state[s], &acc[s * dim], scores.get());
            }
          }
        }
        for (int r = r0; r < r1; ++r)
          for (int i = 0; i < group; ++i) {
            const size_t s = static_cast<size_t>(r - r0) * group + i;
            float* o = out + r * stride + static_cast<long>(g * group + i) * dim;
            const float inv = 1.0f / state[s].sum;
            for (int d = 0; d < dim; ++d) o[d] = acc[s * dim + d] * inv;
          }
      }
  }
}

}  // namespace prfaas::kernels
