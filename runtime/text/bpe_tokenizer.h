#pragma once
// A model's own tokenizer: Hugging Face tokenizer.json of the byte-level BPE kind the Qwen2 /
// Qwen3 / Qwen3.5 families use.
//
//   encode:  split out added tokens (special ones are never split: "<|im_start|>" is one id)
//            -> NFC (utf8proc) -> the pre-tokenizer's regex (PCRE2, JIT, Unicode classes)
//            -> each piece's bytes in the byte-level alphabet -> BPE merges by rank -> ids
//   decode:  ids -> tokens -> bytes; a stream_decoder never splits a UTF-8 character
//
//   auto tok = bpe_tokenizer::load("models/qwen3/tokenizer.json");
//   auto ids = tok.encode("Hello <|im_end|>");
//   std::string text = tok.decode(ids);
//
// load() reads exactly the parts it implements and refuses anything else by name (another model
// type, normalizer or pre-tokenizer, dropout, byte fallback...), so a tokenizer it cannot
// reproduce is an error at load, never wrong ids at request time.  Text that is not valid UTF-8
// is read as the lossy UTF-8 decoding would (each bad byte is U+FFFD).
// Immutable after load and thread-safe (the merge cache is per call).

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/text/tokenizer.h"

namespace prfaas::text {

class bpe_tokenizer final : public tokenizer {
 public:
  static bpe_tokenizer load(const std::string& tokenizer_json_path);
  static bpe_tokenizer parse(const std::string& json_text, const std::string& source);
  ~bpe_tokenizer();
  bpe_tokenizer(bpe_tokenizer&&) noexcept;
  bpe_tokenizer& operator=(bpe_tokenizer&&) noexcept;

  // Added tokens in `text` become their ids when `special` (the chat template's markers);
  // otherwise they are ordinary text.
  std::vector<int32_t> encode(std::string_view text, bool special = true) const override;
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const override;

  int vocab_size() const override;  // the largest id + 1
  std::optional<int32_t> id_of(std::string_view token) const override;  // a vocabulary or added token
  bool is_special(int32_t id) const override;


 private:
  struct impl;
  // Pieces already merged in this call, looked up by view (no string built to ask).
  struct view_hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using piece_cache = std::unordered_map<std::string, std::vector<int32_t>, view_hash, std::equal_to<>>;
  explicit bpe_tokenizer(std::unique_ptr<impl> p);
  void encode_piece(std::string_view piece, std::vector<int32_t>& out, piece_cache& cache) const;
  void encode_text(std::string_view text, std::vector<int32_t>& out, piece_cache& cache) const;
  std::unique_ptr<impl> impl_;
};


}  // namespace prfaas::text
