#pragma once
// The OpenAI-compatible HTTP API of the gateway, as pure functions: a request body in, a
// validated completion request out (or an api_error with the HTTP status and OpenAI's error
// object), and the response bodies and stream chunks in OpenAI's shapes.  No sockets, no CAF:
// apps/gateway.cpp serves these over cpp-httplib and sends the request to the router.
//
// Honoured: model, prompt (a string) or messages, max_tokens / max_completion_tokens, stream,
// stream_options.include_usage, stop (a string or up to 4), temperature (0 only: decoding is
// greedy; absent means 0), top_p (1 only), n (1 only), user.  Anything else in the body is
// ignored, as OpenAI's server ignores fields it does not know; a known field with a value the
// runtime cannot honour is a 400 that names it.
//
// Chat template (byte-level model, so it is plain text): each message becomes
// "<|ROLE|>\nCONTENT\n", then "<|assistant|>\n" asks for the reply.

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/common/errc.h"

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
};

struct completion_request {
  bool chat = false;
  std::string model;
  std::string prompt;            // the byte-level prompt (chat: after the template)
  int max_tokens = 16;
  bool stream = false;
  bool include_usage = false;
  std::vector<std::string> stop;
  std::string user;
};

// Throws api_error.
completion_request parse_completion(const std::string& body, bool chat, const api_limits& limits);

// The chat template above.  Throws api_error on a malformed message.
std::string chat_prompt(const std::string& messages_json_array);

struct usage {
  int prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};

// The length of `text` without a UTF-8 sequence its end cuts short (at most 3 bytes held back,
// only when they could begin a valid character): a streamed delta never splits a character, so
// the deltas joined read as the whole text does.
size_t utf8_complete_prefix(const std::string& text);

// Cuts `text` at the first stop sequence; returns "stop" when it did, else "length".
std::string apply_stop(std::string& text, const std::vector<std::string>& stop);

// A whole (non-streamed) reply: text_completion or chat.completion.  `extension`, when not
// empty, is a JSON object placed under "prfaas" (the request's timeline: clients that do not
// know the field ignore it, as OpenAI's SDKs do).
std::string response_body(const completion_request& r, const std::string& id, int64_t created, const std::string& text,
                          const std::string& finish_reason, const usage& u, const std::string& extension = "");

// One server-sent event ("data: {...}\n\n") of a streamed reply: a content delta (and, for
// chat, the role in the first one), the last chunk with its finish reason (and `extension`, as
// above), the usage chunk.
std::string stream_chunk(const completion_request& r, const std::string& id, int64_t created, const std::string& delta,
                         bool first, const std::string& finish_reason, const std::string& extension = "");
std::string usage_chunk(const completion_request& r, const std::string& id, int64_t created, const usage& u);
inline constexpr const char* kStreamEnd = "data: [DONE]\n\n";

// OpenAI's error object: {"error": {"message", "type", "param", "code"}}.
std::string error_body(const api_error& e);

// The HTTP status and error for a request the runtime ended with `code`: a full deployment is
// 429, no node or an unreachable router 503, a deadline 504, a bad request 400, else 500.
api_error error_for(errc code, const std::string& message);

// The models list of GET /v1/models.
std::string models_body(const std::string& model, int64_t created);

}  // namespace prfaas::gateway
