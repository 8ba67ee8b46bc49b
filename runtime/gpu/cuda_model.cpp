#include "runtime/gpu/cuda_model.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/delta_rule.h"
#include "kernels/cuda/ops.h"
#include "runtime/common/errc.h"
#include "runtime/model/weights.h"

namespace prfaas::gpu {

namespace k = prfaas::kernels::cuda;

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw failure(errc::internal, std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

}  // namespace

cuda_model::cuda_model(model::model_config config, int device, int kv_blocks)
    : config_(std::move(config)), device_(device), pool_(config_.block_bytes(), kv_blocks, device) {
  config_.validate();
  check(cudaSetDevice(device), "cudaSetDevice");
  cudaStream_t s;
  check(cudaStreamCreate(&s), "cudaStreamCreate");
  stream_ = s;
  const auto& c = config_;
  const auto w = model::make_weights(c);
  embedding_ = upload(w.embedding);
  final_norm_ = upload(w.final_norm);
  lm_head_ = upload(w.lm_head);
  for (const auto& lw : w.layers) {
    layer l;
    l.attn_norm = upload(lw.attn_norm);
    l.ffn_norm = upload(lw.ffn_norm);
    if (lw.kind == model::layer_kind::full) {
      l.in_proj = upload(model::stack_rows({&lw.wq, &lw.wk, &lw.wv}));
      l.in_cols = c.heads * c.head_dim + 2 * c.kv_heads * c.head_dim;
    } else {
      l.in_proj = upload(model::stack_rows({&lw.wq, &lw.wk, &lw.wv, &lw.w_alpha, &lw.w_beta}));
      l.in_cols = 2 * c.linear_heads * c.linear_key_dim + c.linear_heads * c.linear_value_dim + 2 * c.linear_heads;
    }
    l.out_proj = upload(lw.wo);
    l.gate_up = upload(model::stack_rows({&lw.w_gate, &lw.w_up}));
    l.down = upload(lw.w_down);
    layers_.push_back(l);
  }
}

cuda_model::~cuda_model() {
  for (float* p : owned_) cudaFree(p);
  cudaFree(scratch_);
  cudaFree(tokens_);
  cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
}

float* cuda_model::upload(const std::vector<float>& host) {
  float* p = nullptr;
  check(cudaMalloc(&p, host.size() * sizeof(float)), "cudaMalloc (weights)");
  owned_.push_back(p);
  check(cudaMemcpy(p, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice), "upload");
  return p;
}

float* cuda_model::scratch(size_t floats) {
  if (floats > scratch_floats_) {
    cudaFree(scratch_);
    scratch_ = nullptr;
    check(cudaMalloc(&scratch_, floats * sizeof(float)), "cudaMalloc (scratch)");
    scratch_floats_ = floats;
  }
  return scratch_;
}

cuda_model::sequence::~sequence() {
  for (auto& ids : block_ids_)
    for (int id : ids) owner_.pool_.release(id);
  for (float** t : tables_) cudaFree(t);
  for (float* st : states_) cudaFree(st);
}

std::unique_ptr<cuda_model::sequence> cuda_model::start(int max_tokens) {
  const auto& c = config_;
  if (max_tokens <= 0 || max_tokens > c.max_context)
    throw failure(errc::invalid_argument,
                  "a GPU sequence of " + std::to_string(max_tokens) + " tokens is past the model's context");
  std::unique_ptr<sequence> s(new sequence(*this));
  s->capacity_ = max_tokens;
  s->block_ids_.resize(c.n_layers);
  s->tables_.assign(c.n_layers, nullptr);
  s->states_.assign(c.n_layers, nullptr);
  for (int l = 0; l < c.n_layers; ++l) {
    if (c.kind(l) == model::layer_kind::full) {
      std::vector<float*> pointers;
      for (int b = 0; b < c.blocks_for(max_tokens); ++b) {
        const auto id = pool_.allocate();
        if (!id) throw failure(errc::no_capacity, "the GPU's KV pool is full");
        s->block_ids_[l].push_back(*id);
        pointers.push_back(pool_.floats(*id));
      }
      check(cudaMalloc(&s->tables_[l], pointers.size() * sizeof(float*)), "cudaMalloc (block table)");
      check(cudaMemcpy(s->tables_[l], pointers.data(), pointers.size() * sizeof(float*), cudaMemcpyHostToDevice),
            "block table");
    } else {
      check(cudaMalloc(&s->states_[l], c.linear_state_bytes()), "cudaMalloc (linear state)");
      check(cudaMemset(s->states_[l], 0, c.linear_state_bytes()), "linear state");
    }
  }
  return s;
}

std::vector<float> cuda_model::forward_host(std::span<const int32_t> tokens, kv::sequence_kv& kv,
                                            const std::function<void(int layer)>& hook) {
  const auto& c = config_;
  const int first = kv.tokens(), rows = static_cast<int>(tokens.size());
  PRFAAS_REQUIRE(rows > 0 && first + rows <= c.max_context, "sequence longer than the model's context");
  kv.reserve(first + rows);
  kv.set_tokens(first + rows);
  auto seq = start(first + rows);
  check(cudaSetDevice(device_), "cudaSetDevice");
  const size_t block = c.block_bytes(), state = c.linear_state_bytes();
  for (int l = 0; l < c.n_layers; ++l)
    if (c.kind(l) == model::layer_kind::full)
      for (int b = 0; b < c.blocks_for(first); ++b)
        check(cudaMemcpy(pool_.floats(seq->block_ids_[l][b]), kv.blocks(l)[b], block, cudaMemcpyHostToDevice), "KV up");
    else
      check(cudaMemcpy(seq->states_[l], kv.linear_state(l), state, cudaMemcpyHostToDevice), "state up");
  seq->tokens_ = first;
  return run(tokens, *seq, [&](int l) {
    // The blocks this call wrote (the first may hold earlier positions too: the same values).
    if (c.kind(l) == model::layer_kind::full)
      for (int b = first / c.block_tokens; b < c.blocks_for(first + rows); ++b)
        check(cudaMemcpy(kv.blocks(l)[b], pool_.floats(seq->block_ids_[l][b]), block, cudaMemcpyDeviceToHost), "KV down");
    else
      check(cudaMemcpy(kv.linear_state(l), seq->states_[l], state, cudaMemcpyDeviceToHost), "state down");
    if (hook) hook(l);
  });
}

std::vector<float> cuda_model::run(std::span<const int32_t> tokens, sequence& seq,
                                   const std::function<void(int layer)>& after_layer) {
  const auto& c = config_;
  const int rows = static_cast<int>(tokens.size());
  PRFAAS_REQUIRE(rows > 0 && seq.tokens_ + rows <= seq.capacity_, "a GPU prefill past its sequence's room");
  for (int32_t t : tokens) PRFAAS_REQUIRE(t >= 0 && t < c.vocab, "token id out of range");
  std::lock_guard lock(mutex_);
  check(cudaSetDevice(device_), "cudaSetDevice");
  auto s = static_cast<cudaStream_t>(stream_);
  const long d = c.d_model, f = c.ffn_dim, r = rows;
  const int q_dim = c.heads * c.head_dim, kv_dim = c.kv_heads * c.head_dim;
  const int qk_dim = c.linear_heads * c.linear_key_dim, v_dim = c.linear_heads * c.linear_value_dim;
  const int lh = c.linear_heads;
  const long widest = std::max<long>(q_dim + 2L * kv_dim, 2L * qk_dim + v_dim + 2L * lh);
  // x, h, mix, gate_up, act, proj, q, k, v, att (the widest of each kind), alpha, beta
  float* x = scratch(r * (3 * d + 3 * f + widest + 4L * std::max(q_dim, qk_dim + v_dim) + 2L * lh) + c.vocab);
  float* h = x + r * d;
  float* mix = h + r * d;
  float* gate_up = mix + r * d;
  float* act = gate_up + r * 2 * f;
  float* proj = act + r * f;
  float* q = proj + r * widest;
  const long part = r * std::max(q_dim, qk_dim + v_dim);
  float* kk = q + part;
  float* vv = kk + part;
  float* att = vv + part;
  float* alpha = att + part;
  float* beta = alpha + r * lh;
  float* logits_dev = beta + r * lh;
  if (rows > tokens_capacity_) {
    cudaFree(tokens_);
    tokens_ = nullptr;
    check(cudaMalloc(&tokens_, rows * sizeof(int32_t)), "cudaMalloc (tokens)");
    tokens_capacity_ = rows;
  }
  check(cudaMemcpyAsync(tokens_, tokens.data(), rows * sizeof(int32_t), cudaMemcpyHostToDevice, s), "tokens");
  k::embed(tokens_, rows, embedding_, c.d_model, x, s);
  const int first = seq.tokens_;
  for (int l = 0; l < c.n_layers; ++l) {
    const auto& w = layers_[l];
    k::rms_norm(x, w.attn_norm, h, rows, c.d_model, c.norm_eps, s);
    gemm_.multiply(h, w.in_proj, proj, rows, c.d_model, w.in_cols, s);
    if (c.kind(l) == model::layer_kind::full) {
      k::split_columns(proj, rows, w.in_cols, 0, q_dim, q, s);
      k::split_columns(proj, rows, w.in_cols, q_dim, kv_dim, kk, s);
      k::split_columns(proj, rows, w.in_cols, q_dim + kv_dim, kv_dim, vv, s);
      k::rope(q, rows, c.heads, c.head_dim, first, c.rope_theta, s);
      k::rope(kk, rows, c.kv_heads, c.head_dim, first, c.rope_theta, s);
      k::store_kv(seq.tables_[l], first, rows, kk, vv, c.block_tokens, c.kv_heads, c.head_dim, s);
      k::attend_paged(q, rows, c.heads, seq.tables_[l], c.block_tokens, c.kv_heads, c.head_dim, first, att, s);
      gemm_.multiply(att, w.out_proj, mix, rows, q_dim, c.d_model, s);
    } else {
      k::split_columns(proj, rows, w.in_cols, 0, qk_dim, q, s);
      k::split_columns(proj, rows, w.in_cols, qk_dim, qk_dim, kk, s);
      k::split_columns(proj, rows, w.in_cols, 2 * qk_dim, v_dim, vv, s);
      k::split_columns(proj, rows, w.in_cols, 2 * qk_dim + v_dim, lh, alpha, s);
      k::split_columns(proj, rows, w.in_cols, 2 * qk_dim + v_dim + lh, lh, beta, s);
      k::gates(alpha, beta, r * lh, s);
      k::l2_normalize(q, rows * lh, c.linear_key_dim, 1e-6f, s);
      k::l2_normalize(kk, rows * lh, c.linear_key_dim, 1e-6f, s);
      k::gated_delta_rule(seq.states_[l], q, kk, vv, alpha, beta, rows, lh, c.linear_key_dim, c.linear_value_dim, att, s);
      gemm_.multiply(att, w.out_proj, mix, rows, v_dim, c.d_model, s);
    }
    k::add(x, mix, r * d, s);
    k::rms_norm(x, w.ffn_norm, h, rows, c.d_model, c.norm_eps, s);
    gemm_.multiply(h, w.gate_up, gate_up, rows, c.d_model, 2 * c.ffn_dim, s);
    k::swiglu_rows(gate_up, act, rows, c.ffn_dim, s);
    gemm_.multiply(act, w.down, mix, rows, c.ffn_dim, c.d_model, s);
    k::add(x, mix, r * d, s);
    if (after_layer) {
      check(cudaStreamSynchronize(s), "a GPU layer");
      after_layer(l);
    }
  }
  // The last position's logits only.
  float* last = x + (r - 1) * d;
  k::rms_norm(last, final_norm_, h, 1, c.d_model, c.norm_eps, s);
  gemm_.multiply(h, lm_head_, logits_dev, 1, c.d_model, c.vocab, s);
  std::vector<float> logits(c.vocab);
  check(cudaMemcpyAsync(logits.data(), logits_dev, c.vocab * sizeof(float), cudaMemcpyDeviceToHost, s), "logits");
  check(cudaStreamSynchronize(s), "a GPU forward pass");
  seq.tokens_ += rows;
  return logits;
}

}  // namespace prfaas::gpu
