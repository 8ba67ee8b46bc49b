#include "runtime/model/checkpoint.h"

#include <xxhash.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "runtime/common/errc.h"
#include "runtime/model/checkpoint_init.h"
#include "runtime/model/tensor_names.h"

namespace prfaas::model {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) fail_config(p.string(), "cannot read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

json parse_json(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail_config(source, std::string("not valid JSON: ") + e.what());
  }
}

// Reads typed fields of one JSON object, remembering which keys it used: a key nobody reads is
// an unsupported field.
class fields {
 public:
  fields(const json& j, std::string source) : j_(j), source_(std::move(source)) {}
  bool has(const std::string& k) {
    used_.insert(k);
    return j_.contains(k) && !j_[k].is_null();
  }
  int integer(const std::string& k, int fallback, bool required = false) {
    if (!has(k)) {
      if (required) fail_config(source_, "config field " + k + " is missing");
      return fallback;
    }
    const auto& v = j_[k];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > (int64_t{1} << 30))
      fail_config(source_, "config field " + k + " must be a non-negative integer");
    return v.get<int>();
  }
  double number(const std::string& k, double fallback) {
    if (!has(k)) return fallback;
    const auto& v = j_[k];
    if (!v.is_number()) fail_config(source_, "config field " + k + " must be a number");
    return v.get<double>();
  }
  bool boolean(const std::string& k, bool fallback) {
    if (!has(k)) return fallback;
    if (!j_[k].is_boolean()) fail_config(source_, "config field " + k + " must be true or false");
    return j_[k].get<bool>();
  }
  std::string text(const std::string& k, const std::string& fallback) {
    if (!has(k)) return fallback;
    if (!j_[k].is_string()) fail_config(source_, "config field " + k + " must be a string");
    return j_[k].get<std::string>();
  }
  const json& raw(const std::string& k) {
    used_.insert(k);
    return j_[k];
  }
  void ignore(std::initializer_list<const char*> keys) {
    for (const char* k : keys) used_.insert(k);
  }
  // Every key of the object was read or is ignored by design.
  void check_all_used(const std::string& what) {
    for (const auto& [k, v] : j_.items())
      if (!used_.count(k)) fail_config(source_, "unsupported " + what + " field " + k);
  }

 private:
  const json& j_;
  std::string source_;
  std::set<std::string> used_;
};

}  // namespace

model_config parse_hf_config(const std::string& text, const std::string& source) {
  json top = parse_json(text, source);
  if (!top.is_object()) fail_config(source, "config.json is not a JSON object");
  const std::string type = top.value("model_type", "");
  bool top_tie = false, top_tie_given = false;
  const json* body = &top;
  if (type == "qwen3_5") {
    // The published multimodal checkpoint: the text model's config sits under text_config.
    if (!top.contains("text_config") || !top["text_config"].is_object()) fail_config(source, "model_type qwen3_5 needs a text_config object");
    if (top.contains("tie_word_embeddings") && top["tie_word_embeddings"].is_boolean()) {
      top_tie = top["tie_word_embeddings"].get<bool>();
      top_tie_given = true;
    }
    body = &top["text_config"];
  }
  fields f(*body, source);
  model_config c;
  c.engine = "hf";
  const std::string mt = f.text("model_type", type);
  if (mt == "qwen3_next") c.arch = architecture::qwen3_next;
  else if (mt == "qwen3_5_text") c.arch = architecture::qwen3_5_text;
  else fail_config(source, "unsupported model_type \"" + mt + "\" (qwen3_next, qwen3_5_text and qwen3_5 are supported)");
  if (top.contains("architectures")) {
    const auto& a = top["architectures"];
    if (!a.is_array()) fail_config(source, "architectures must be a list");
    for (const auto& name : a) {
      const std::string n = name.is_string() ? name.get<std::string>() : "";
      if (n != "Qwen3NextForCausalLM" && n != "Qwen3_5ForCausalLM" && n != "Qwen3_5ForConditionalGeneration")
        fail_config(source, "unsupported architecture \"" + n + "\"");
    }
  }
  f.ignore({"architectures", "transformers_version", "torch_dtype", "dtype", "initializer_range", "use_cache",
            "attention_dropout", "output_router_logits", "router_aux_loss_coef", "bos_token_id", "eos_token_id",
            "pad_token_id", "mtp_num_hidden_layers", "mtp_use_dedicated_embeddings", "return_dict",
            "output_hidden_states", "output_attentions", "use_sliding_window"});
  c.vocab = f.integer("vocab_size", 0, true);
  c.d_model = f.integer("hidden_size", 0, true);
  c.n_layers = f.integer("num_hidden_layers", 0, true);
  c.heads = f.integer("num_attention_heads", 0, true);
  c.kv_heads = f.integer("num_key_value_heads", c.heads);
  c.head_dim = f.integer("head_dim", c.heads ? c.d_model / c.heads : 0);
  c.ffn_dim = f.integer("intermediate_size", 0, true);
  if (const auto act = f.text("hidden_act", "silu"); act != "silu") fail_config(source, "unsupported hidden_act \"" + act + "\" (silu)");
  if (f.boolean("attention_bias", false)) fail_config(source, "unsupported attention_bias = true");
  if (!f.boolean("attn_output_gate", true)) fail_config(source, "unsupported attn_output_gate = false");
  if (f.has("sliding_window")) fail_config(source, "unsupported sliding_window");
  c.norm_eps = static_cast<float>(f.number("rms_norm_eps", 1e-6));
  c.tie_embeddings = f.boolean("tie_word_embeddings", top_tie_given ? top_tie : false);
  c.max_context = std::min(f.integer("max_position_embeddings", 32768), 1 << 20);
  c.conv_kernel = f.integer("linear_conv_kernel_dim", 4);
  c.linear_key_dim = f.integer("linear_key_head_dim", 128);
  c.linear_value_dim = f.integer("linear_value_head_dim", 128);
  c.linear_key_heads = f.integer("linear_num_key_heads", 16);
  c.linear_heads = f.integer("linear_num_value_heads", 32);
  // Rotary: rope_parameters (transformers 5) or the older top-level fields.
  double theta = f.number("rope_theta", 10000.0), partial = f.number("partial_rotary_factor", 1.0);
  if (c.arch == architecture::qwen3_next && !f.has("partial_rotary_factor")) partial = 0.25;
  if (f.has("rope_scaling")) fail_config(source, "unsupported rope_scaling");
  if (f.has("rope_parameters")) {
    const json& rp = f.raw("rope_parameters");
    if (!rp.is_object()) fail_config(source, "rope_parameters must be an object");
    fields r(rp, source);
    if (const auto kind = r.text("rope_type", "default"); kind != "default")
      fail_config(source, "unsupported rope_parameters.rope_type \"" + kind + "\" (default)");
    theta = r.number("rope_theta", theta);
    partial = r.number("partial_rotary_factor", partial);
    // Multimodal rotary sections: with text alone every section has the same position, which
    // is the plain rotary embedding.
    r.ignore({"mrope_section", "mrope_interleaved"});
    r.check_all_used("rope_parameters");
  }
  c.rope_theta = static_cast<float>(theta);
  c.rotary_fraction = static_cast<float>(partial);
  if (f.has("layer_types")) {
    const json& lt = f.raw("layer_types");
    if (!lt.is_array()) fail_config(source, "layer_types must be a list");
    for (const auto& t : lt) {
      const std::string s = t.is_string() ? t.get<std::string>() : "";
      if (s == "linear_attention") c.layer_types.push_back(layer_kind::linear);
      else if (s == "full_attention") c.layer_types.push_back(layer_kind::full);
      else fail_config(source, "unsupported layer type \"" + s + "\" (linear_attention, full_attention)");
    }
    f.ignore({"full_attention_interval"});
  } else {
    const int interval = f.integer("full_attention_interval", 4);
    if (interval < 1) fail_config(source, "full_attention_interval must be at least 1");
    c.linear_per_full = interval - 1;
  }
  if (c.arch == architecture::qwen3_next) {
    c.experts = f.integer("num_experts", 0);
    c.experts_per_token = f.integer("num_experts_per_tok", 0);
    c.expert_ffn_dim = f.integer("moe_intermediate_size", 0);
    c.shared_expert_ffn_dim = f.integer("shared_expert_intermediate_size", 0);
    c.norm_topk_prob = f.boolean("norm_topk_prob", true);
    c.decoder_sparse_step = std::max(1, f.integer("decoder_sparse_step", 1));
    if (f.has("mlp_only_layers")) {
      const json& m = f.raw("mlp_only_layers");
      if (!m.is_array()) fail_config(source, "mlp_only_layers must be a list");
      for (const auto& l : m) {
        if (!l.is_number_integer()) fail_config(source, "mlp_only_layers must hold layer indices");
        c.mlp_only_layers.push_back(l.get<int>());
      }
    }
  }
  f.check_all_used("config");
  try {
    c.validate();
  } catch (const failure& e) {
    fail_config(source, e.what());
  }
  return c;
}

std::string hf_config_json(const model_config& c) {
  nlohmann::ordered_json j;
  const bool next = c.arch == architecture::qwen3_next;
  j["architectures"] = {next ? "Qwen3NextForCausalLM" : "Qwen3_5ForCausalLM"};
  j["model_type"] = next ? "qwen3_next" : "qwen3_5_text";
  j["vocab_size"] = c.vocab;
  j["hidden_size"] = c.d_model;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.heads;
  j["num_key_value_heads"] = c.kv_heads;
  j["head_dim"] = c.head_dim;
  j["intermediate_size"] = c.ffn_dim;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = c.norm_eps;
  j["tie_word_embeddings"] = c.tie_embeddings;
  j["max_position_embeddings"] = c.max_context;
  j["attention_bias"] = false;
  j["linear_conv_kernel_dim"] = c.conv_kernel;
  j["linear_key_head_dim"] = c.linear_key_dim;
  j["linear_value_head_dim"] = c.linear_value_dim;
  j["linear_num_key_heads"] = c.key_heads();
  j["linear_num_value_heads"] = c.linear_heads;
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", c.rope_theta}, {"partial_rotary_factor", c.rotary_fraction}};
  auto types = nlohmann::ordered_json::array();
  for (int l = 0; l < c.n_layers; ++l) types.push_back(c.kind(l) == layer_kind::full ? "full_attention" : "linear_attention");
  j["layer_types"] = types;
  if (next) {
    j["num_experts"] = c.experts;
    j["num_experts_per_tok"] = c.experts_per_token;
    j["moe_intermediate_size"] = c.expert_ffn_dim;
    j["shared_expert_intermediate_size"] = c.shared_expert_ffn_dim;
    j["norm_topk_prob"] = c.norm_topk_prob;
    j["decoder_sparse_step"] = c.decoder_sparse_step;
    j["mlp_only_layers"] = c.mlp_only_layers;
  }
  j["dtype"] = "float32";
  return j.dump(2) + "\n";
}

namespace {

std::vector<std::string> weight_files(const fs::path& dir) {
  if (fs::exists(dir / "model.safetensors.index.json")) {
    const auto src = (dir / "model.safetensors.index.json").string();
    const json idx = parse_json(read_text(dir / "model.safetensors.index.json"), src);
    if (!idx.is_object() || !idx.contains("weight_map") || !idx["weight_map"].is_object())
      fail_config(src, "needs a weight_map object");
    std::set<std::string> files;
    for (const auto& [name, file] : idx["weight_map"].items()) {
      if (!file.is_string()) fail_config(src, "weight_map entry " + name + " is not a file name");
      const std::string f = file.get<std::string>();
      if (f.empty() || f.find('/') != std::string::npos || f.find("..") != std::string::npos)
        fail_config(src, "weight_map entry " + name + " names a file outside the folder: " + f);
      files.insert(f);
    }
    return {files.begin(), files.end()};
  }
  if (fs::exists(dir / "model.safetensors")) return {"model.safetensors"};
  fail_config(dir.string(), "holds no model.safetensors nor model.safetensors.index.json");
}

}  // namespace

std::string content_hash(const std::string& dir_text) {
  const fs::path dir(dir_text);
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  std::vector<std::string> files{"config.json"};
  for (auto& f : weight_files(dir)) files.push_back(f);
  for (const auto& f : files) {
    XXH3_64bits_update(st, f.data(), f.size());
    if (f == "config.json") {
      const auto text = read_text(dir / f);
      XXH3_64bits_update(st, text.data(), text.size());
    } else {
      const auto file = safetensors::open((dir / f).string());
      const auto bytes = file.file_bytes();
      XXH3_64bits_update(st, bytes.data(), bytes.size());
    }
  }
  const auto h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

generation_defaults read_generation_config(const std::string& model_dir, int vocab) {
  generation_defaults out;
  const fs::path path = fs::path(model_dir) / "generation_config.json";
  if (!fs::exists(path)) return out;
  const auto src = path.string();
  const json g = parse_json(read_text(path), src);
  if (!g.is_object()) fail_config(src, "is not a JSON object");
  auto token = [&](const json& v, const char* k) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= vocab)
      fail_config(src, std::string(k) + " must be a token id in [0, " + std::to_string(vocab) + ")");
    return v.get<int>();
  };
  auto id = [&](const char* k, int& to) {
    if (g.contains(k) && !g[k].is_null()) to = token(g[k], k);
  };
  id("bos_token_id", out.bos_token_id);
  id("pad_token_id", out.pad_token_id);
  if (g.contains("eos_token_id") && !g["eos_token_id"].is_null()) {
    const auto& e = g["eos_token_id"];
    if (e.is_array())
      for (const auto& x : e) out.eos_token_ids.push_back(token(x, "eos_token_id"));
    else
      out.eos_token_ids.push_back(token(e, "eos_token_id"));
  }
  auto number = [&](const char* k, std::optional<float>& to) {
    if (!g.contains(k) || g[k].is_null()) return;
    if (!g[k].is_number()) fail_config(src, std::string(k) + " must be a number");
    to = g[k].get<float>();
  };
  const bool sample = g.contains("do_sample") && g["do_sample"].is_boolean() && g["do_sample"].get<bool>();  // transformers' default: greedy
  if (sample) {
    number("temperature", out.temperature);
    number("top_p", out.top_p);
    number("min_p", out.min_p);
    if (g.contains("top_k") && !g["top_k"].is_null()) {
      if (!g["top_k"].is_number_integer()) fail_config(src, "top_k must be an integer");
      out.top_k = g["top_k"].get<int>();
    }
  } else {
    out.temperature = 0.0f;
  }
  number("repetition_penalty", out.repetition_penalty);
  return out;
}

checkpoint checkpoint::open(const std::string& dir_text, bool hash) {
  const fs::path dir(dir_text);
  if (!fs::is_directory(dir)) fail_config(dir_text, "is not a model folder");
  checkpoint ck;
  ck.config_ = parse_hf_config(read_text(dir / "config.json"), (dir / "config.json").string());
  ck.generation_ = read_generation_config(dir_text, ck.config_.vocab);
  for (const auto& f : weight_files(dir)) ck.shards_.push_back(safetensors::open((dir / f).string()));
  ck.index(ck.config_);
  if (hash) ck.config_.weights_hash = content_hash(dir_text);
  return ck;
}

checkpoint checkpoint::builtin(const model_config& config) {
  checkpoint ck;
  ck.config_ = config;
  ck.config_.validate();
  auto bytes = std::make_shared<const std::vector<std::byte>>(
      write_safetensors(init_tensors(ck.config_, config.seed, dtype::f32)));
  ck.shards_.push_back(safetensors::from_memory(std::move(bytes), "built-in model (seed " + std::to_string(config.seed) + ")"));
  ck.index(ck.config_);
  return ck;
}

void checkpoint::index(const model_config& c) {
  for (const auto& shard : shards_)
    for (const auto& [name, view] : shard.tensors()) {
      if (skipped_tensor(name)) {
        ++skipped_;
        continue;
      }
      if (!tensors_.emplace(name, &view).second) fail_config(shard.label(), "tensor " + name + " appears in two weight files");
    }
  const auto specs = checkpoint_tensors(c);
  std::set<std::string> expected;
  for (const auto& s : specs) {
    expected.insert(s.name);
    auto it = tensors_.find(s.name);
    if (it == tensors_.end()) fail_config(shards_.empty() ? "checkpoint" : shards_.front().label(), "missing tensor " + s.name + " " + shape_text(s.shape));
    if (it->second->shape != s.shape)
      fail_config(shards_.front().label(), "tensor " + s.name + " has shape " + shape_text(it->second->shape) +
                                       ", the config implies " + shape_text(s.shape));
  }
  for (const auto& [name, view] : tensors_)
    if (!expected.count(name)) fail_config(shards_.front().label(), "unexpected tensor " + name + " " + shape_text(view->shape) + " (not in the " + std::string(model::name(c.arch)) + " layout)");
}

void checkpoint::set_layout(int block_tokens, int max_context, const std::string& weights_hash) {
  config_.block_tokens = block_tokens;
  config_.max_context = max_context;
  config_.weights_hash = weights_hash;
  config_.validate();
}

const tensor_view& checkpoint::tensor(const std::string& name) const {
  auto it = tensors_.find(name);
  PRFAAS_REQUIRE(it != tensors_.end(), "no tensor " + name);
  return *it->second;
}

void checkpoint::release_pages() const {
  for (const auto& s : shards_) s.release_pages();
}

int64_t checkpoint::file_bytes() const {
  int64_t n = 0;
  for (const auto& s : shards_) n += static_cast<int64_t>(s.file_bytes().size());
  return n;
}

}  // namespace prfaas::model
