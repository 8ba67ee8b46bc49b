#include "runtime/gateway/openai.h"

#include <nlohmann/json.hpp>

namespace prfaas::gateway {
namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& message, const std::string& param = "") {
  throw api_error{400, "invalid_request_error", message, param};
}

json usage_json(const usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

const char* object_of(const completion_request& r, bool chunk) {
  if (r.chat) return chunk ? "chat.completion.chunk" : "chat.completion";
  return "text_completion";
}

}  // namespace

std::string chat_prompt(const std::string& messages_json_array) {
  const json messages = json::parse(messages_json_array, nullptr, false);
  if (!messages.is_array() || messages.empty()) bad("'messages' must be a non-empty array", "messages");
  std::string prompt;
  for (const auto& m : messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      bad("each message needs a string 'role'", "messages");
    const std::string role = m["role"];
    if (role != "system" && role != "user" && role != "assistant" && role != "developer" && role != "tool")
      bad("unknown message role '" + role + "'", "messages");
    std::string content;
    const auto c = m.value("content", json());
    if (c.is_string()) {
      content = c.get<std::string>();
    } else if (c.is_array()) {  // content parts: only text ones
      for (const auto& part : c) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
          bad("only text content parts are supported", "messages");
        content += part["text"].get<std::string>();
      }
    } else if (!c.is_null()) {
      bad("message content must be a string or an array of text parts", "messages");
    }
    prompt += "<|" + role + "|>\n" + content + "\n";
  }
  return prompt + "<|assistant|>\n";
}

completion_request parse_completion(const std::string& body, bool chat, const api_limits& limits) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) bad("the body is not valid JSON");
  if (!j.is_object()) bad("the body must be a JSON object");
  completion_request r;
  r.chat = chat;
  if (!j.contains("model") || !j["model"].is_string()) bad("'model' is required and must be a string", "model");
  r.model = j["model"];
  if (r.model != limits.model)
    throw api_error{404, "invalid_request_error", "the model '" + r.model + "' does not exist; this deployment serves '" +
                                                      limits.model + "'", "model"};
  if (chat) {
    if (!j.contains("messages")) bad("'messages' is required", "messages");
    r.prompt = chat_prompt(j["messages"].dump());
  } else {
    if (!j.contains("prompt")) bad("'prompt' is required", "prompt");
    const auto& p = j["prompt"];
    if (p.is_string()) r.prompt = p.get<std::string>();
    else if (p.is_array() && p.size() == 1 && p[0].is_string()) r.prompt = p[0].get<std::string>();
    else bad("'prompt' must be a string (one prompt per request)", "prompt");
  }
  if (r.prompt.empty()) bad("the prompt is empty", chat ? "messages" : "prompt");
  if (r.prompt.size() > limits.max_prompt_bytes)
    bad("the prompt has " + std::to_string(r.prompt.size()) + " bytes, more than the limit of " +
            std::to_string(limits.max_prompt_bytes), chat ? "messages" : "prompt");
  r.max_tokens = limits.max_tokens_default;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    if (!j[key].is_number_integer()) bad(std::string("'") + key + "' must be an integer", key);
    const auto v = j[key].get<int64_t>();
    if (v < 1 || v > limits.max_tokens_limit)
      bad(std::string("'") + key + "' must be 1.." + std::to_string(limits.max_tokens_limit), key);
    r.max_tokens = static_cast<int>(v);
  }
  if (j.contains("stream") && !j["stream"].is_null()) {
    if (!j["stream"].is_boolean()) bad("'stream' must be true or false", "stream");
    r.stream = j["stream"];
  }
  if (j.contains("stream_options") && j["stream_options"].is_object())
    r.include_usage = j["stream_options"].value("include_usage", false);
  if (j.contains("stop") && !j["stop"].is_null()) {
    const auto& s = j["stop"];
    if (s.is_string()) r.stop.push_back(s);
    else if (s.is_array() && s.size() <= 4) {
      for (const auto& x : s) {
        if (!x.is_string() || x.get<std::string>().empty()) bad("'stop' must hold non-empty strings", "stop");
        r.stop.push_back(x);
      }
    } else {
      bad("'stop' must be a string or an array of up to 4 strings", "stop");
    }
  }
  if (j.contains("temperature") && !j["temperature"].is_null()) {
    if (!j["temperature"].is_number()) bad("'temperature' must be a number", "temperature");
    if (j["temperature"].get<double>() != 0)
      bad("only greedy decoding is supported: 'temperature' must be 0 (or absent)", "temperature");
  }
  if (j.contains("top_p") && !j["top_p"].is_null() && (!j["top_p"].is_number() || j["top_p"].get<double>() != 1))
    bad("only greedy decoding is supported: 'top_p' must be 1 (or absent)", "top_p");
  if (j.contains("n") && !j["n"].is_null() && (!j["n"].is_number_integer() || j["n"].get<int64_t>() != 1))
    bad("'n' must be 1: one choice per request", "n");
  if (j.contains("user") && j["user"].is_string()) r.user = j["user"];
  return r;
}

size_t utf8_complete_prefix(const std::string& text) {
  const size_t n = text.size();
  // The last lead byte within 3 bytes of the end, with only continuation bytes after it.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(text[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return back < need ? n - back : n;
  }
  return n;
}

std::string apply_stop(std::string& text, const std::vector<std::string>& stop) {
  size_t cut = std::string::npos;
  for (const auto& s : stop) cut = std::min(cut, text.find(s));
  if (cut == std::string::npos) return "length";
  text.resize(cut);
  return "stop";
}

std::string response_body(const completion_request& r, const std::string& id, int64_t created, const std::string& text,
                          const std::string& finish_reason, const usage& u, const std::string& extension) {
  json choice = {{"index", 0}, {"finish_reason", finish_reason}, {"logprobs", nullptr}};
  if (r.chat) choice["message"] = {{"role", "assistant"}, {"content", text}};
  else choice["text"] = text;
  json j = {{"id", id}, {"object", object_of(r, false)}, {"created", created}, {"model", r.model},
             {"choices", json::array({choice})}, {"usage", usage_json(u)}};
  if (!extension.empty()) j["prfaas"] = json::parse(extension);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string stream_chunk(const completion_request& r, const std::string& id, int64_t created, const std::string& delta,
                         bool first, const std::string& finish_reason, const std::string& extension) {
  json choice = {{"index", 0}, {"logprobs", nullptr},
                 {"finish_reason", finish_reason.empty() ? json(nullptr) : json(finish_reason)}};
  if (r.chat) {
    json d = json::object();
    if (first) d["role"] = "assistant";
    if (!delta.empty() || finish_reason.empty()) d["content"] = delta;
    choice["delta"] = d;
  } else {
    choice["text"] = delta;
  }
  json j = {{"id", id}, {"object", object_of(r, true)}, {"created", created}, {"model", r.model},
             {"choices", json::array({choice})}};
  if (!extension.empty()) j["prfaas"] = json::parse(extension);
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

std::string usage_chunk(const completion_request& r, const std::string& id, int64_t created, const usage& u) {
  const json j = {{"id", id}, {"object", object_of(r, true)}, {"created", created}, {"model", r.model},
                  {"choices", json::array()}, {"usage", usage_json(u)}};
  return "data: " + j.dump() + "\n\n";
}

std::string error_body(const api_error& e) {
  const json j = {{"error", {{"message", e.message}, {"type", e.type},
                             {"param", e.param.empty() ? json(nullptr) : json(e.param)}, {"code", nullptr}}}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

api_error error_for(errc code, const std::string& message) {
  switch (code) {
    case errc::no_capacity: return {429, "rate_limit_error", message, ""};
    case errc::deadline_exceeded: return {504, "timeout_error", message, ""};
    case errc::unreachable:
    case errc::node_lost:
    case errc::transport_failed: return {503, "service_unavailable_error", message, ""};
    case errc::invalid_argument:
    case errc::prompt_too_long: return {400, "invalid_request_error", message, ""};
    default: return {500, "server_error", message, ""};
  }
}

std::string models_body(const std::string& model, int64_t created) {
  const json j = {{"object", "list"},
                  {"data", json::array({{{"id", model}, {"object", "model"}, {"created", created}, {"owned_by", "prfaas"}}})}};
  return j.dump();
}

}  // namespace prfaas::gateway
