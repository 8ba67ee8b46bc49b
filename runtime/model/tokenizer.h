#pragma once
// Byte-level tokenizer: token i is byte i.  Lossless for any input, UTF-8 or not.

#include <cstdint>
#include <string>
#include <vector>

namespace prfaas::model {

std::vector<int32_t> encode(const std::string& text);
std::string decode(const std::vector<int32_t>& tokens);

}  // namespace prfaas::model
