#pragma once
// Text <-> token ids, as the nodes at the edge of a deployment see it: the gateway encodes a
// prompt once, the decode node reads its output's bytes to find stop strings, the gateway
// decodes the output for the client.  Two kinds:
//
//   bpe_tokenizer    a model's own tokenizer.json (bpe_tokenizer.h)
//   byte_tokenizer   token i is byte i: the built-in model and checkpoints without a tokenizer
//
//   const text::tokenizer& t = *text.tok;          // model_text.h picks one for a model folder
//   auto ids = t.encode("<|im_start|>user\nhi");   // added tokens become their ids
//   text::stream_decoder d(t);
//   for (int32_t id : ids) out += d.push(id);      // whole UTF-8 characters only
//
// Implementations are immutable after construction and thread-safe.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace prfaas::text {

class tokenizer {
 public:
  virtual ~tokenizer() = default;
  // `special`: added tokens written in the text become their ids (a chat template's markers);
  // otherwise they are ordinary text (what a user typed).
  virtual std::vector<int32_t> encode(std::string_view text, bool special = true) const = 0;
  // The ids' bytes, which may end inside a UTF-8 character; `skip_special` leaves special
  // tokens (end-of-sequence markers) out.  Throws failure(invalid_argument) on an id outside
  // the vocabulary.
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special = false) const = 0;
  virtual int vocab_size() const = 0;
  virtual std::optional<int32_t> id_of(std::string_view token) const = 0;
  virtual bool is_special(int32_t id) const = 0;
};

// Token i is byte i (ids 0..255).  Lossless for any input, UTF-8 or not.
class byte_tokenizer final : public tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool special = true) const override;
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const override;
  int vocab_size() const override { return 256; }
  std::optional<int32_t> id_of(std::string_view token) const override;
  bool is_special(int32_t) const override { return false; }
};

// The longest prefix of `bytes` that ends on a UTF-8 character boundary (a trailing incomplete
// sequence is left out; invalid bytes count as complete: they will never complete).
size_t complete_utf8_prefix(std::string_view bytes);

// Decodes a stream of ids, holding back the bytes of a UTF-8 character not yet complete, so the
// pieces joined read as the whole decode does and none ends inside a character.
class stream_decoder {
 public:
  explicit stream_decoder(const tokenizer& t, bool skip_special = false) : t_(&t), skip_special_(skip_special) {}
  std::string push(int32_t id);  // the text now complete
  std::string flush();           // what is held back (incomplete at the end)

 private:
  const tokenizer* t_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace prfaas::text
