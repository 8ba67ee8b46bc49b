#include "runtime/model/tensor_names.h"

namespace prfaas::model {

std::string tensor_prefix(architecture arch) {
  return arch == architecture::qwen3_5_text ? "model.language_model." : "model.";
}

bool skipped_tensor(const std::string& name) {
  return name.rfind("mtp.", 0) == 0 || name.rfind("model.visual.", 0) == 0;
}

std::vector<tensor_spec> checkpoint_tensors(const model_config& c) {
  std::vector<tensor_spec> t;
  const int64_t d = c.d_model;
  const std::string prefix = tensor_prefix(c.arch);
  auto add = [&](std::string name, std::vector<int64_t> shape) { t.push_back({std::move(name), std::move(shape)}); };
  auto mlp = [&](const std::string& p, int64_t f) {
    add(p + "gate_proj.weight", {f, d});
    add(p + "up_proj.weight", {f, d});
    add(p + "down_proj.weight", {d, f});
  };
  add(prefix + "embed_tokens.weight", {c.vocab, d});
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = prefix + "layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {d});
    add(p + "post_attention_layernorm.weight", {d});
    if (c.kind(l) == layer_kind::full) {
      const int64_t q = int64_t{c.heads} * c.head_dim, kv = int64_t{c.kv_heads} * c.head_dim;
      add(p + "self_attn.q_proj.weight", {2 * q, d});  // per head: [query | output gate]
      add(p + "self_attn.k_proj.weight", {kv, d});
      add(p + "self_attn.v_proj.weight", {kv, d});
      add(p + "self_attn.o_proj.weight", {d, q});
      add(p + "self_attn.q_norm.weight", {c.head_dim});
      add(p + "self_attn.k_norm.weight", {c.head_dim});
    } else {
      const int64_t kd = int64_t{c.key_heads()} * c.linear_key_dim, vd = int64_t{c.linear_heads} * c.linear_value_dim;
      const int64_t vh = c.linear_heads;
      if (c.arch == architecture::qwen3_next) {
        add(p + "linear_attn.in_proj_qkvz.weight", {2 * kd + 2 * vd, d});  // grouped per key head
        add(p + "linear_attn.in_proj_ba.weight", {2 * vh, d});
      } else {
        add(p + "linear_attn.in_proj_qkv.weight", {2 * kd + vd, d});
        add(p + "linear_attn.in_proj_z.weight", {vd, d});
        add(p + "linear_attn.in_proj_b.weight", {vh, d});
        add(p + "linear_attn.in_proj_a.weight", {vh, d});
      }
      add(p + "linear_attn.conv1d.weight", {c.conv_channels(), 1, c.conv_kernel});
      add(p + "linear_attn.dt_bias", {vh});
      add(p + "linear_attn.A_log", {vh});
      add(p + "linear_attn.norm.weight", {c.linear_value_dim});
      add(p + "linear_attn.out_proj.weight", {d, vd});
    }
    if (c.moe(l)) {
      add(p + "mlp.gate.weight", {c.experts, d});
      for (int e = 0; e < c.experts; ++e) mlp(p + "mlp.experts." + std::to_string(e) + ".", c.expert_ffn_dim);
      if (c.shared_expert_ffn_dim > 0) {
        mlp(p + "mlp.shared_expert.", c.shared_expert_ffn_dim);
        add(p + "mlp.shared_expert_gate.weight", {1, d});
      }
    } else {
      mlp(p + "mlp.", c.ffn_dim);
    }
  }
  add(prefix + "norm.weight", {d});
  if (!c.tie_embeddings) add("lm_head.weight", {c.vocab, d});
  return t;
}

}  // namespace prfaas::model
