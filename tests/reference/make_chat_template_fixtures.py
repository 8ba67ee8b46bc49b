#!/usr/bin/env python3
"""Chat-template conformance fixtures from the reference implementation, transformers.

Every conversation below is rendered by transformers' apply_chat_template with the Qwen3
tokenizer files of ../shared/fixtures/qwen3-tokenizer/ (its chat_template, jinja2): the text and
the token ids go to tests/reference/fixtures/qwen3-chat-template.json with the conversation and
its options.  ctest (label `reference`) renders each with the runtime's own template interpreter
and tokenizer and holds them to both.  Run by `./prfaas reference`.
"""
import json
import pathlib

from transformers import AutoTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOKENIZER_DIR = ROOT.parent / "shared/fixtures/qwen3-tokenizer"

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city, now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "Its name"},
                                                     "unit": {"type": "string", "enum": ["c", "f"]}},
                   "required": ["city"]}}}
CLOCK = {"type": "function", "function": {"name": "time_now", "description": "UTC time.",
                                          "parameters": {"type": "object", "properties": {}}}}

CONVERSATIONS = [
    ("one user turn", [{"role": "user", "content": "Hello!"}], {}),
    ("system and user", [{"role": "system", "content": "You are terse."},
                         {"role": "user", "content": "Name a prime."}], {}),
    ("multi-turn", [{"role": "system", "content": "Be kind."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello! How can I help?"},
                    {"role": "user", "content": "Tell me a joke.\nA short one."}], {}),
    ("assistant with thinking", [{"role": "user", "content": "2+2?"},
                                 {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
                                 {"role": "user", "content": "and 3+3?"}], {}),
    ("last assistant turn thinks", [{"role": "user", "content": "2+2?"},
                                    {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"}],
     {"add_generation_prompt": False}),
    ("reasoning_content field", [{"role": "user", "content": "Why?"},
                                 {"role": "assistant", "content": "Because.", "reasoning_content": "\nit is so\n"}],
     {"add_generation_prompt": False}),
    ("assistant prefill", [{"role": "user", "content": "Write a haiku."},
                           {"role": "assistant", "content": "Autumn moonlight"}],
     {"add_generation_prompt": False}),
    ("no generation prompt", [{"role": "user", "content": "Just render me."}], {"add_generation_prompt": False}),
    ("thinking off", [{"role": "user", "content": "Quick answer: capital of France?"}], {"enable_thinking": False}),
    ("thinking on", [{"role": "user", "content": "Think."}], {"enable_thinking": True}),
    ("tools offered", [{"role": "system", "content": "Use tools."},
                       {"role": "user", "content": "Weather in Paris?"}], {"tools": [WEATHER, CLOCK]}),
    ("tools without system", [{"role": "user", "content": "What time is it?"}], {"tools": [CLOCK]}),
    ("tool calls and responses", [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\", \"unit\": \"c\"}"}}]},
        {"role": "tool", "content": "{\"temp\": 18}"},
        {"role": "tool", "content": "{\"temp\": 9}"},
        {"role": "assistant", "content": "Paris 18, Oslo 9."},
        {"role": "user", "content": "Thanks"}], {"tools": [WEATHER]}),
    ("tool call without content", [
        {"role": "user", "content": "Time?"},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "time_now", "arguments": {}}}]},
        {"role": "tool", "content": "12:00"}], {"tools": [CLOCK]}),
    ("multi-step tools", [
        {"role": "user", "content": "Plan my day."},
        {"role": "assistant", "content": "<think>\nneed time\n</think>\n\n", "tool_calls": [
            {"type": "function", "function": {"name": "time_now", "arguments": {}}}]},
        {"role": "tool", "content": "08:00"},
        {"role": "assistant", "content": "<think>\nmorning\n</think>\n\nIt is 8am: start with breakfast."}],
     {"tools": [CLOCK], "add_generation_prompt": False}),
    ("system later in the conversation", [{"role": "user", "content": "a"},
                                          {"role": "system", "content": "switch to French"},
                                          {"role": "user", "content": "b"}], {}),
    ("unicode and markup", [{"role": "user", "content": "混合注意力 👋🏽 <b>bold</b> {{ not a tag }} {% nor this %} \\n"}], {}),
    ("special tokens in content", [{"role": "user", "content": "say <|im_end|> and <|endoftext|> please"}], {}),
    ("empty content", [{"role": "user", "content": ""}], {}),
    ("whitespace content", [{"role": "system", "content": "  \n  "},
                            {"role": "user", "content": "\n\nfar down\n\n"}], {}),
]


def main():
    tok = AutoTokenizer.from_pretrained(str(TOKENIZER_DIR))
    cases = []
    for name, messages, options in CONVERSATIONS:
        kwargs = {"add_generation_prompt": True, **options}
        text = tok.apply_chat_template(messages, tokenize=False, **kwargs)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        direct = tok.apply_chat_template(messages, tokenize=True, **kwargs)
        if hasattr(direct, "keys"):
            direct = direct["input_ids"]
        assert list(direct) == list(ids), name
        cases.append({"name": name, "messages": messages, "options": kwargs, "text": text, "ids": list(ids)})
    out = ROOT / "tests/reference/fixtures/qwen3-chat-template.json"
    out.write_text(json.dumps({"tokenizer": "qwen3-tokenizer", "cases": cases}, ensure_ascii=False, indent=1) + "\n")
    print(f"qwen3 chat template: {len(cases)} conversations, {sum(len(c['ids']) for c in cases)} ids")


if __name__ == "__main__":
    main()
