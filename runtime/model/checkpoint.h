#pragma once
// A Hugging Face model folder: config.json, the weights (model.safetensors, or
// model.safetensors.index.json and its shards) and generation_config.json.
//
//   auto ck = checkpoint::open("models/qwen3.5-0.8b");     // config read, every shard mapped
//   const model_config& c = ck.config();                   // with weights_hash filled
//   const tensor_view& w = ck.tensor("model.norm.weight"); // validated against checkpoint_tensors(c)
//
// open() checks the whole folder before anything computes with it: the architecture and every
// config field the engine needs (an unknown architecture, field or value is an error naming
// it), every shard's header (safetensors.h), and the tensor set against the published layout:
// a missing tensor, an extra one, or a wrong shape names the tensor and both shapes.  mtp.* and
// a multimodal checkpoint's vision tensors are skipped by design (counted in skipped()).
// Shards stay mapped while the checkpoint lives; the model reads them once, packing its weights.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/model/config.h"
#include "runtime/model/safetensors.h"

namespace prfaas::model {

// generation_config.json: the model's own stop tokens and sampling defaults.
struct generation_defaults {
  std::vector<int> eos_token_ids;
  int bos_token_id = -1;
  int pad_token_id = -1;
  // Sampling defaults a request that names none gets (model/sampler.h's fields); absent: the
  // sampler's own.  do_sample false means greedy whatever the temperature says.
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<int> top_k;
};

// Reads a generation_config.json; ids outside [0, vocab) and values of the wrong type are errors
// naming the field.  A folder without one has no defaults.
generation_defaults read_generation_config(const std::string& model_dir, int vocab);

class checkpoint {
 public:
  // Reads and validates a model folder.  `hash`: compute the content hash (reads every byte).
  static checkpoint open(const std::string& dir, bool hash = true);
  // The built-in seeded model: `config`'s shape, weights generated from config.seed as a
  // checkpoint held in memory, read through the same validation.
  static checkpoint builtin(const model_config& config);

  const model_config& config() const { return config_; }
  // A deployment's KV layout for this model: its block size, context bound and (already
  // computed) content hash; the shape stays the checkpoint's.
  void set_layout(int block_tokens, int max_context, const std::string& weights_hash);
  const generation_defaults& generation() const { return generation_; }
  const tensor_view& tensor(const std::string& name) const;
  int skipped() const { return skipped_; }
  int64_t file_bytes() const;  // of all weight files
  // Once the weights are packed elsewhere: the files' pages leave this process's memory (what
  // is read later, the embedding's rows, comes back page by page).
  void release_pages() const;

 private:
  void index(const model_config& expected_from);
  model_config config_;
  generation_defaults generation_;
  std::vector<safetensors> shards_;
  std::map<std::string, const tensor_view*> tensors_;
  int skipped_ = 0;
};

// config.json's text for `config` (what transformers reads), and back.
std::string hf_config_json(const model_config& config);
// Throws failure(bad_config) naming the field that is missing, of the wrong type, or unsupported.
model_config parse_hf_config(const std::string& json_text, const std::string& source);

// The content hash of a model folder: config.json and every weight file (XXH3-64 over them, hex).
std::string content_hash(const std::string& dir);

}  // namespace prfaas::model
