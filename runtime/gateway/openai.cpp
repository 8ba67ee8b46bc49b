#include "runtime/gateway/openai.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "runtime/text/model_text.h"

namespace prfaas::gateway {
namespace {

using json = nlohmann::ordered_json;  // key order kept: a tool's schema renders as the client wrote it

[[noreturn]] void bad(const std::string& message, const std::string& param = "") {
  throw api_error{400, "invalid_request_error", message, param};
}

json usage_json(const usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

json utf8_bytes(const std::string& s) {
  json out = json::array();
  for (unsigned char c : s) out.push_back(c);
  return out;
}

// A choice's log-probabilities in its endpoint's shape: chat's "content" list of entries with
// their bytes, or completions' parallel lists with text offsets.
json logprobs_json(const completion_request& r, const choice_text& c) {
  if (r.chat) {
    json content = json::array();
    for (const auto& t : c.logprobs) {
      json top = json::array();
      for (const auto& [text, lp] : t.top) top.push_back({{"token", text}, {"logprob", lp}, {"bytes", utf8_bytes(text)}});
      content.push_back({{"token", t.token}, {"logprob", t.logprob}, {"bytes", utf8_bytes(t.token)}, {"top_logprobs", top}});
    }
    return {{"content", content}};
  }
  json tokens = json::array(), values = json::array(), tops = json::array(), offsets = json::array();
  size_t offset = 0;
  for (const auto& t : c.logprobs) {
    tokens.push_back(t.token);
    values.push_back(t.logprob);
    json top = json::object();
    for (const auto& [text, lp] : t.top) top[text] = lp;
    tops.push_back(top);
    offsets.push_back(offset);
    offset += t.token.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", values}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

const char* object_of(const completion_request& r, bool chunk) {
  if (r.chat) return chunk ? "chat.completion.chunk" : "chat.completion";
  return "text_completion";
}

// The messages as a chat template reads them: roles checked, content a string (text parts
// joined by newlines, null empty), the fields templates use kept.
json template_messages(const json& messages) {
  if (!messages.is_array() || messages.empty()) bad("'messages' must be a non-empty array", "messages");
  if (messages.size() > 4096) bad("at most 4096 messages", "messages");
  json out = json::array();
  for (const auto& m : messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      bad("each message needs a string 'role'", "messages");
    const std::string role = m["role"];
    if (role != "system" && role != "user" && role != "assistant" && role != "developer" && role != "tool")
      bad("unknown message role '" + role + "'", "messages");
    json msg = json::object();
    msg["role"] = role;
    std::string content;
    const auto c = m.value("content", json());
    if (c.is_string()) {
      content = c.get<std::string>();
    } else if (c.is_array()) {
      bool first = true;
      for (const auto& part : c) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
          bad("only text content parts are supported", "messages");
        content += (first ? "" : "\n") + part["text"].get<std::string>();
        first = false;
      }
    } else if (!c.is_null()) {
      bad("message content must be a string or an array of text parts", "messages");
    }
    msg["content"] = content;
    for (const char* key : {"name", "tool_call_id", "reasoning_content"})
      if (m.contains(key) && !m[key].is_null()) {
        if (!m[key].is_string()) bad(std::string("a message's '") + key + "' must be a string", "messages");
        msg[key] = m[key];
      }
    if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
      if (!m["tool_calls"].is_array()) bad("a message's 'tool_calls' must be an array", "messages");
      msg["tool_calls"] = m["tool_calls"];
    }
    out.push_back(std::move(msg));
  }
  return out;
}

// The variables a chat template renders with (transformers' names).
json template_variables(const json& j, const text::model_text& t) {
  json vars = json::object();
  vars["messages"] = template_messages(j["messages"]);
  vars["add_generation_prompt"] = true;
  if (j.contains("add_generation_prompt") && !j["add_generation_prompt"].is_null()) {
    if (!j["add_generation_prompt"].is_boolean()) bad("'add_generation_prompt' must be true or false", "add_generation_prompt");
    vars["add_generation_prompt"] = j["add_generation_prompt"];
  }
  if (j.contains("tools") && !j["tools"].is_null()) {
    if (!j["tools"].is_array() || j["tools"].size() > 128) bad("'tools' must be an array of at most 128 tools", "tools");
    vars["tools"] = j["tools"];
  }
  vars["bos_token"] = t.bos_token;
  vars["eos_token"] = t.eos_token;
  if (j.contains("chat_template_kwargs") && !j["chat_template_kwargs"].is_null()) {
    if (!j["chat_template_kwargs"].is_object()) bad("'chat_template_kwargs' must be an object", "chat_template_kwargs");
    for (const auto& [k, v] : j["chat_template_kwargs"].items())
      if (k != "messages") vars[k] = v;
  }
  return vars;
}

std::vector<int32_t> chat_ids(const json& j, const text::model_text& t) {
  std::string prompt;
  try {
    prompt = t.chat->render(template_variables(j, t));
  } catch (const failure& f) {
    bad(std::string("the chat template refused the messages: ") + f.what(), "messages");
  }
  return t.tok->encode(prompt, true);
}

// A completion's prompt: a string, one string in a list, or a list of token ids.
std::vector<int32_t> prompt_ids(const json& p, const api_limits& limits, const text::model_text& t) {
  const json* text = nullptr;
  if (p.is_string()) text = &p;
  else if (p.is_array() && p.size() == 1 && p[0].is_string()) text = &p[0];
  if (text) {
    if (text->get_ref<const std::string&>().size() > limits.max_prompt_bytes)
      bad("the prompt has " + std::to_string(text->get_ref<const std::string&>().size()) + " bytes, more than the limit of " +
              std::to_string(limits.max_prompt_bytes), "prompt");
    return t.tok->encode(text->get_ref<const std::string&>(), true);
  }
  if (p.is_array() && !p.empty() && std::all_of(p.begin(), p.end(), [](const json& x) { return x.is_number_integer(); })) {
    std::vector<int32_t> ids;
    for (const auto& x : p) {
      const auto id = x.get<int64_t>();
      if (id < 0 || id >= t.tok->vocab_size())
        bad("prompt token " + std::to_string(id) + " is outside the vocabulary (0.." + std::to_string(t.tok->vocab_size() - 1) + ")",
            "prompt");
      ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
  }
  bad("'prompt' must be a string or a list of token ids (one prompt per request)", "prompt");
}

// A number field within [lo, hi]; absent or null leaves `out` as it is.
void number_field(const json& j, const char* key, double lo, double hi, float& out) {
  if (!j.contains(key) || j[key].is_null()) return;
  if (!j[key].is_number()) bad(std::string("'") + key + "' must be a number", key);
  const double v = j[key].get<double>();
  if (!(v >= lo && v <= hi))
    bad(std::string("'") + key + "' must be in [" + json(lo).dump() + ", " + json(hi).dump() + "]", key);
  out = static_cast<float>(v);
}

bool bool_field(const json& j, const char* key, bool dflt) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  if (!j[key].is_boolean()) bad(std::string("'") + key + "' must be true or false", key);
  return j[key].get<bool>();
}

const std::set<std::string>& known_fields(bool chat) {
  static const std::set<std::string> common = {
      "model", "max_tokens", "max_completion_tokens", "stream", "stream_options", "stop", "stop_token_ids", "ignore_eos",
      "temperature", "top_p", "top_k", "min_p", "seed", "presence_penalty", "frequency_penalty", "repetition_penalty",
      "logit_bias", "n", "user", "skip_special_tokens", "logprobs"};
  static const std::set<std::string> completions = [] {
    auto s = common;
    s.insert({"prompt", "echo", "suffix", "best_of"});
    return s;
  }();
  static const std::set<std::string> chat_fields = [] {
    auto s = common;
    s.insert({"messages", "tools", "tool_choice", "parallel_tool_calls", "chat_template_kwargs",
              "add_generation_prompt", "response_format", "top_logprobs"});
    return s;
  }();
  return chat ? chat_fields : completions;
}

}  // namespace

completion_request parse_completion(const std::string& body, bool chat, const api_limits& limits,
                                    const text::model_text& t) {
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
  if (!limits.ignore_unknown_fields)
    for (const auto& [key, v] : j.items())
      if (!known_fields(chat).count(key))
        bad("the field '" + key + "' is not supported by this server (" + (chat ? "chat" : "completions") +
                " requests; [gateway] ignore_unknown_fields = true ignores such fields)", key);
  // Fields known but only in the form the runtime serves.
  if (bool_field(j, "echo", false)) bad("'echo' is not supported", "echo");
  if (j.contains("suffix") && !j["suffix"].is_null()) bad("'suffix' is not supported", "suffix");
  if (j.contains("best_of") && !j["best_of"].is_null() && j["best_of"] != 1) bad("'best_of' must be 1", "best_of");
  if (j.contains("response_format") && !j["response_format"].is_null() &&
      (!j["response_format"].is_object() || j["response_format"].value("type", "") != "text"))
    bad("only 'response_format' {\"type\": \"text\"} is supported", "response_format");
  if (j.contains("tool_choice") && !j["tool_choice"].is_null() && j["tool_choice"] != "auto" && j["tool_choice"] != "none")
    bad("'tool_choice' must be \"auto\" or \"none\" (the model's template offers the tools; no output is forced)", "tool_choice");
  if (j.contains("parallel_tool_calls")) bool_field(j, "parallel_tool_calls", true);

  if (chat) {
    if (!j.contains("messages")) bad("'messages' is required", "messages");
    if (j["messages"].dump().size() > limits.max_prompt_bytes + 65536)
      bad("the messages are larger than the limit of " + std::to_string(limits.max_prompt_bytes) + " bytes", "messages");
    r.prompt_ids = chat_ids(j, t);
  } else {
    if (!j.contains("prompt")) bad("'prompt' is required", "prompt");
    r.prompt_ids = prompt_ids(j["prompt"], limits, t);
  }
  const char* prompt_field = chat ? "messages" : "prompt";
  if (r.prompt_ids.empty()) bad("the prompt is empty", prompt_field);
  const int prompt_tokens = static_cast<int>(r.prompt_ids.size());
  if (prompt_tokens >= limits.context)
    bad("the prompt has " + std::to_string(prompt_tokens) + " tokens; the model's context is " +
            std::to_string(limits.context) + " tokens, and at least one must be left for the output", prompt_field);

  r.max_tokens = std::min(limits.max_tokens_default, limits.context - prompt_tokens);
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    if (!j[key].is_number_integer()) bad(std::string("'") + key + "' must be an integer", key);
    const auto v = j[key].get<int64_t>();
    if (v < 1 || v > limits.max_tokens_limit)
      bad(std::string("'") + key + "' must be 1.." + std::to_string(limits.max_tokens_limit), key);
    if (prompt_tokens + v > limits.context)
      bad("the prompt has " + std::to_string(prompt_tokens) + " tokens and " + key + " asks for " + std::to_string(v) +
              ": together more than the model's context of " + std::to_string(limits.context) + " tokens", key);
    r.max_tokens = static_cast<int>(v);
  }
  r.stream = bool_field(j, "stream", false);
  if (j.contains("stream_options") && !j["stream_options"].is_null()) {
    if (!j["stream_options"].is_object()) bad("'stream_options' must be an object", "stream_options");
    r.include_usage = bool_field(j["stream_options"], "include_usage", false);
  }
  if (j.contains("stop") && !j["stop"].is_null()) {
    const auto& s = j["stop"];
    if (s.is_string() && !s.get<std::string>().empty() && s.get<std::string>().size() <= 256) {
      r.stop.push_back(s);
    } else if (s.is_array() && s.size() <= 4) {
      for (const auto& x : s) {
        if (!x.is_string() || x.get<std::string>().empty() || x.get<std::string>().size() > 256)
          bad("'stop' must hold strings of 1..256 bytes", "stop");
        r.stop.push_back(x);
      }
    } else {
      bad("'stop' must be a string or an array of up to 4 strings of 1..256 bytes", "stop");
    }
  }
  const int vocab = t.tok->vocab_size();
  if (j.contains("stop_token_ids") && !j["stop_token_ids"].is_null()) {
    const auto& s = j["stop_token_ids"];
    if (!s.is_array() || s.size() > 32) bad("'stop_token_ids' must be an array of at most 32 ids", "stop_token_ids");
    for (const auto& x : s) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() >= vocab)
        bad("'stop_token_ids' must hold ids in [0, " + std::to_string(vocab) + ")", "stop_token_ids");
      r.stop_token_ids.push_back(x.get<int32_t>());
    }
  }
  if (!bool_field(j, "ignore_eos", false))
    r.stop_token_ids.insert(r.stop_token_ids.end(), t.eos_ids.begin(), t.eos_ids.end());
  r.skip_special_tokens = bool_field(j, "skip_special_tokens", true);

  // Sampling: the model's defaults, then the request's fields.
  auto& p = r.sampling;
  const auto& d = t.defaults;
  p.temperature = d.temperature.value_or(0.0f);
  p.top_p = d.top_p.value_or(1.0f);
  p.top_k = d.top_k.value_or(0);
  p.min_p = d.min_p.value_or(0.0f);
  p.repetition_penalty = d.repetition_penalty.value_or(1.0f);
  number_field(j, "temperature", 0, 2, p.temperature);
  number_field(j, "top_p", 0, 1, p.top_p);
  if (j.contains("top_p") && !j["top_p"].is_null() && p.top_p <= 0) bad("'top_p' must be in (0, 1]", "top_p");
  number_field(j, "min_p", 0, 1, p.min_p);
  number_field(j, "presence_penalty", -2, 2, p.presence_penalty);
  number_field(j, "frequency_penalty", -2, 2, p.frequency_penalty);
  number_field(j, "repetition_penalty", 0, 10, p.repetition_penalty);
  if (j.contains("repetition_penalty") && !j["repetition_penalty"].is_null() && p.repetition_penalty <= 0)
    bad("'repetition_penalty' must be in (0, 10]", "repetition_penalty");
  if (j.contains("top_k") && !j["top_k"].is_null()) {
    if (!j["top_k"].is_number_integer()) bad("'top_k' must be an integer", "top_k");
    const auto k = j["top_k"].get<int64_t>();
    if (k < -1 || k > vocab) bad("'top_k' must be -1 or 0 (all) or at most the vocabulary, " + std::to_string(vocab), "top_k");
    p.top_k = k < 0 ? 0 : static_cast<int>(k);
  }
  if (j.contains("seed") && !j["seed"].is_null()) {
    if (!j["seed"].is_number_integer()) bad("'seed' must be an integer", "seed");
    p.seed = static_cast<uint64_t>(j["seed"].get<int64_t>());
    r.seeded = true;
  }
  if (j.contains("logit_bias") && !j["logit_bias"].is_null()) {
    const auto& b = j["logit_bias"];
    if (!b.is_object() || b.size() > 300) bad("'logit_bias' must be an object of at most 300 token ids", "logit_bias");
    for (const auto& [key, v] : b.items()) {
      char* end = nullptr;
      const long id = std::strtol(key.c_str(), &end, 10);
      if (key.empty() || *end || id < 0 || id >= vocab)
        bad("'logit_bias' keys must be token ids in [0, " + std::to_string(vocab) + "), not '" + key + "'", "logit_bias");
      if (!v.is_number() || std::abs(v.get<double>()) > 100) bad("'logit_bias' values must be in [-100, 100]", "logit_bias");
      p.logit_bias.emplace_back(static_cast<int32_t>(id), v.get<float>());
    }
  }
  if (j.contains("n") && !j["n"].is_null()) {
    if (!j["n"].is_number_integer() || j["n"].get<int64_t>() < 1 || j["n"].get<int64_t>() > limits.max_n)
      bad("'n' must be 1.." + std::to_string(limits.max_n), "n");
    r.n = j["n"].get<int>();
  }
  if (j.contains("user") && !j["user"].is_null()) {
    if (!j["user"].is_string()) bad("'user' must be a string", "user");
    r.user = j["user"];
  }
  // Log-probabilities: completions name the top N in `logprobs`; chat says `logprobs: true`
  // and the top N in `top_logprobs`.
  auto top_count = [&](const char* key) {
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < 0 || j[key].get<int64_t>() > 20)
      bad(std::string("'") + key + "' must be an integer in [0, 20]", key);
    return j[key].get<int>();
  };
  if (chat) {
    if (bool_field(j, "logprobs", false)) r.logprobs = 0;
    if (j.contains("top_logprobs") && !j["top_logprobs"].is_null()) {
      if (r.logprobs < 0) bad("'top_logprobs' needs 'logprobs': true", "top_logprobs");
      r.logprobs = top_count("top_logprobs");
    }
  } else if (j.contains("logprobs") && !j["logprobs"].is_null()) {
    r.logprobs = top_count("logprobs");
  }
  r.sampling.logprobs = r.logprobs;
  if (r.logprobs >= 0 && r.stream) bad("'logprobs' with 'stream' is not supported yet: ask without streaming", "logprobs");
  return r;
}

std::string tokenize_body(const std::string& body, const api_limits& limits, const text::model_text& t) {
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object()) bad("the body must be a JSON object");
  if (j.contains("model") && j["model"] != limits.model)
    throw api_error{404, "invalid_request_error", "this deployment serves '" + limits.model + "'", "model"};
  std::vector<int32_t> ids;
  if (j.contains("messages")) {
    ids = chat_ids(j, t);
  } else if (j.contains("prompt") && j["prompt"].is_string()) {
    if (j["prompt"].get_ref<const std::string&>().size() > limits.max_prompt_bytes)
      bad("the prompt is larger than the limit of " + std::to_string(limits.max_prompt_bytes) + " bytes", "prompt");
    ids = t.tok->encode(j["prompt"].get<std::string>(), true);
  } else {
    bad("'prompt' (a string) or 'messages' is required", "prompt");
  }
  return json{{"tokens", ids}, {"count", ids.size()}, {"max_model_len", limits.context}}.dump();
}

std::string detokenize_body(const std::string& body, const api_limits& limits, const text::model_text& t) {
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("tokens") || !j["tokens"].is_array())
    bad("'tokens' (an array of ids) is required", "tokens");
  if (j.contains("model") && j["model"] != limits.model)
    throw api_error{404, "invalid_request_error", "this deployment serves '" + limits.model + "'", "model"};
  if (j["tokens"].size() > static_cast<size_t>(limits.context)) bad("more tokens than the model's context", "tokens");
  std::vector<int32_t> ids;
  for (const auto& x : j["tokens"]) {
    if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() >= t.tok->vocab_size())
      bad("'tokens' must hold ids in [0, " + std::to_string(t.tok->vocab_size()) + ")", "tokens");
    ids.push_back(x.get<int32_t>());
  }
  return json{{"prompt", t.tok->decode(ids)}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string response_body(const completion_request& r, const std::string& id, int64_t created,
                          const std::vector<choice_text>& choices, const usage& u, const std::string& extension) {
  json list = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    json choice = {{"index", i}, {"finish_reason", choices[i].finish_reason}, {"logprobs", nullptr}};
    if (r.logprobs >= 0) choice["logprobs"] = logprobs_json(r, choices[i]);
    if (r.chat) choice["message"] = {{"role", "assistant"}, {"content", choices[i].text}};
    else choice["text"] = choices[i].text;
    list.push_back(std::move(choice));
  }
  json j = {{"id", id}, {"object", object_of(r, false)}, {"created", created}, {"model", r.model},
             {"choices", list}, {"usage", usage_json(u)}};
  if (!extension.empty()) j["prfaas"] = json::parse(extension);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string stream_chunk(const completion_request& r, const std::string& id, int64_t created, int index,
                         const std::string& delta, bool first, const std::string& finish_reason, const std::string& extension) {
  json choice = {{"index", index}, {"logprobs", nullptr},
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

std::string models_body(const std::string& model, int64_t created, int context) {
  const json j = {{"object", "list"},
                  {"data", json::array({{{"id", model}, {"object", "model"}, {"created", created}, {"owned_by", "prfaas"},
                                         {"root", model}, {"max_model_len", context}}})}};
  return j.dump();
}

}  // namespace prfaas::gateway
