#include "runtime/text/tokenizer.h"

#include "runtime/common/errc.h"

namespace prfaas::text {

std::vector<int32_t> byte_tokenizer::encode(std::string_view text, bool) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (unsigned char c : text) ids.push_back(c);
  return ids;
}

std::string byte_tokenizer::decode(std::span<const int32_t> ids, bool) const {
  std::string out;
  out.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id > 255)
      throw failure(errc::invalid_argument, "token id " + std::to_string(id) + " is outside the byte vocabulary (0..255)");
    out.push_back(static_cast<char>(id));
  }
  return out;
}

std::optional<int32_t> byte_tokenizer::id_of(std::string_view token) const {
  if (token.size() != 1) return std::nullopt;
  return static_cast<unsigned char>(token[0]);
}

std::string stream_decoder::push(int32_t id) {
  const int32_t one[] = {id};
  pending_ += t_->decode(one, skip_special_);
  const size_t n = complete_utf8_prefix(pending_);
  std::string out = pending_.substr(0, n);
  pending_.erase(0, n);
  return out;
}

std::string stream_decoder::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace prfaas::text
