#pragma once
// A model's chat template (tokenizer_config.json's `chat_template`, Jinja) rendered the way
// transformers' apply_chat_template renders it: jinja2 with trim_blocks and lstrip_blocks, the
// loop-control extension, `raise_exception` and a `tojson` that writes as Python's json.dumps.
//
//   auto t = text::chat_template::parse(source, "tokenizer_config.json");   // checks everything
//   std::string prompt = t.render({{"messages", messages}, {"add_generation_prompt", true}});
//
// No maintained C++ Jinja engine ships in Debian, so this is a small interpreter of the subset
// chat templates use:
//   statements   if / elif / else, for (one name or a tuple; `if` filter; else; loop.index,
//                index0, revindex, revindex0, first, last, length; break, continue),
//                set (a name, a tuple, or namespace.attribute), generation blocks, comments
//   expressions  literals (strings, numbers, true/false/none, lists, dicts), names, attributes,
//                subscripts and slices, calls, filters, tests, `x if c else y`, not / and / or,
//                comparisons, in / not in, + - * / // % ~, unary minus
//   functions    namespace(...), range(...), raise_exception(msg)
//   filters      length count tojson trim string lower upper first last join default d list
//                items reverse int float abs safe capitalize title replace
//   tests        defined undefined none string number integer float mapping iterable sequence
//                boolean true false odd even
//   methods      str: startswith endswith split rsplit strip lstrip rstrip upper lower replace
//                title capitalize; dict: get items keys values
// Anything else (a macro, an include, an unknown filter, test, function or method) is an error
// at parse() naming it and its line, never at request time.  Undefined values render as "" and
// are falsy, as jinja2's default Undefined.  Rendering is bounded: loops and output size have
// limits, so a template cannot hang a gateway.

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace prfaas::text {

class chat_template {
 public:
  using json = nlohmann::ordered_json;

  // Throws failure(bad_config) naming `origin`, the line and the construct.
  static chat_template parse(const std::string& source, const std::string& origin);
  // The house template of byte-level models: "<|ROLE|>\nCONTENT\n" per message, then
  // "<|assistant|>\n" when a generation prompt is asked for.
  static chat_template house();

  chat_template(chat_template&&) noexcept;
  chat_template& operator=(chat_template&&) noexcept;
  ~chat_template();

  // `variables`: an object (messages, tools, add_generation_prompt, bos_token, eos_token and any
  // chat_template_kwargs).  Throws failure(invalid_argument) on raise_exception or a type error
  // in the template's evaluation, with the template's message.
  std::string render(const json& variables) const;

  const std::string& source() const;

 private:
  struct program;
  explicit chat_template(std::unique_ptr<program> p);
  std::unique_ptr<program> p_;
};

// Python's json.dumps(value, ensure_ascii=False) with its default separators (", " and ": "),
// or with `indent` (>= 0) its indented form: what transformers' tojson filter writes.
std::string python_json(const nlohmann::ordered_json& value, int indent = -1);

}  // namespace prfaas::text
