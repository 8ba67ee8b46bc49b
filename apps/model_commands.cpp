// prfaas model init: a random-weight checkpoint in the published layout (model hubs are out of
// reach; tests and the demo serve these).
//
//   prfaas model init --config CONFIG.json --out DIR [--dtype bf16] [--shard-mib N] [--tokenizer DIR]

#include <caf/all.hpp>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "apps/commands.h"
#include <algorithm>

#include "runtime/common/errc.h"
#include "runtime/model/checkpoint.h"
#include "runtime/model/checkpoint_init.h"
#include "runtime/text/model_text.h"

namespace prfaas::apps {
namespace {

namespace fs = std::filesystem;

int cmd_model_init(const std::string& config_file, const std::string& out, model::init_options o) {
  try {
    std::ifstream in(config_file, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto c = model::parse_hf_config(text, config_file);
    const auto t0 = std::chrono::steady_clock::now();
    if (!o.tokenizer_dir.empty()) {
      // The model stops where its tokenizer says a turn ends: the eos and pad tokens' ids, as
      // the Qwen checkpoints' generation_config.json lists them.
      const auto t = text::load_model_text(o.tokenizer_dir, c.vocab);
      for (const auto& token : {t.eos_token, t.pad_token})
        if (const auto id = token.empty() ? std::nullopt : t.tok->id_of(token))
          if (std::find(o.eos_token_ids.begin(), o.eos_token_ids.end(), *id) == o.eos_token_ids.end())
            o.eos_token_ids.push_back(*id);
    }
    model::write_checkpoint(out, c, o);
    const auto written = model::checkpoint::open(out);  // what was written reads back, validated
    std::printf("%s: %s, %d layers, %.1f M parameters, %s, %.1f MiB, content hash %s (%.1f s)\n", out.c_str(),
                model::name(c.arch), c.n_layers, c.weight_count() / 1e6, o.type == model::dtype::bf16 ? "bf16" : "f32",
                written.file_bytes() / 1048576.0, written.config().weights_hash.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return 0;
  } catch (const failure& f) {
    throw cli_error{f.what()};
  }
}

}  // namespace

void add_model_commands(CLI::App& app, cli_context& ctx) {
  struct init_command {
    std::string config, out, dtype = "f32", tokenizer;
    model::init_options options;
  };
  auto& o = ctx.hold<init_command>();
  auto* model_cmd = app.add_subcommand("model", "model checkpoints");
  model_cmd->require_subcommand(1);
  auto* model_init = model_cmd->add_subcommand("init", "write a random-weight checkpoint in the published layout");
  model_init->add_option("--config", o.config, "a config.json of a supported architecture")->required()->check(CLI::ExistingFile);
  model_init->add_option("--out", o.out, "the folder to write")->required();
  model_init->add_option("--seed", o.options.seed, "seed of the weights");
  model_init->add_option("--dtype", o.dtype, "f32 or bf16")->check(CLI::IsMember({"f32", "bf16"}));
  model_init->add_option("--shard-mib", o.options.shard_mib, "shards of at most this many MiB, with an index (0: one file)")
      ->check(CLI::Range(0, 1 << 20));
  model_init->add_option("--tokenizer", o.tokenizer, "copy tokenizer.json and tokenizer_config.json from this folder")
      ->check(CLI::ExistingDirectory);
  model_init->callback([&ctx, c = &o] {
    ctx.run = [c] {
      c->options.type = c->dtype == "bf16" ? model::dtype::bf16 : model::dtype::f32;
      c->options.tokenizer_dir = c->tokenizer;
      return cmd_model_init(c->config, c->out, c->options);
    };
  });
}

}  // namespace prfaas::apps
