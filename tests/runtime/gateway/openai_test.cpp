// The OpenAI API's rules, without a server: what a body becomes, what is refused and why.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "runtime/gateway/openai.h"
#include "runtime/text/model_text.h"
#include "runtime/text/stop_condition.h"

using namespace prfaas;
using namespace prfaas::gateway;
using json = nlohmann::json;

namespace {

api_limits limits() {
  api_limits l;
  l.model = "m";
  l.max_tokens_limit = 100;
  l.max_prompt_bytes = 64;
  l.context = 200;
  return l;
}

// The built-in model's text: bytes and the house template.
const text::model_text& bytes() {
  static const auto t = text::load_model_text("", 256);
  return t;
}

std::string text_of(const std::vector<int32_t>& ids) { return bytes().tok->decode(ids); }

api_error refusal(const json& body, bool chat = false) {
  try {
    parse_completion(body.dump(), chat, limits(), bytes());
  } catch (const api_error& e) {
    return e;
  }
  FAIL("accepted: " << body.dump());
  return {};
}

}  // namespace

TEST_CASE("a completion body becomes a request with its limits and defaults") {
  const auto r = parse_completion(R"({"model":"m","prompt":["hi"],"stop":["\n","##"],"stream":true,
                                      "stream_options":{"include_usage":true},"temperature":0,"n":1,"user":"u",
                                      "logit_bias":{}})",
                                  false, limits(), bytes());
  CHECK(text_of(r.prompt_ids) == "hi");
  CHECK(r.max_tokens == 16);  // OpenAI's default for completions
  CHECK(r.stream);
  CHECK(r.include_usage);
  CHECK(r.stop == std::vector<std::string>{"\n", "##"});
  CHECK(r.user == "u");
  CHECK(r.sampling.temperature == 0);  // no model default: greedy
  CHECK_FALSE(r.seeded);
}

TEST_CASE("sampling fields, n, stop token ids and a prompt of ids become the request's decoding") {
  const auto r = parse_completion(R"({"model":"m","prompt":[104,105],"temperature":0.7,"top_p":0.9,"top_k":-1,"min_p":0.05,
                                      "seed":42,"presence_penalty":0.5,"frequency_penalty":-0.5,"repetition_penalty":1.1,
                                      "logit_bias":{"65":5},"n":3,"stop_token_ids":[10],"ignore_eos":true})",
                                  false, limits(), bytes());
  CHECK(text_of(r.prompt_ids) == "hi");
  CHECK(r.sampling.temperature == Approx(0.7));
  CHECK(r.sampling.top_p == Approx(0.9));
  CHECK(r.sampling.top_k == 0);
  CHECK(r.sampling.min_p == Approx(0.05));
  CHECK(r.seeded);
  CHECK(r.sampling.seed == 42);
  CHECK(r.sampling.repetition_penalty == Approx(1.1));
  CHECK(r.sampling.logit_bias == std::vector<std::pair<int32_t, float>>{{65, 5.0f}});
  CHECK(r.n == 3);
  CHECK(r.stop_token_ids == std::vector<int32_t>{10});
}

TEST_CASE("chat messages go through the documented template, text content parts are joined") {
  const auto r = parse_completion(
      R"({"model":"m","messages":[{"role":"system","content":"S"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"max_completion_tokens":3})",
      true, limits(), bytes());
  CHECK(text_of(r.prompt_ids) == "<|system|>\nS\n<|user|>\na\nb\n<|assistant|>\n");
  CHECK(r.max_tokens == 3);
}

TEST_CASE("what the runtime cannot honour is refused with the field named") {
  CHECK(refusal({{"model", "other"}, {"prompt", "x"}}).status == 404);
  CHECK(refusal({{"prompt", "x"}}).param == "model");
  CHECK(refusal({{"model", "m"}}).param == "prompt");
  CHECK(refusal({{"model", "m"}, {"prompt", ""}}).param == "prompt");
  CHECK(refusal({{"model", "m"}, {"prompt", std::string(65, 'x')}}).param == "prompt");
  CHECK(refusal({{"model", "m"}, {"prompt", {"a", "b"}}}).param == "prompt");
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"max_tokens", 101}}).param == "max_tokens");
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"max_tokens", "5"}}).param == "max_tokens");
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"temperature", 2.5}}).param == "temperature");
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"top_p", 0}}).param == "top_p");
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"n", 9}}).param == "n");
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"seed", "s"}}).param == "seed");
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"logit_bias", {{"999", 1}}}}).param == "logit_bias");
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"stop_token_ids", {256}}}).param == "stop_token_ids");
  CHECK(refusal({{"model", "m"}, {"prompt", {1, 300}}}).param == "prompt");
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"frobnicate", 1}}).param == "frobnicate");  // unknown: named
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"echo", true}}).param == "echo");
  CHECK(refusal({{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}, {"tool_choice", "required"}}, true).param ==
        "tool_choice");
  // The context: a prompt that leaves no room, or max_tokens past it, names both lengths.
  const auto long_prompt = refusal({{"model", "m"}, {"prompt", std::vector<int>(200, 65)}});
  CHECK(long_prompt.param == "prompt");
  CHECK_THAT(long_prompt.message, Catch::Contains("200 tokens") && Catch::Contains("context is 200"));
  const auto too_many = refusal({{"model", "m"}, {"prompt", std::vector<int>(150, 65)}, {"max_tokens", 60}});
  CHECK(too_many.param == "max_tokens");
  CHECK_THAT(too_many.message, Catch::Contains("150 tokens") && Catch::Contains("60"));
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"stop", {"a", "b", "c", "d", "e"}}}).param == "stop");
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"stream", "yes"}}).param == "stream");
  CHECK(refusal({{"model", "m"}, {"messages", {{{"role", "wizard"}, {"content", "x"}}}}}, true).param == "messages");
  CHECK(refusal({{"model", "m"}, {"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}}}, true).param ==
        "messages");
  CHECK(refusal(json::array()).status == 400);
}

TEST_CASE("an unknown field is ignored when the deployment says so") {
  auto l = limits();
  l.ignore_unknown_fields = true;
  const auto r = parse_completion(R"({"model":"m","prompt":"x","frobnicate":1})", false, l, bytes());
  CHECK(text_of(r.prompt_ids) == "x");
}

TEST_CASE("/tokenize and /detokenize: prompt or messages to ids and back") {
  const auto t = json::parse(tokenize_body(R"({"prompt":"hi"})", limits(), bytes()));
  CHECK(t["tokens"] == json::array({104, 105}));
  CHECK(t["count"] == 2);
  CHECK(t["max_model_len"] == 200);
  const auto m = json::parse(tokenize_body(R"({"messages":[{"role":"user","content":"x"}]})", limits(), bytes()));
  CHECK(text_of(m["tokens"].get<std::vector<int32_t>>()) == "<|user|>\nx\n<|assistant|>\n");
  CHECK(json::parse(detokenize_body(R"({"tokens":[104,105]})", limits(), bytes()))["prompt"] == "hi");
  CHECK_THROWS_AS(detokenize_body(R"({"tokens":[1000]})", limits(), bytes()), api_error);
}

TEST_CASE("stop strings cut the text at the first one, runtime errors map to HTTP statuses") {
  CHECK(text::stop_text_cut("abc##def\nghi", {"\n", "##"}) == 3);
  CHECK(text::stop_text_cut("abc", {"x"}) == std::string::npos);
  CHECK(text::stop_prefix_held("abc#", {"##"}) == 1);  // may begin "##": held back
  CHECK(text::stop_prefix_held("abc", {"##"}) == 0);
  CHECK(error_for(errc::no_capacity, "").status == 429);
  CHECK(error_for(errc::deadline_exceeded, "").status == 504);
  CHECK(error_for(errc::unreachable, "").status == 503);
  CHECK(error_for(errc::prompt_too_long, "").status == 400);
  CHECK(error_for(errc::internal, "").status == 500);
  const json e = json::parse(error_body({400, "invalid_request_error", "why", "n"}));
  CHECK(e["error"]["message"] == "why");
  CHECK(e["error"]["param"] == "n");
}

TEST_CASE("a streamed delta holds back a character its end cuts short, and nothing else") {
  const auto utf8_complete_prefix = [](std::string_view s) { return text::complete_utf8_prefix(s); };
  CHECK(utf8_complete_prefix("") == 0);
  CHECK(utf8_complete_prefix("abc") == 3);
  CHECK(utf8_complete_prefix("a\xC3") == 1);              // the first byte of a 2-byte character
  CHECK(utf8_complete_prefix("a\xC3\xA9") == 3);          // é, whole
  CHECK(utf8_complete_prefix("a\xE2\x82") == 1);          // 2 of €'s 3 bytes
  CHECK(utf8_complete_prefix("a\xE2\x82\xAC") == 4);
  CHECK(utf8_complete_prefix("a\xF0\x9F\x98") == 1);      // 3 of an emoji's 4 bytes
  CHECK(utf8_complete_prefix("a\x80") == 2);              // a stray continuation byte: nothing to wait for
  CHECK(utf8_complete_prefix("a\xFF") == 2);              // never valid: sent as it is
  CHECK(utf8_complete_prefix("\x80\x80\x80\x80") == 4);
}

TEST_CASE("a request that names no sampling gets the model's generation_config defaults") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("prfaas-gen-defaults-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "generation_config.json")
      << R"({"do_sample": true, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "eos_token_id": [10, 13]})";
  const auto t = text::load_model_text(dir.string(), 256);
  fs::remove_all(dir);
  CHECK(t.eos_ids == std::vector<int32_t>{10, 13});
  const auto r = parse_completion(R"({"model":"m","prompt":"x"})", false, limits(), t);
  CHECK(r.sampling.temperature == Approx(0.6));
  CHECK(r.sampling.top_p == Approx(0.95));
  CHECK(r.sampling.top_k == 20);
  CHECK(r.stop_token_ids == std::vector<int32_t>{10, 13});  // the model's EOS ends a sequence
  const auto own = parse_completion(R"({"model":"m","prompt":"x","temperature":0,"ignore_eos":true})", false, limits(), t);
  CHECK(own.sampling.temperature == 0);
  CHECK(own.stop_token_ids.empty());
}
