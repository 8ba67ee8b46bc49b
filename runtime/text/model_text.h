#pragma once
// The text side of a model folder, as the edge of a deployment needs it: its tokenizer, its
// chat template, its end-of-sequence ids and its sampling defaults.
//
//   folder with tokenizer.json     bpe_tokenizer; tokenizer_config.json's chat_template, bos and
//                                  eos tokens; generation_config.json's eos ids and defaults
//   no folder, or no tokenizer     byte_tokenizer and the house chat template (byte models)
//
//   auto mt = text::load_model_text(config.engine.model, vocab);
//   auto ids = mt.tok->encode(mt.chat->render(messages, {.add_generation_prompt = true}));
//
// Everything is read and checked here, once: a template with a construct the interpreter does
// not know, a tokenizer larger than the model's vocabulary, a bad generation_config field are
// errors at load naming the file.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/model/checkpoint.h"
#include "runtime/text/chat_template.h"
#include "runtime/text/tokenizer.h"

namespace prfaas::text {

struct model_text {
  std::shared_ptr<const tokenizer> tok;
  std::shared_ptr<const chat_template> chat;  // the model's, or the house template
  bool own_tokenizer = false;                 // the folder's tokenizer.json (else bytes)
  std::vector<int32_t> eos_ids;               // generation_config's, else the tokenizer's eos token
  std::string bos_token, eos_token;           // the template's variables
  std::string pad_token;
  model::generation_defaults defaults;
};

// `model_dir` empty: the byte-level text of the built-in model.  `vocab`: the model's
// vocabulary size (ids the tokenizer makes must fit).  Throws failure(bad_config).
model_text load_model_text(const std::string& model_dir, int vocab);

// Just the tokenizer (a decode node's, for stop strings).
std::shared_ptr<const tokenizer> load_tokenizer(const std::string& model_dir, int vocab);

}  // namespace prfaas::text
