#!/usr/bin/env python3
"""Tokenizer conformance fixtures from the reference implementation, Hugging Face `tokenizers`.

For every text of the corpus below (prose, code, CJK, emoji, long whitespace runs, digits,
special tokens inside text, decomposed accents, invalid UTF-8) the Qwen3 tokenizer of
../shared/fixtures/qwen3-tokenizer/ gives the token ids and whether decode(encode(x)) == x; the
results go to tests/reference/fixtures/qwen3-tokenizer.json with the texts themselves (as
base64 bytes).  Invalid UTF-8 is given to the reference as Python's lossy decoding
(errors="replace"), which is what the engine does with such bytes.  ctest (label `reference`)
holds the engine's tokenizer to the ids.  Run by `./prfaas reference`.
"""
import base64
import json
import pathlib

from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOKENIZER = ROOT.parent / "shared/fixtures/qwen3-tokenizer/tokenizer.json"

CORPUS = [
    ("prose", "The quick brown fox jumps over the lazy dog. It's a well-known pangram; they'll say it's "
              "been used since the 1880s, and we've all typed it. DON'T PANIC!"),
    ("code", "#include <vector>\n\nint main(int argc, char** argv) {\n\tstd::vector<int> v{1, 2, 3};\n"
             "    for (auto x : v) printf(\"%d\\n\", x * 2);  // comment\n    return 0;\n}\n"
             "def f(x):\n    return {'a': [x**2 for x in range(10)]}\n"),
    ("cjk", "混合注意力模型的状态很小。日本語のテキストも処理します。한국어 문장도 있습니다。"),
    ("emoji", "Hello 👋🏽 family: 👨‍👩‍👧‍👦 flags 🇯🇵🇫🇷 ❤️ 🚀✨ end"),
    ("whitespace", "a" + " " * 1000 + "b\n\n\n\t\t  \r\n   c" + "\n" * 50 + "  " + "\t" * 30 + "d    "),
    ("digits", "1234567890 3.14159 2.71828e-10 0x1F 1,000,000 100% 42nd 007 ٣٤٥ ४५६"),
    ("special", "Hello<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n<think>\nhmm</think>ok<|endoftext|>"),
    ("nfc", "Cafe\u0301 vs Café, A\u030a vs Å, \u1e9b\u0323"),
    ("scripts", "Привет мир. Γειά σου κόσμε. مرحبا بالعالم. नमस्ते दुनिया. שלום עולם."),
    ("contractions", "I'm you're he'll she'd we've they're It'S YOU'LL 's 't"),
    ("punctuation", "...!!!???---___***### $$$ %%% &&& (((()))) [[[]]] {{{}}} <<<>>> ''' \"\"\" ``` ~~~"),
]
INVALID = [
    ("invalid-utf8", b"abc\xff\xfedef\xe2\x82 ghi \xc3\x28 \xed\xa0\x80 tail\xf0\x9f\x98"),
]


def main():
    tok = Tokenizer.from_file(str(TOKENIZER))
    cases = []
    for name, text in CORPUS:
        raw = text.encode("utf-8")
        ids = tok.encode(text).ids
        cases.append({"name": name, "bytes": base64.b64encode(raw).decode(), "ids": ids,
                      "round_trips": tok.decode(ids, skip_special_tokens=False) == text})
    for name, raw in INVALID:
        text = raw.decode("utf-8", errors="replace")
        ids = tok.encode(text).ids
        cases.append({"name": name, "bytes": base64.b64encode(raw).decode(), "ids": ids, "round_trips": False})
    out = ROOT / "tests/reference/fixtures/qwen3-tokenizer.json"
    out.write_text(json.dumps({"tokenizer": "qwen3-tokenizer/tokenizer.json", "cases": cases}) + "\n")
    print(f"qwen3 tokenizer: {len(cases)} texts, {sum(len(c['ids']) for c in cases)} ids")


if __name__ == "__main__":
    main()
