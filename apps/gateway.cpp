#include "apps/gateway.h"

#include <caf/all.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "actors/client.hpp"
#include "runtime/gateway/openai.h"
#include "runtime/model/tokenizer.h"

namespace prfaas::apps {
namespace {

using gateway::api_error;

std::set<std::string> load_keys(const std::string& path) {
  std::set<std::string> keys;
  if (path.empty()) return keys;
  std::ifstream in(path);
  if (!in) throw failure(errc::bad_config, "cannot read the gateway's API key file '" + path + "'");
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty() && line[0] != '#') keys.insert(line);
  }
  if (keys.empty()) throw failure(errc::bad_config, "the gateway's API key file '" + path + "' holds no key");
  return keys;
}

void send_error(httplib::Response& res, const api_error& e) {
  res.status = e.status;
  res.set_content(gateway::error_body(e), "application/json");
}

// The API error for a request the client plane ended: the runtime's own code, else unreachable.
api_error api_error_of(const caf::error& err) {
  const errc code = err.category() == caf::atom("prfaas") ? static_cast<errc>(err.code()) : errc::unreachable;
  return gateway::error_for(code, actors::describe(err));
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Counts requests in progress; refuses past the limit.
class open_requests {
 public:
  explicit open_requests(int limit) : limit_(limit) {}
  bool enter() {
    if (open_.fetch_add(1) < limit_) return true;
    open_.fetch_sub(1);
    return false;
  }
  void leave() { open_.fetch_sub(1); }

 private:
  int limit_;
  std::atomic<int> open_{0};
};

}  // namespace

int run_gateway(caf::actor_system& sys, const config::deployment_config& config, const endpoint& listen_at,
                const endpoint& router_at, const std::string& port_file, sigset_t& signals) {
  const auto& g = config.gateway;
  std::set<std::string> keys;
  try {
    keys = load_keys(g.api_key_file);
  } catch (const failure& f) {
    spdlog::error("gateway: {}", f.what());
    return 1;
  }
  gateway::api_limits limits;
  limits.model = g.model_name(config.engine.kind);
  limits.max_tokens_limit = std::min(g.max_tokens, config.model.max_context - 1);
  limits.max_prompt_bytes = static_cast<size_t>(g.max_body_bytes);
  open_requests open(g.max_open);
  std::atomic<uint64_t> next_id{std::random_device{}()};
  const int64_t started = unix_now();

  httplib::Server svr;
  svr.set_payload_max_length(static_cast<size_t>(g.max_body_bytes));
  svr.new_task_queue = [n = g.max_open + 8] { return new httplib::ThreadPool(static_cast<size_t>(std::min(n, 256))); };
  // Errors the server makes itself (413, 404 on an unknown path) in OpenAI's shape too.
  svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) send_error(res, {413, "invalid_request_error", "the request body is larger than the limit", ""});
    else if (res.status == 404) send_error(res, {404, "invalid_request_error", "no such endpoint: " + req.path, ""});
    else send_error(res, {res.status, "invalid_request_error", "HTTP error", ""});
  });
  auto authorised = [&](const httplib::Request& req, httplib::Response& res) {
    if (keys.empty()) return true;
    const auto h = req.get_header_value("Authorization");
    if (h.rfind("Bearer ", 0) == 0 && keys.count(h.substr(7))) return true;
    send_error(res, {401, "invalid_request_error", "a valid API key is required (Authorization: Bearer KEY)", ""});
    return false;
  };

  svr.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    auto router = actors::connect_router(sys, router_at, 1);
    std::string why;
    if (!router) {
      why = "the router cannot be reached: " + actors::describe(router.error());
    } else if (auto st = actors::status(sys, *router, std::chrono::seconds(3)); !st) {
      why = "the router does not answer: " + actors::describe(st.error());
    } else {
      int prefill = 0, decode = 0;
      for (const auto& n : st->nodes) {
        prefill += n.role == "prefill";
        decode += n.role == "decode";
      }
      if (prefill == 0) why = "no prefill node is up";
      else if (decode == 0) why = "no decode node is up";
    }
    res.status = why.empty() ? 200 : 503;
    res.set_content(why.empty() ? std::string("{\"status\":\"ok\"}")
                                : nlohmann::json{{"status", "unavailable"}, {"reason", why}}.dump(),
                    "application/json");
  });
  svr.Get("/v1/models", [&](const httplib::Request& req, httplib::Response& res) {
    if (!authorised(req, res)) return;
    res.set_content(gateway::models_body(limits.model, started), "application/json");
  });

  auto complete = [&](bool chat) {
    return [&, chat](const httplib::Request& req, httplib::Response& res) {
      if (!authorised(req, res)) return;
      gateway::completion_request r;
      try {
        r = gateway::parse_completion(req.body, chat, limits);
      } catch (const api_error& e) {
        send_error(res, e);
        return;
      }
      if (!open.enter()) {
        send_error(res, {429, "rate_limit_error",
                         "the gateway holds its maximum of " + std::to_string(g.max_open) + " requests in progress", ""});
        return;
      }
      const std::string id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id.fetch_add(1));
      const auto budget = std::chrono::milliseconds(config.router.deadline_ms + 5000);
      if (!r.stream) {
        struct leave_on_exit {
          open_requests& o;
          ~leave_on_exit() { o.leave(); }
        } leave{open};
        auto result = actors::generate_retrying(sys, router_at, actors::generate_request{r.prompt, r.max_tokens, 0, id, {}},
                                                budget);
        if (!result) return send_error(res, api_error_of(result.error()));
        std::string text = model::decode(result->tokens);
        const std::string finish = gateway::apply_stop(text, r.stop);
        const gateway::usage u{static_cast<int>(r.prompt.size()), static_cast<int>(result->tokens.size()),
                               result->cached_tokens};
        res.set_content(gateway::response_body(r, id, unix_now(), text, finish, u), "application/json");
        return;
      }
      // Streamed: server-sent events as the decode node produces the tokens (through the
      // router); a client that goes away cancels the request everywhere.  The router is
      // reached before the stream starts, so that an unreachable one is still a 503.
      auto router = actors::connect_router(sys, router_at, 3);
      if (!router) {
        open.leave();
        return send_error(res, api_error_of(router.error()));
      }
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider(
          "text/event-stream",
          [&sys, r, id, budget, h = *router](size_t, httplib::DataSink& sink) {
            const int64_t created = unix_now();
            std::string text;       // what the client has been sent
            std::string finish;     // set once a stop sequence ended the output
            auto send = [&](const std::string& event) { return sink.write(event.data(), event.size()); };
            bool gone = !send(gateway::stream_chunk(r, id, created, "", true, ""));
            auto on_tokens = [&](const std::vector<int32_t>& tokens) {
              if (gone || !finish.empty()) return !gone;
              std::string fresh = text + model::decode(tokens);
              if (gateway::apply_stop(fresh, r.stop) == "stop") finish = "stop";
              const std::string delta = fresh.substr(std::min(fresh.size(), text.size()));
              text = fresh;
              if (!delta.empty() && !send(gateway::stream_chunk(r, id, created, delta, false, ""))) gone = true;
              return !gone;
            };
            if (gone) return false;  // the connection is gone: nothing more to write
            auto result = actors::generate_streaming(sys, h, actors::generate_request{r.prompt, r.max_tokens, 0, "", {}},
                                                     on_tokens, budget);
            if (gone) return false;
            if (!result) {
              send("data: " + gateway::error_body(api_error_of(result.error())) + "\n\n");
            } else {
              send(gateway::stream_chunk(r, id, created, "", false, finish.empty() ? "length" : finish));
              if (r.include_usage)
                send(gateway::usage_chunk(r, id, created,
                                          {static_cast<int>(r.prompt.size()), static_cast<int>(result->tokens.size()),
                                           result->cached_tokens}));
            }
            send(gateway::kStreamEnd);
            sink.done();
            return true;
          },
          [&open](bool) { open.leave(); });
    };
  };
  svr.Post("/v1/completions", complete(false));
  svr.Post("/v1/chat/completions", complete(true));

  int port = listen_at.port;
  if (port == 0) port = svr.bind_to_any_port(listen_at.host);
  else if (!svr.bind_to_port(listen_at.host, port)) port = -1;
  if (port <= 0) {
    spdlog::error("gateway: cannot listen on {}", listen_at.str());
    return 1;
  }
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }
  spdlog::info("gateway: serving {} on http://{}:{}/v1 (router {}){}", limits.model, listen_at.host, port,
               router_at.str(), keys.empty() ? "" : ", API keys required");
  std::thread server([&] { svr.listen_after_bind(); });
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("gateway: signal {}: stopping", sig);
  svr.stop();
  server.join();
  return 0;
}

}  // namespace prfaas::apps
