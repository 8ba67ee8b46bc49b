// When a sequence ends: a stop token, or a stop string found in its text even across tokens.

#include <catch2/catch.hpp>

#include "runtime/text/stop_condition.h"

using namespace prfaas;

namespace {

// Feeds `text` one byte-token at a time; the index of the token that stopped it, or -1.
int stops_at(text::stop_condition& s, const std::string& text) {
  const text::byte_tokenizer bytes;
  for (size_t i = 0; i < text.size(); ++i)
    if (s.push(static_cast<unsigned char>(text[i]))) return static_cast<int>(i);
  return -1;
}

}  // namespace

TEST_CASE("a stop token ends the sequence at that token") {
  text::stop_condition s(nullptr, {7, 3}, {});
  CHECK_FALSE(s.push(1));
  CHECK(s.push(3));
  CHECK_FALSE(s.empty());
  CHECK(text::stop_condition(nullptr, {}, {}).empty());
}

TEST_CASE("a stop string is found when its bytes come over several tokens, and not before") {
  const text::byte_tokenizer bytes;
  text::stop_condition s(&bytes, {}, {"END", "\n\n"});
  CHECK(stops_at(s, "the EN") == -1);
  CHECK(stops_at(s, "D of it") == 0);  // "EN" + "D": found at the token that completes it
  text::stop_condition t(&bytes, {}, {"\n\n"});
  CHECK(stops_at(t, "a\nb\nc\n\nd") == 6);
}

TEST_CASE("a long run of text keeps only a bounded tail, and never matches across what it dropped") {
  const text::byte_tokenizer bytes;
  text::stop_condition s(&bytes, {}, {"xyz"});
  CHECK(stops_at(s, std::string(100000, 'x') + "y") == -1);
  CHECK(stops_at(s, "z") == 0);
}
