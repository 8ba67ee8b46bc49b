#include "runtime/model/tokenizer.h"

namespace prfaas::model {

std::vector<int32_t> encode(const std::string& text) {
  std::vector<int32_t> tokens;
  tokens.reserve(text.size());
  for (unsigned char c : text) tokens.push_back(c);
  return tokens;
}

std::string decode(const std::vector<int32_t>& tokens) {
  std::string text;
  text.reserve(tokens.size());
  for (int32_t t : tokens) text.push_back(static_cast<char>(t & 0xff));
  return text;
}

}  // namespace prfaas::model
