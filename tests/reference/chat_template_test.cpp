// The model's chat template rendered by the runtime's interpreter (runtime/text/chat_template)
// against transformers' apply_chat_template (fixtures from
// tests/reference/make_chat_template_fixtures.py): the same text and the same token ids for
// every conversation of the set (system, multi-turn, thinking, assistant prefill, tools, tool
// calls and responses).  Needs the Qwen3 tokenizer files at ../shared/fixtures/qwen3-tokenizer/.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/common/errc.h"
#include "runtime/text/chat_template.h"
#include "runtime/text/model_text.h"

using namespace prfaas;
namespace fs = std::filesystem;

namespace {

const fs::path kTokenizerDir = fs::path(PRFAAS_SOURCE_DIR) / "../shared/fixtures/qwen3-tokenizer";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("Qwen3's chat template: text and token ids identical to transformers on every conversation of the set") {
  const auto mt = text::load_model_text(kTokenizerDir.string(), 151936);
  REQUIRE(mt.own_tokenizer);
  CHECK(mt.eos_token == "<|im_end|>");
  const auto f = nlohmann::ordered_json::parse(read_file(fs::path(PRFAAS_SOURCE_DIR) / "tests/reference/fixtures/qwen3-chat-template.json"));
  int checked = 0;
  for (const auto& c : f["cases"]) {
    INFO(c["name"].get<std::string>());
    nlohmann::ordered_json vars = c["options"];
    vars["messages"] = c["messages"];
    vars["bos_token"] = mt.bos_token;
    vars["eos_token"] = mt.eos_token;
    const std::string text = mt.chat->render(vars);
    CHECK(text == c["text"].get<std::string>());
    CHECK(mt.tok->encode(text) == c["ids"].get<std::vector<int32_t>>());
    ++checked;
  }
  CHECK(checked >= 20);
}

TEST_CASE("A chat template with a construct outside the subset is refused at load, naming it and its line") {
  auto refused = [](const std::string& source, const std::string& says) {
    try {
      text::chat_template::parse(source, "tokenizer_config.json");
      FAIL("accepted: " << source);
    } catch (const failure& f) {
      CHECK(f.code() == errc::bad_config);
      CHECK_THAT(f.what(), Catch::Contains(says));
    }
  };
  refused("{% macro m() %}x{% endmacro %}", "the statement 'macro' is not supported");
  refused("hello\n{{ x | frobnicate }}", "line 2: the filter 'frobnicate' is not supported");
  refused("{% if x is prime %}{% endif %}", "the test 'prime' is not supported");
  refused("{{ lipsum() }}", "the function 'lipsum' is not supported");
  refused("{{ s.zfill(3) }}", "the method 'zfill' is not supported");
  refused("{% if x %}never closed", "'if' is not closed by 'endif'");
  refused("{% for x in y %}", "'for' is not closed by 'endfor'");
  refused("{{ 'open", "not closed");
  refused("{% endif %}", "'endif' without its opening statement");
  refused("{% include 'other.j2' %}", "the statement 'include' is not supported");
}

TEST_CASE("A chat template evaluates like jinja2: scoping, namespaces, slices, loops, tests, whitespace control") {
  auto render = [](const std::string& src, const nlohmann::ordered_json& vars = nlohmann::ordered_json::object()) {
    return text::chat_template::parse(src, "t").render(vars);
  };
  // A set inside a loop does not leak out; a namespace does.
  CHECK(render("{% set x = 1 %}{% for i in [1, 2] %}{% set x = i %}{% endfor %}{{ x }}") == "1");
  CHECK(render("{% set ns = namespace(x=1) %}{% for i in [1, 2] %}{% set ns.x = i %}{% endfor %}{{ ns.x }}") == "2");
  CHECK(render("{{ [1, 2, 3][::-1] }}|{{ 'abcdef'[1:4] }}|{{ 'abc'[-1] }}") == "[3, 2, 1]|bcd|c");
  CHECK(render("{% for x in [5, 6, 7] %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }} {% endfor %}") ==
        "0TrueFalse 1FalseFalse 2FalseTrue ");
  CHECK(render("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}{{ loop.length }}{% endfor %}") == "2242");
  CHECK(render("{% for x in [1, 2, 3] %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}") == "1");
  CHECK(render("{% for x in [] %}a{% else %}empty{% endfor %}") == "empty");
  CHECK(render("{{ y is defined }} {{ none is none }} {{ 'a' is string }} {{ {} is mapping }}") == "False True True True");
  CHECK(render("{{ 'a,b,,c'.split(',') }} {{ '  x  '.strip() }}! {{ 'xxhixx'.lstrip('x') }}") == "['a', 'b', '', 'c'] x! hixx");
  CHECK(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 1 + 2 * 3 }} {{ 'a' ~ 1 }} {{ 1 if false else 2 }}") == "3 -4 1 7 a1 2");
  CHECK(render("{{ {'b': 1, 'a': [1, 'x', none, true]} | tojson }}") == "{\"b\": 1, \"a\": [1, \"x\", null, true]}");
  CHECK(render("{{ {'a': {'b': 2}} | tojson(indent=2) }}") == "{\n  \"a\": {\n    \"b\": 2\n  }\n}");
  CHECK(render("{{ d.get('k', 'dflt') }} {{ d.k | default('dd') }} {{ missing.attr }}.", {{"d", nlohmann::ordered_json::object()}}) ==
        "dflt dd .");
  // trim_blocks and lstrip_blocks, as transformers renders: block lines leave no blank lines.
  CHECK(render("a\n  {% if true %}\n  b\n  {% endif %}\nc") == "a\n  b\nc");
  CHECK(render("x  {%- if true -%}  y  {%- endif -%}  z") == "xyz");
  CHECK(render("{# a comment #}\nz") == "z");
  try {
    render("{{ raise_exception('roles must alternate') }}");
    FAIL("raise_exception did not raise");
  } catch (const failure& f) {
    CHECK(f.code() == errc::invalid_argument);
    CHECK_THAT(f.what(), Catch::Contains("roles must alternate"));
  }
  CHECK_THROWS_AS(render("{% for i in range(100000000) %}{% endfor %}"), failure);  // bounded
}

TEST_CASE("The house template of byte-level models: a line per message, then the assistant's turn") {
  const auto t = text::chat_template::house();
  nlohmann::ordered_json vars = {{"messages", {{{"role", "system"}, {"content", "S"}}, {{"role", "user"}, {"content", "U"}}}},
                                 {"add_generation_prompt", true}};
  CHECK(t.render(vars) == "<|system|>\nS\n<|user|>\nU\n<|assistant|>\n");
  vars["add_generation_prompt"] = false;
  CHECK(t.render(vars) == "<|system|>\nS\n<|user|>\nU\n");
}
