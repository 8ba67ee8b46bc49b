#include "apps/bench_engine.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "runtime/gpu/backend.h"
#include "runtime/kv/block_pool.h"
#include "runtime/kv/sequence_kv.h"
#include "apps/cli_support.h"
#include "runtime/model/checkpoint.h"
#include "runtime/model/hybrid_model.h"
#include "runtime/model/tokenizer.h"
#include "runtime/common/errc.h"
#include "runtime/common/peak_rss.h"
#include "runtime/config/deployment_config.h"

namespace prfaas::apps {
namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

// The built-in model with room for the longest prompt measured (8K tokens; the default context
// is 4K).  The context bounds only checks and pool sizes: the weights and math are the same.
model::model_config bench_model() {
  model::model_config c;
  c.max_context = 8192 + 256;
  return c;
}
constexpr int kPrefillTokens[] = {512, 2048, 8192};

double seconds_since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

// Floating-point operations of a prefill of `n` tokens: two per weight per token for every
// layer's products, the attention's two products over the causal context on full layers, the
// delta rule's state updates on linear ones, and the LM head once.
double prefill_flops(const model::model_config& c, int n) {
  double per_token = 0, attention = 0;
  const double d = c.d_model;
  for (int l = 0; l < c.n_layers; ++l) {
    if (c.moe(l))  // the router, the experts each token visits, the shared expert
      per_token += 2 * d * (c.experts + 1) + 2 * 3 * d * (double(c.experts_per_token) * c.expert_ffn_dim + c.shared_expert_ffn_dim);
    else
      per_token += 2 * 3 * d * c.ffn_dim;
    if (c.kind(l) == model::layer_kind::full) {
      per_token += 2 * d * (4.0 * c.heads * c.head_dim + 2.0 * c.kv_heads * c.head_dim);
      attention += 2 * 2.0 * c.heads * c.head_dim * (static_cast<double>(n) * (n + 1) / 2);
    } else {
      const double qk = c.key_heads() * c.linear_key_dim, v = c.linear_heads * c.linear_value_dim;
      per_token += 2 * d * (2 * qk + 2 * v + 2.0 * c.linear_heads) + 2 * d * v;
      per_token += 2.0 * c.conv_kernel * c.conv_channels();
      per_token += 7.0 * c.linear_heads * c.linear_key_dim * c.linear_value_dim;  // S k, the update, S q: 2 + 3 + 2 a cell
    }
  }
  return per_token * n + attention + 2 * d * c.vocab;
}

void print(const nlohmann::json& out) {
  std::printf("%s engine on %s; reference: %s at %.1f GFLOP/s\n", out["model"].get<std::string>().c_str(),
              out["device"].get<std::string>().c_str(), out["peak_source"].get<std::string>().c_str(),
              out["peak_gflops"].get<double>());
  std::printf("load %.2f s, RSS %.0f MiB after load (weights %.0f MiB as f32), peak %.0f MiB; KV %ld bytes/token, "
              "linear state %ld bytes/request\n",
              out["load_s"].get<double>(), out["rss_after_load_mib"].get<double>(),
              out["weight_bytes"].get<double>() / (1 << 20), out["rss_mib"].get<double>(),
              out["kv_bytes_per_token"].get<long>(), out["state_bytes_per_request"].get<long>());
  std::printf("%-16s %12s %10s %12s\n", "prefill tokens", "tokens/s", "GFLOP/s", "of reference");
  for (const auto& p : out["prefill"])
    std::printf("%-16d %12.0f %10.1f %11.0f%%\n", p["tokens"].get<int>(), p["tokens_per_s"].get<double>(),
                p["gflops"].get<double>(), 100 * p["peak_ratio"].get<double>());
  std::printf("%-16s %12s %10s\n", "decode batch", "tokens/s", "x batch 1");
  const double one = out["decode"][0]["tokens_per_s"].get<double>();
  for (const auto& d : out["decode"])
    std::printf("%-16d %12.0f %10.2f\n", d["batch"].get<int>(), d["tokens_per_s"].get<double>(),
                d["tokens_per_s"].get<double>() / one);
}


}  // namespace

int bench_engine(const bench_engine_options& o) {
  // The device as engine.device is read (config::engine_config): cpu, cuda or cuda:N.
  config::engine_config engine;
  engine.device = o.device;
  int device = -1;
  try {
    device = engine.device_index();
  } catch (const failure& f) {
    std::cerr << "prfaas bench engine: --device: " << f.what() << "\n";
    return 2;
  }
  if (device >= 0) {
    std::cerr << "prfaas bench engine: --device " << o.device << ": " << gpu::survey()
              << "; no GPU engine computes the Qwen3-Next layers yet\n";
    return 2;
  }
  const auto t_load = clock_type::now();
  std::shared_ptr<const model::checkpoint> ck;
  try {
    ck = std::make_shared<const model::checkpoint>(o.model.empty() ? model::checkpoint::builtin(bench_model())
                                                                   : model::checkpoint::open(o.model, false));
  } catch (const failure& f) {
    std::cerr << "prfaas bench engine: " << f.what() << "\n";
    return 2;
  }
  const model::hybrid_model m(ck);
  const double load_s = seconds_since(t_load);
  const double rss_loaded = current_rss_mib();  // the packed weights, before any KV or activations
  const auto& c = m.config();
  const int longest = std::min(c.max_context - 1, 8192);
  kv::block_pool pool(c.block_bytes(), static_cast<size_t>(c.full_layers()) * (c.blocks_for(longest) + 1) * 2 +
                                           static_cast<size_t>(c.full_layers()) * c.blocks_for(200 + o.decode_steps + 1) * 33);

  // The reference: oneDNN's own f32 matrix multiply at its best shape (2048^3), this run.
  const double peak = kernels::library_peak_gflops();
  long linear_layers = c.n_layers - c.full_layers();
  json out = {{"model", o.model.empty() ? std::string("built-in") : o.model}, {"device", "cpu"}, {"peak_gflops", peak},
              {"peak_source", "oneDNN f32 matmul, 2048 x 2048 x 2048"}, {"load_s", load_s},
              {"weight_bytes", static_cast<double>(c.weight_bytes())}, {"rss_after_load_mib", rss_loaded},
              {"kv_bytes_per_token", c.block_bytes() / c.block_tokens * c.full_layers()},
              {"state_bytes_per_request", linear_layers * c.linear_state_bytes()},
              {"prefill", json::array()}, {"decode", json::array()}};
  for (const int n : kPrefillTokens) {
    if (n > longest) continue;
    double best = 1e9;
    for (int rep = 0; rep < 2; ++rep) {
      kv::sequence_kv kv(c.kv_layout(), pool);
      const auto prompt = model::encode(demo_prompt(rep, n));
      const auto t0 = clock_type::now();
      m.prefill(prompt, kv);
      best = std::min(best, seconds_since(t0));
    }
    const double gflops = prefill_flops(c, n) / best / 1e9;
    out["prefill"].push_back({{"tokens", n}, {"tokens_per_s", n / best}, {"gflops", gflops}, {"peak_ratio", gflops / peak}});
  }
  for (const int batch : {1, 8, 16, 32}) {
    std::vector<std::unique_ptr<kv::sequence_kv>> seqs;
    std::vector<kv::sequence_kv*> kvs;
    std::vector<int32_t> next;
    for (int i = 0; i < batch; ++i) {
      seqs.push_back(std::make_unique<kv::sequence_kv>(c.kv_layout(), pool));
      next.push_back(model::greedy(m.prefill(model::encode(demo_prompt(i, 200)), *seqs.back())));
      kvs.push_back(seqs.back().get());
    }
    const auto t0 = clock_type::now();
    for (int step = 0; step < o.decode_steps; ++step) {
      const auto logits = m.decode_batch(next, kvs);
      for (int i = 0; i < batch; ++i)
        next[i] = model::greedy(std::span(logits).subspan(static_cast<size_t>(i) * c.vocab, c.vocab));
    }
    out["decode"].push_back({{"batch", batch}, {"tokens_per_s", batch * o.decode_steps / seconds_since(t0)}});
  }
  out["rss_mib"] = peak_rss_mib();
  if (o.json) {
    std::cout << out.dump() << std::endl;
    return 0;
  }
  print(out);
  return 0;
}

}  // namespace prfaas::apps
