#!/usr/bin/env python3
"""The official OpenAI Python client, unchanged, against a prfaas gateway.

    openai_client.py BASE_URL MODEL

Chat and completions, streamed and not, with temperature, top_p, seed, stop, n = 2 and
logprobs; the error cases' responses.  Asserts what a client relies on (shapes, determinism
of a seed, streamed text equal to the whole reply, usage) and prints one JSON line per call,
then "ok".  Exit status 0 when every check held.
"""
import json
import sys

import openai

base_url, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=120)
calls = []


def show(name, **fields):
    calls.append(name)
    print(json.dumps({"call": name, **fields}, ensure_ascii=False))


messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name three colours."}]
sampling = dict(temperature=0.8, top_p=0.9, seed=11, max_tokens=12)

# Models: the served one, with its context length.
listed = [m.id for m in client.models.list().data]
assert model in listed, listed
show("models.list", models=listed)

# Chat, not streamed: n = 2 choices with log-probabilities, a stop string.
chat = client.chat.completions.create(model=model, messages=messages, n=2, stop=["\n\n"], logprobs=True, top_logprobs=2,
                                      **sampling)
assert len(chat.choices) == 2 and {c.index for c in chat.choices} == {0, 1}
for c in chat.choices:
    assert c.finish_reason in ("stop", "length"), c.finish_reason
    assert c.message.role == "assistant"
    assert "\n\n" not in c.message.content
    assert c.logprobs is not None and len(c.logprobs.content) >= 1
    assert all(e.logprob <= 0 and len(e.top_logprobs) == 2 for e in c.logprobs.content)
assert chat.usage.prompt_tokens > 0 and chat.usage.completion_tokens >= 2
assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens
show("chat", n=2, texts=[c.message.content for c in chat.choices], finish=[c.finish_reason for c in chat.choices],
     usage=chat.usage.model_dump())

# The same seed again, without logprobs: the same text (the draw depends on the seed alone).
again = client.chat.completions.create(model=model, messages=messages, n=2, stop=["\n\n"], **sampling)
assert [c.message.content for c in again.choices] == [c.message.content for c in chat.choices]
show("chat, same seed", same=True)

# Chat, streamed (n = 2, usage at the end): the deltas join to the non-streamed text.
pieces, finish = {0: "", 1: ""}, {}
usage = None
for chunk in client.chat.completions.create(model=model, messages=messages, n=2, stop=["\n\n"], stream=True,
                                            stream_options={"include_usage": True}, **sampling):
    if chunk.usage is not None:
        usage = chunk.usage
    for c in chunk.choices:
        pieces[c.index] += c.delta.content or ""
        if c.finish_reason:
            finish[c.index] = c.finish_reason
assert [pieces[0], pieces[1]] == [c.message.content for c in chat.choices], (pieces, [c.message.content for c in chat.choices])
assert usage is not None and usage.completion_tokens == chat.usage.completion_tokens
show("chat, streamed", texts=[pieces[0], pieces[1]], finish=finish, usage=usage.model_dump())

# Another seed draws other text.
other = client.chat.completions.create(model=model, messages=messages, **{**sampling, "seed": 12})
show("chat, other seed", text=other.choices[0].message.content, differs=other.choices[0].message.content != chat.choices[0].message.content)

# Completions, not streamed: log-probabilities of the top 3, n = 2.
prompt = "The three primary colours are"
comp = client.completions.create(model=model, prompt=prompt, n=2, logprobs=3, stop=["."], **sampling)
assert len(comp.choices) == 2
for c in comp.choices:
    assert c.logprobs is not None and len(c.logprobs.tokens) == len(c.logprobs.token_logprobs) >= 1
    assert "." not in c.text
show("completions", texts=[c.text for c in comp.choices], finish=[c.finish_reason for c in comp.choices],
     usage=comp.usage.model_dump())

# Completions, streamed: the same text as the whole reply.
streamed = ""
for chunk in client.completions.create(model=model, prompt=prompt, stop=["."], stream=True, **sampling):
    for c in chunk.choices:
        streamed += c.text
assert streamed == comp.choices[0].text, (streamed, comp.choices[0].text)
show("completions, streamed", text=streamed)

# Errors: each a 4xx with OpenAI's error object naming the field.
errors = {}
for name, call in [
    ("unknown field", lambda: client.completions.create(model=model, prompt="x", max_tokens=2, extra_body={"frobnicate": 1})),
    ("temperature out of range", lambda: client.completions.create(model=model, prompt="x", max_tokens=2, temperature=5)),
    ("unknown model", lambda: client.completions.create(model="gpt-4", prompt="x", max_tokens=2)),
    ("too long for the context", lambda: client.completions.create(model=model, prompt="word " * 9000, max_tokens=2)),
    ("logprobs out of range", lambda: client.completions.create(model=model, prompt="x", max_tokens=2, logprobs=50)),
]:
    try:
        call()
        raise AssertionError(name + ": accepted")
    except openai.APIStatusError as e:
        assert 400 <= e.status_code < 500, (name, e.status_code)
        errors[name] = {"status": e.status_code, "param": e.body.get("param") if isinstance(e.body, dict) else None,
                        "message": e.message}
show("errors", errors=errors)
print("ok")
