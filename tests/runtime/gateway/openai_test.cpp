// The OpenAI API's rules, without a server: what a body becomes, what is refused and why.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "runtime/gateway/openai.h"

using namespace prfaas;
using namespace prfaas::gateway;
using json = nlohmann::json;

namespace {

api_limits limits() {
  api_limits l;
  l.model = "m";
  l.max_tokens_limit = 100;
  l.max_prompt_bytes = 64;
  return l;
}

api_error refusal(const json& body, bool chat = false) {
  try {
    parse_completion(body.dump(), chat, limits());
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
                                  false, limits());
  CHECK(r.prompt == "hi");
  CHECK(r.max_tokens == 16);  // OpenAI's default for completions
  CHECK(r.stream);
  CHECK(r.include_usage);
  CHECK(r.stop == std::vector<std::string>{"\n", "##"});
  CHECK(r.user == "u");
}

TEST_CASE("chat messages go through the documented template, text content parts are joined") {
  const auto r = parse_completion(
      R"({"model":"m","messages":[{"role":"system","content":"S"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"max_completion_tokens":3})",
      true, limits());
  CHECK(r.prompt == "<|system|>\nS\n<|user|>\nab\n<|assistant|>\n");
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
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"temperature", 1}}).param == "temperature");
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"top_p", 0.5}}).param == "top_p");
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"n", 3}}).param == "n");
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"stop", {"a", "b", "c", "d", "e"}}}).param == "stop");
  CHECK(refusal({{"model", "m"}, {"prompt", "x"}, {"stream", "yes"}}).param == "stream");
  CHECK(refusal({{"model", "m"}, {"messages", {{{"role", "wizard"}, {"content", "x"}}}}}, true).param == "messages");
  CHECK(refusal({{"model", "m"}, {"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}}}, true).param ==
        "messages");
  CHECK(refusal(json::array()).status == 400);
}

TEST_CASE("stop sequences cut the text at the first one, runtime errors map to HTTP statuses") {
  std::string t = "abc##def\nghi";
  CHECK(apply_stop(t, {"\n", "##"}) == "stop");
  CHECK(t == "abc");
  std::string u = "abc";
  CHECK(apply_stop(u, {"x"}) == "length");
  CHECK(u == "abc");
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
  using prfaas::gateway::utf8_complete_prefix;
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
