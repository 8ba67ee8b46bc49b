#pragma once
// The OpenAI-compatible HTTP API of the gateway, as pure functions: a request body in, a
// validated completion request out (or an api_error with the HTTP status and OpenAI's error
// object), and the response bodies and stream chunks in OpenAI's shapes.  No sockets, no CAF:
// actors/gateway.cpp serves these over cpp-httplib and sends the request to the router.
//
// The prompt becomes token ids here, once, in the model's own text (text/model_text.h): a
// completion's prompt (a string, one string in a list, or a list of ids) through its tokenizer;
// a chat's messages through its chat template (tools, chat_template_kwargs and
// add_generation_prompt as transformers takes them) and then its tokenizer.
//
// Honoured: model, prompt / messages, max_tokens / max_completion_tokens, logprobs (completions:
// the top N; chat: true, with top_logprobs N; not with stream yet), stream,
// stream_options.include_usage, stop (a string or up to 4), stop_token_ids, ignore_eos,
// temperature, top_p, top_k, min_p, seed, presence_penalty, frequency_penalty,
// repetition_penalty, logit_bias, n, skip_special_tokens, user, tools, tool_choice ("auto" /
// "none"), parallel_tool_calls, chat_template_kwargs, add_generation_prompt, response_format
// {"type": "text"}, echo false, suffix null, best_of 1.  Defaults: the model's
// generation_config.json, else greedy.  A field outside this list is a 400 naming it (unless
// ignore_unknown_fields); a value out of range is a 400 naming its field; a prompt that does not
// fit the context is a 400 with both lengths.

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/common/errc.h"
#include "runtime/model/sampler.h"

namespace prfaas::text { struct model_text; }

namespace prfaas::gateway {

struct api_error {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;  // the field at fault, if one
};

struct api_limits {
  std::string model;             // the one model this deployment serves
  int max_tokens_default = 16;   // when the request names none (OpenAI's completions default)
  int max_tokens_limit = 4096;
  size_t max_prompt_bytes = 1 << 20;
  int context = 1 << 20;         // the model's context: prompt and output tokens together
  int max_n = 8;                 // choices per request
  bool ignore_unknown_fields = false;
};

struct completion_request {
  bool chat = false;
  std::string model;
  std::vector<int32_t> prompt_ids;  // the prompt in the model's tokens
  int max_tokens = 16;
  bool stream = false;
  bool include_usage = false;
  std::vector<std::string> stop;       // stop strings
  std::vector<int32_t> stop_token_ids; // the request's, and (unless ignore_eos) the model's EOS ids
  model::sampling_params sampling;     // its seed only when `seeded`
  bool seeded = false;
  int n = 1;
  int logprobs = -1;                   // top alternatives per token to report (0..20); -1: none
  bool skip_special_tokens = true;
  std::string user;
};

// Throws api_error.
completion_request parse_completion(const std::string& body, bool chat, const api_limits& limits,
                                    const text::model_text& text);

// POST /tokenize (vLLM's): {"prompt": TEXT} or {"messages": [...]} (with add_generation_prompt,
// tools, chat_template_kwargs), optional "model" and "add_special_tokens"; answers {"tokens",
// "count", "max_model_len"}.  POST /detokenize: {"tokens": [ids]} answers {"prompt": TEXT}.
std::string tokenize_body(const std::string& body, const api_limits& limits, const text::model_text& text);
std::string detokenize_body(const std::string& body, const api_limits& limits, const text::model_text& text);

struct usage {
  int prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};

// One output token's log-probability, and the most likely alternatives, as text.
struct token_logprob {
  std::string token;  // the token's bytes
  float logprob = 0;
  std::vector<std::pair<std::string, float>> top;
};

// One choice of a reply: its text (stop string cut), why it ended, its tokens' log-probabilities
// (when asked for).
struct choice_text {
  std::string text;
  std::string finish_reason;  // "stop" or "length"
  std::vector<token_logprob> logprobs;
};

// A whole (non-streamed) reply: text_completion or chat.completion.  `extension`, when not
// empty, is a JSON object placed under "prfaas" (the request's timeline and seed: clients that
// do not know the field ignore it, as OpenAI's SDKs do).
std::string response_body(const completion_request& r, const std::string& id, int64_t created,
                          const std::vector<choice_text>& choices, const usage& u, const std::string& extension = "");

// One server-sent event ("data: {...}\n\n") of a streamed reply: a content delta of choice
// `index` (and, for chat, the role in its first one), its last chunk with the finish reason (and
// `extension`, as above), the usage chunk.
std::string stream_chunk(const completion_request& r, const std::string& id, int64_t created, int index,
                         const std::string& delta, bool first, const std::string& finish_reason,
                         const std::string& extension = "");
std::string usage_chunk(const completion_request& r, const std::string& id, int64_t created, const usage& u);
inline constexpr const char* kStreamEnd = "data: [DONE]\n\n";

// OpenAI's error object: {"error": {"message", "type", "param", "code"}}.
std::string error_body(const api_error& e);

// The HTTP status and error for a request the runtime ended with `code`: a full deployment is
// 429, no node or an unreachable router 503, a deadline 504, a bad request 400, else 500.
api_error error_for(errc code, const std::string& message);

// The models list of GET /v1/models, with the model's context length (max_model_len).
std::string models_body(const std::string& model, int64_t created, int context);

}  // namespace prfaas::gateway
