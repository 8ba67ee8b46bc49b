// The model's tokenizer against the reference implementation (Hugging Face `tokenizers`, fixtures
// from tests/reference/make_tokenizer_fixtures.py) on the Qwen3 vocabulary: token ids identical
// on every text of the corpus, decode(encode(x)) == x where the reference round-trips, special
// tokens single ids, streaming decode never splitting a character.  Needs the Qwen3 tokenizer
// files at ../shared/fixtures/qwen3-tokenizer/ (skipped, with the reason, without them).

#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/common/errc.h"
#include "runtime/text/bpe_tokenizer.h"
#include "tests/support/skip_main.h"

using namespace prfaas;
namespace fs = std::filesystem;

namespace {

const fs::path kTokenizer = fs::path(PRFAAS_SOURCE_DIR) / "../shared/fixtures/qwen3-tokenizer/tokenizer.json";

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string unbase64(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    const auto pos = chars.find(c);
    if (pos == std::string::npos) break;
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

const text::bpe_tokenizer& qwen3() {
  static const auto t = text::bpe_tokenizer::load(kTokenizer.string());
  return t;
}

}  // namespace

TEST_CASE("Qwen3's tokenizer: ids identical to the reference on prose, code, CJK, emoji, whitespace, digits, special tokens, NFC and invalid UTF-8") {
  const auto f = nlohmann::json::parse(read(fs::path(PRFAAS_SOURCE_DIR) / "tests/reference/fixtures/qwen3-tokenizer.json"));
  const auto& t = qwen3();
  for (const auto& c : f["cases"]) {
    const std::string text = unbase64(c["bytes"].get<std::string>());
    INFO("text " << c["name"].get<std::string>());
    const auto ids = t.encode(text);
    CHECK(ids == c["ids"].get<std::vector<int32_t>>());
    if (c["round_trips"].get<bool>()) CHECK(t.decode(ids) == text);
  }
}

TEST_CASE("special tokens are single ids, never split, as plain text they are ordinary bytes") {
  const auto& t = qwen3();
  const auto im_start = t.id_of("<|im_start|>");
  REQUIRE(im_start);
  CHECK(*im_start == 151644);
  CHECK(t.is_special(*im_start));
  const auto ids = t.encode("x<|im_start|>y");
  CHECK(std::count(ids.begin(), ids.end(), *im_start) == 1);
  const auto plain = t.encode("x<|im_start|>y", /*special=*/false);
  CHECK(std::count(plain.begin(), plain.end(), *im_start) == 0);
  CHECK(t.decode(plain) == "x<|im_start|>y");
  CHECK(t.decode(ids, /*skip_special=*/true) == "xy");
  CHECK(t.vocab_size() == 151669);
}

TEST_CASE("streaming decode never splits a UTF-8 character and loses nothing") {
  const auto& t = qwen3();
  const std::string text = "naïve 混合 👨‍👩‍👧 ok";
  const auto ids = t.encode(text);
  text::stream_decoder d(t);
  std::string out;
  for (int32_t id : ids) {
    const std::string piece = d.push(id);
    CHECK(text::complete_utf8_prefix(piece) == piece.size());  // whole characters only
    out += piece;
  }
  out += d.flush();
  CHECK(out == text);
}

TEST_CASE("a tokenizer.json the engine cannot reproduce is refused at load, naming the part") {
  auto j = nlohmann::json::parse(read(kTokenizer));
  auto error_of = [](const nlohmann::json& doc) {
    try {
      text::bpe_tokenizer::parse(doc.dump(), "tokenizer.json");
    } catch (const failure& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto wordpiece = j;
  wordpiece["model"]["type"] = "WordPiece";
  CHECK_THAT(error_of(wordpiece), Catch::Contains("unsupported model type WordPiece"));
  auto nfkc = j;
  nfkc["normalizer"] = {{"type", "NFKC"}};
  CHECK_THAT(error_of(nfkc), Catch::Contains("unsupported normalizer"));
  auto fallback = j;
  fallback["model"]["byte_fallback"] = true;
  CHECK_THAT(error_of(fallback), Catch::Contains("byte_fallback"));
  auto lstrip = j;
  lstrip["added_tokens"][0]["lstrip"] = true;
  CHECK_THAT(error_of(lstrip), Catch::Contains("lstrip"));
}

int main(int argc, char** argv) {
  return prfaas::testing::run_or_skip(argc, argv, [] {
    return fs::exists(kTokenizer) ? std::string() : "the Qwen3 tokenizer files are not at " + kTokenizer.string();
  });
}
