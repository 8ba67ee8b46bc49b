#include "runtime/text/model_text.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "runtime/common/errc.h"
#include "runtime/text/bpe_tokenizer.h"

namespace prfaas::text {
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) fail_config(p.string(), "cannot be read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A token named in tokenizer_config.json: a string, or an AddedToken object's "content".
std::string token_text(const nlohmann::json& cfg, const char* key) {
  if (!cfg.contains(key) || cfg[key].is_null()) return "";
  const auto& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

}  // namespace

std::shared_ptr<const tokenizer> load_tokenizer(const std::string& model_dir, int vocab) {
  // Without a tokenizer the model's ids are bytes (a vocabulary under 256 uses the first ones).
  if (model_dir.empty() || !fs::exists(fs::path(model_dir) / "tokenizer.json")) return std::make_shared<byte_tokenizer>();
  auto tok = std::make_shared<bpe_tokenizer>(bpe_tokenizer::load((fs::path(model_dir) / "tokenizer.json").string()));
  if (tok->vocab_size() > vocab)
    fail_config((fs::path(model_dir) / "tokenizer.json").string(),
        "makes ids up to " + std::to_string(tok->vocab_size() - 1) + ", beyond the model's vocabulary of " + std::to_string(vocab));
  return tok;
}

model_text load_model_text(const std::string& model_dir, int vocab) {
  model_text mt;
  mt.tok = load_tokenizer(model_dir, vocab);
  mt.own_tokenizer = !dynamic_cast<const byte_tokenizer*>(mt.tok.get());
  if (!model_dir.empty()) mt.defaults = model::read_generation_config(model_dir, vocab);
  const fs::path cfg_path = model_dir.empty() ? fs::path() : fs::path(model_dir) / "tokenizer_config.json";
  if (mt.own_tokenizer && fs::exists(cfg_path)) {
    const auto cfg = nlohmann::json::parse(read_text(cfg_path), nullptr, false);
    if (!cfg.is_object()) fail_config(cfg_path.string(), "is not a JSON object");
    mt.bos_token = token_text(cfg, "bos_token");
    mt.eos_token = token_text(cfg, "eos_token");
    mt.pad_token = token_text(cfg, "pad_token");
    if (cfg.contains("chat_template")) {
      const auto& t = cfg["chat_template"];
      std::string source;
      if (t.is_string()) {
        source = t.get<std::string>();
      } else if (t.is_array()) {  // named templates: the "default" one
        for (const auto& n : t)
          if (n.is_object() && n.value("name", "") == "default" && n.contains("template") && n["template"].is_string())
            source = n["template"].get<std::string>();
        if (source.empty()) fail_config(cfg_path.string(), "chat_template lists no template named \"default\"");
      } else {
        fail_config(cfg_path.string(), "chat_template must be a string or a list of named templates");
      }
      mt.chat = std::make_shared<chat_template>(chat_template::parse(source, cfg_path.string()));
    }
  }
  if (!mt.chat && mt.own_tokenizer && fs::exists(fs::path(model_dir) / "chat_template.jinja"))
    mt.chat = std::make_shared<chat_template>(
        chat_template::parse(read_text(fs::path(model_dir) / "chat_template.jinja"), (fs::path(model_dir) / "chat_template.jinja").string()));
  if (!mt.chat) mt.chat = std::make_shared<chat_template>(chat_template::house());
  for (int id : mt.defaults.eos_token_ids) mt.eos_ids.push_back(id);
  if (mt.eos_ids.empty() && !mt.eos_token.empty())
    if (auto id = mt.tok->id_of(mt.eos_token)) mt.eos_ids.push_back(*id);
  return mt;
}

}  // namespace prfaas::text
