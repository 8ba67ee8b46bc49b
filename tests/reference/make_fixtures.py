#!/usr/bin/env python3
"""Reference fixtures from the published implementation: Hugging Face transformers on PyTorch.

For each case below, `prfaas model init` writes a random-weight checkpoint in the published
layout; transformers loads that very folder (any missing, unexpected or mis-shaped tensor, or any
warning while loading, fails this script: the check of the layout) and computes, in float32:

  - the last-position logits of a 64-token prompt,
  - 32 greedy tokens and each step's top-5 log-probabilities, each step a full forward pass over
    the sequence so far (the model's definition of the next token's distribution).  generate()
    with its cache is run beside it and its largest log-probability difference recorded
    (`cached_generate_max_diff`): with a conv kernel of 2, transformers 5.24's cached path
    departs from its own uncached forward by about 0.02 in log-probability from the first step,
    so the uncached forward is the reference.

The results go to tests/reference/fixtures/NAME.json with the config, seed, dtype and the
checkpoint's content hash; ctest (label `reference`) regenerates the checkpoint, checks the hash
and holds the engine to the numbers, so CI needs no PyTorch.  Run it whenever an architecture
changes:  ./prfaas reference
"""
import json
import logging
import os
import pathlib
import subprocess
import sys
import tempfile
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
CASES = [
    # name, config, seed, dtype
    ("qwen3-next-tester", "configs/models/qwen3-next-tester.json", 7, "f32"),
    ("qwen3-next-8layer", "configs/models/qwen3-next-8layer.json", 11, "bf16"),
    ("qwen3.5-tiny", "configs/models/qwen3.5-tiny.json", 13, "bf16"),
]
PROMPT_TOKENS, GREEDY_TOKENS, TOP = 64, 32, 5


class Captured(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


def prompt_ids(vocab, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (PROMPT_TOKENS,), generator=g).tolist()


def run_case(cli, name, config, seed, dtype, out_dir):
    with tempfile.TemporaryDirectory() as tmp:
        ck = pathlib.Path(tmp) / name
        made = subprocess.run([cli, "model", "init", "--config", str(ROOT / config), "--out", str(ck),
                               "--seed", str(seed), "--dtype", dtype], check=True, capture_output=True, text=True)
        content_hash = made.stdout.split("content hash ")[1].split()[0]
        handler = Captured()
        logging.getLogger("transformers").addHandler(handler)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model, info = AutoModelForCausalLM.from_pretrained(ck, dtype=torch.float32, output_loading_info=True)
        logging.getLogger("transformers").removeHandler(handler)
        problems = {k: v for k, v in info.items() if v}
        if problems:
            sys.exit(f"{name}: transformers did not load the checkpoint cleanly: {problems}")
        noise = [str(w.message) for w in caught] + handler.records
        if noise:
            sys.exit(f"{name}: transformers warned while loading: {noise}")
        model.eval()
        cfg = json.loads((ck / "config.json").read_text())
        vocab = cfg.get("vocab_size") or cfg["text_config"]["vocab_size"]
        ids = prompt_ids(vocab, seed)
        x = torch.tensor([ids])
        with torch.no_grad():
            logits = model(x).logits[0, -1].float()
            seq, tokens, steps, step_lps = list(ids), [], [], []
            for _ in range(GREEDY_TOKENS):
                lp = torch.log_softmax(model(torch.tensor([seq])).logits[0, -1].double(), dim=-1)
                top = torch.topk(lp, TOP)
                steps.append({"top_ids": top.indices.tolist(), "top_logprobs": top.values.tolist()})
                step_lps.append(lp)
                tokens.append(int(top.indices[0]))
                seq.append(tokens[-1])
            gen = model.generate(x, max_new_tokens=GREEDY_TOKENS, do_sample=False, output_logits=True,
                                 return_dict_in_generate=True, pad_token_id=0, eos_token_id=None)
        cached_diff = max(float((torch.log_softmax(g[0].double(), dim=-1) - lp).abs().max())
                          for g, lp in zip(gen.logits, step_lps))
    fixture = {
        "name": name, "config": config, "seed": seed, "dtype": dtype, "content_hash": content_hash,
        "transformers": transformers.__version__, "torch": torch.__version__,
        "prompt_ids": ids, "last_logits": logits.tolist(), "greedy_tokens": tokens, "steps": steps,
        "cached_generate_max_diff": cached_diff,
    }
    (out_dir / f"{name}.json").write_text(json.dumps(fixture) + "\n")
    print(f"{name}: {len(ids)}-token prompt, {len(tokens)} greedy tokens, hash {content_hash}, "
          f"cached generate() differs by {cached_diff:.3g}")


def main():
    cli = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "build/apps/prfaas")
    out_dir = ROOT / "tests/reference/fixtures"
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for case in CASES:
        run_case(cli, *case, out_dir)


if __name__ == "__main__":
    main()
