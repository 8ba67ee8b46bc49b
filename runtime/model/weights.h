#pragma once
// The tiny model's parameters, generated deterministically from model_config::seed.
// Matrices are row-major [out][in] (see kernels/cpu/gemm.h).

#include <initializer_list>
#include <vector>

#include "runtime/model/config.h"

namespace prfaas::model {

struct layer_weights {
  layer_kind kind;
  std::vector<float> attn_norm;  // [d]
  std::vector<float> wq, wk, wv, wo;
  std::vector<float> w_alpha, w_beta;  // linear layers only: [linear_heads][d]
  std::vector<float> ffn_norm;   // [d]
  std::vector<float> w_gate, w_up, w_down;
};

struct model_weights {
  std::vector<float> embedding;  // [vocab][d]
  std::vector<layer_weights> layers;
  std::vector<float> final_norm; // [d]
  std::vector<float> lm_head;    // [vocab][d]
};

model_weights make_weights(const model_config& config);

// Rows of several [out][in] matrices with the same `in`, stacked into one [sum of out][in]: one
// product then computes all their outputs (q, k and v; the MLP's gate and up).
std::vector<float> stack_rows(std::initializer_list<const std::vector<float>*> parts);

}  // namespace prfaas::model
