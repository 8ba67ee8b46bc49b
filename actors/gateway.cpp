#include "actors/gateway.hpp"

#include <caf/all.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <fstream>
#include <future>
#include <limits>
#include <algorithm>
#include <utility>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include <openssl/rand.h>

#include "actors/actor_plane.hpp"
#include "actors/client.hpp"
#include "runtime/gateway/openai.h"
#include "runtime/gateway/reply_text.h"
#include "runtime/metrics/exposition.h"
#include "runtime/security/connection_guard.h"
#include "runtime/text/model_text.h"

namespace prfaas::actors {
namespace {

// 128 random bits, hex: a response's id tells nothing of any other request.
std::string unguessable_id() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw failure(errc::internal, "RAND_bytes failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 15]);
  }
  return out;
}


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
  int now() const { return open_.load(); }

 private:
  int limit_;
  std::atomic<int> open_{0};
};

// HTTP requests served, by endpoint and status (the logger counts each once it is answered).
class http_counters {
 public:
  void count(const std::string& path, int status) {
    static const std::set<std::string> known = {"/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics",
                                                "/tokenize", "/detokenize"};
    std::lock_guard<std::mutex> lock(mutex_);
    ++counts_[{known.count(path) ? path : "other", status}];  // a bounded label set
  }
  void write(metrics::exposition& page) const {
    std::lock_guard<std::mutex> lock(mutex_);
    page.family("prfaas_gateway_http_requests_total", metrics::kind::counter,
                "HTTP requests the gateway answered, by endpoint (other: unknown paths) and status code.");
    for (const auto& [key, n] : counts_) page.sample({{"path", key.first}, {"code", std::to_string(key.second)}}, static_cast<double>(n));
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> counts_;
};

// Whether the deployment can serve: a prefill and a decode node registered with the router,
// as the router said at its last answer.  A thread asks (run() says how often), so requests that
// cannot be served get 503 at once instead of waiting out their deadline in the router's queue.
class readiness {
 public:
  readiness(caf::actor_system& sys, router_locator router_at) : sys_(sys), router_at_(std::move(router_at)) {
    poller_ = std::thread([this] { run(); });
  }
  ~readiness() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    poller_.join();
  }
  // Empty when ready, else why not.
  std::string why_not() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return why_;
  }

  // Asks the router now.  Empty when a prefill and a decode node are up.
  static std::string check(caf::actor_system& sys, const router_locator& router_at) {
    auto router = actors::connect_router(sys, router_at, 1);
    if (!router) return "the router cannot be reached: " + actors::describe(router.error());
    auto st = actors::status(sys, *router, std::chrono::seconds(3));
    if (!st) return "the router does not answer: " + actors::describe(st.error());
    int prefill = 0, decode = 0;
    for (const auto& n : st->nodes) {
      prefill += n.role == cluster::node_role::prefill;
      decode += n.role == cluster::node_role::decode;
    }
    if (prefill == 0) return "no prefill node is up";
    if (decode == 0) return "no decode node is up";
    return "";
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      lock.unlock();
      std::string why = check(sys_, router_at_);
      lock.lock();
      // Every 0.5 s while not ready, so it is soon seen ready; every 2 s once ready, so a resting
      // gateway keeps the router mostly asleep (a loss is still seen within 2 s).
      const auto period = std::chrono::milliseconds(why.empty() ? 2000 : 500);
      why_ = std::move(why);
      wake_.wait_for(lock, period, [this] { return stop_; });
    }
  }

  caf::actor_system& sys_;
  router_locator router_at_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::string why_;  // ready until the first answer says otherwise
  std::thread poller_;
};


// The connection a request came on, as the connection guard names it.
std::string peer_of(const httplib::Request& req) { return req.remote_addr + ":" + std::to_string(req.remote_port); }

// While a request is being answered its connection is the gateway's to keep quiet, not a
// stalled stranger's (the guard neither shuts it nor counts it as waiting).
class held_connection {
 public:
  held_connection(security::connection_guard& guard, std::string peer) : guard_(&guard), peer_(std::move(peer)) {
    guard_->hold(peer_);
  }
  ~held_connection() {
    if (guard_) guard_->release(peer_);
  }
  held_connection(held_connection&& o) noexcept : guard_(std::exchange(o.guard_, nullptr)), peer_(std::move(o.peer_)) {}
  held_connection(const held_connection&) = delete;
  held_connection& operator=(const held_connection&) = delete;
  held_connection& operator=(held_connection&&) = delete;
  bool hung_up() const { return guard_ && guard_->hung_up(peer_); }

 private:
  security::connection_guard* guard_;
  std::string peer_;
};

// One choice's request to the router: the prompt's ids, the sampling (choice `index` draws its
// own stream), the stop rule.
actors::generate_request request_of(const gateway::completion_request& r, int index, const std::string& client_id) {
  actors::generate_request g;
  g.prompt_ids = r.prompt_ids;
  g.max_tokens = r.max_tokens;
  g.client_id = client_id;
  g.how = actors::decoding_of(r.sampling, r.seeded);
  g.how.choice = index;
  g.how.stop_ids = r.stop_token_ids;
  g.how.stop_strings = r.stop;
  return g;
}

// The "prfaas" object of a reply: the request's timeline and the seed its sampling used.
std::string extension_of(const actors::generate_result& x) {
  auto j = nlohmann::json::parse(sched::to_json(x.timeline));
  j["seed"] = x.seed;
  return j.dump();
}

}  // namespace

int run_gateway(caf::actor_system& sys, const config::deployment_config& config, const endpoint& listen_at,
                const router_locator& router_at, const std::string& port_file, sigset_t& signals, const https_files& https) {
  const auto& g = config.gateway;
  std::set<std::string> keys;
  try {
    keys = load_keys(g.api_key_file);
  } catch (const failure& f) {
    spdlog::error("gateway: {}", f.what());
    return 1;
  }
  gateway::api_limits limits;
  limits.model = config::served_model_name(config);
  limits.max_tokens_limit = std::min(g.max_tokens, config.model.max_context - 1);
  limits.max_prompt_bytes = static_cast<size_t>(g.max_body_bytes);
  limits.context = config.model.max_context;
  limits.max_n = g.max_n;
  limits.ignore_unknown_fields = g.ignore_unknown_fields;
  // The model's text, read once: its tokenizer, chat template, EOS ids and sampling defaults.
  text::model_text text;
  try {
    text = text::load_model_text(config.engine.checkpoint() ? config.engine.model : "", config.model.vocab);
  } catch (const failure& f) {
    spdlog::error("gateway: {}", f.what());
    return 1;
  }
  open_requests open(g.max_open);
  const int64_t started = unix_now();

  if (g.tls && (https.certificate.empty() || https.key.empty())) {
    spdlog::error("gateway: [gateway] tls = true needs a certificate and key (--https-cert, --https-key)");
    return 1;
  }
  // HTTPS through the same library: the TLS handshake comes first, so a plain HTTP client is
  // refused before any request is read.
  std::unique_ptr<httplib::Server> server_ptr;
  if (g.tls) {
    auto tls = std::make_unique<httplib::SSLServer>(https.certificate.c_str(), https.key.c_str());
    if (!tls->is_valid()) {
      spdlog::error("gateway: cannot serve HTTPS with {} and {}", https.certificate, https.key);
      return 1;
    }
    actors::exempt_from_basp_door(tls->ssl_context());  // HTTP, not the actor plane's BASP
    server_ptr = std::move(tls);
  } else {
    server_ptr = std::make_unique<httplib::Server>();
  }
  httplib::Server& svr = *server_ptr;
  svr.set_payload_max_length(static_cast<size_t>(g.max_body_bytes));
  // A thread per connection being served: the requests in progress, the waiting connections one
  // address may hold (each until the guard shuts it), and room for the rest.
  svr.new_task_queue = [n = g.max_open + g.max_waiting_per_peer + 16] {
    return new httplib::ThreadPool(static_cast<size_t>(std::min(n, 1024)));
  };
  // Bounds and an idle deadline for connections not being answered, once the port is known.
  std::shared_ptr<security::connection_guard> door;
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

  http_counters served;
  svr.set_logger([&](const httplib::Request& req, const httplib::Response& res) { served.count(req.path, res.status); });
  readiness ready(sys, router_at);
  actors::door_keeper doors;  // the handlers' requests to the router go through one door, a round's together

  svr.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    const std::string why = readiness::check(sys, router_at);
    res.status = why.empty() ? 200 : 503;
    res.set_content(why.empty() ? std::string("{\"status\":\"ok\"}")
                                : nlohmann::json{{"status", "unavailable"}, {"reason", why}}.dump(),
                    "application/json");
  });
  // The router's page (requests, nodes, link, threshold, caches) and the gateway's own.
  svr.Get("/metrics", [&](const httplib::Request& req, httplib::Response& res) {
    if (!authorised(req, res)) return;
    metrics::exposition page;
    served.write(page);
    page.family("prfaas_gateway_open_requests", metrics::kind::gauge, "Completions the gateway holds in progress.");
    page.sample({}, open.now());
    std::string router_page;
    if (auto router = actors::connect_router(sys, router_at, 1))
      if (auto text = actors::router_metrics(sys, *router)) router_page = std::move(*text);
    page.family("prfaas_gateway_router_up", metrics::kind::gauge, "1 when the router answered this scrape.");
    page.sample({}, router_page.empty() ? 0 : 1);
    res.set_content(page.str() + router_page, "text/plain; version=0.0.4; charset=utf-8");
  });
  svr.Get("/v1/models", [&](const httplib::Request& req, httplib::Response& res) {
    if (!authorised(req, res)) return;
    res.set_content(gateway::models_body(limits.model, started, limits.context), "application/json");
  });

  auto complete = [&](bool chat) {
    return [&, chat](const httplib::Request& req, httplib::Response& res) {
      held_connection held(*door, peer_of(req));
      if (!authorised(req, res)) return;
      gateway::completion_request r;
      try {
        r = gateway::parse_completion(req.body, chat, limits, text);
      } catch (const api_error& e) {
        send_error(res, e);
        return;
      }
      // The poller's word, checked again before refusing: nodes may have come since.
      if (!ready.why_not().empty())
        if (const std::string why = readiness::check(sys, router_at); !why.empty())
          return send_error(res, {503, "service_unavailable_error", "the deployment cannot serve now: " + why, ""});
      if (!open.enter()) {
        send_error(res, {429, "rate_limit_error",
                         "the gateway holds its maximum of " + std::to_string(g.max_open) + " requests in progress", ""});
        return;
      }
      const std::string id = (chat ? "chatcmpl-" : "cmpl-") + unguessable_id();
      const auto budget = std::chrono::milliseconds(config.router.deadline_ms + 5000);
      const int prompt_tokens = static_cast<int>(r.prompt_ids.size());
      if (!r.stream) {
        struct leave_on_exit {
          open_requests& o;
          ~leave_on_exit() { o.leave(); }
        } leave{open};
        // The n choices run at once: each its own request, its own random stream.
        std::vector<std::future<caf::expected<actors::generate_result>>> runs;
        for (int i = 0; i < r.n; ++i)
          runs.push_back(std::async(std::launch::async, [&, i] {
            return actors::generate_retrying(sys, router_at, request_of(r, i, id + "-" + std::to_string(i)), budget,
                                             &doors);
          }));
        // A client that hangs up before its answer cancels its choices at the router.
        for (bool cancelled = false;;) {
          const bool all = std::all_of(runs.begin(), runs.end(), [](auto& f) {
            return f.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready;
          });
          if (all) break;
          if (!cancelled && held.hung_up()) {
            cancelled = true;
            spdlog::info("gateway: the client of {} hung up; cancelling its {} choice(s)", id, r.n);
            for (int i = 0; i < r.n; ++i) actors::cancel(sys, router_at, id + "-" + std::to_string(i));
          }
        }
        std::vector<actors::generate_result> results;
        std::optional<caf::error> failed;
        for (auto& f : runs) {
          auto x = f.get();
          if (x) results.push_back(std::move(*x));
          else if (!failed) failed = x.error();
        }
        if (failed) return send_error(res, api_error_of(*failed));
        std::vector<gateway::choice_text> choices;
        gateway::usage u{prompt_tokens, 0, results[0].cached_tokens};
        for (const auto& x : results) {
          choices.push_back(gateway::finished_choice(r, *text.tok, x.tokens, x.stopped, x.logprobs));
          u.completion_tokens += static_cast<int>(x.tokens.size());
        }
        res.set_header("X-Prfaas-Request-Id", std::to_string(results[0].request));
        res.set_content(gateway::response_body(r, id, unix_now(), choices, u, extension_of(results[0])), "application/json");
        return;
      }
      // Streamed: server-sent events as the decode node produces the tokens (through the
      // router), choice after choice; a client that goes away cancels the request everywhere.
      // The router is reached before the stream starts, so that an unreachable one is still a 503.
      auto router = actors::connect_router(sys, router_at, 3);
      if (!router) {
        open.leave();
        return send_error(res, api_error_of(router.error()));
      }
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider(
          "text/event-stream",
          [&sys, &text, r, id, budget, prompt_tokens, h = *router](size_t, httplib::DataSink& sink) {
            const int64_t created = unix_now();
            auto send = [&](const std::string& event) { return sink.write(event.data(), event.size()); };
            gateway::usage u{prompt_tokens, 0, 0};
            for (int index = 0; index < r.n; ++index) {
              gateway::streamed_text out(*text.tok, r);
              bool gone = !send(gateway::stream_chunk(r, id, created, index, "", true, ""));
              auto on_tokens = [&](const std::vector<int32_t>& tokens) {
                if (gone || out.stopped()) return !gone;
                std::string delta = out.push(tokens);
                if (!delta.empty() && !send(gateway::stream_chunk(r, id, created, index, delta, false, ""))) gone = true;
                return !gone;
              };
              if (gone) return false;  // the connection is gone: nothing more to write
              auto result = actors::generate_streaming(sys, h, request_of(r, index, id + "-" + std::to_string(index)),
                                                       on_tokens, budget);
              if (gone) return false;
              if (!result) {
                send("data: " + gateway::error_body(api_error_of(result.error())) + "\n\n");
                send(gateway::kStreamEnd);
                sink.done();
                return true;
              }
              const std::string rest = out.finish();
              if (!rest.empty()) send(gateway::stream_chunk(r, id, created, index, rest, false, ""));
              send(gateway::stream_chunk(r, id, created, index, "", false,
                                         out.stopped() || result->stopped ? "stop" : "length", extension_of(*result)));
              u.completion_tokens += static_cast<int>(result->tokens.size());
              if (index == 0) u.cached_tokens = result->cached_tokens;
            }
            if (r.include_usage) send(gateway::usage_chunk(r, id, created, u));
            send(gateway::kStreamEnd);
            sink.done();
            return true;
          },
          [&open, held = std::make_shared<held_connection>(std::move(held))](bool) { open.leave(); });
    };
  };
  svr.Post("/v1/completions", complete(false));
  svr.Post("/v1/chat/completions", complete(true));
  // vLLM's tokenizer endpoints: the deployment's own tokenizer and chat template.
  auto tokenizer_endpoint = [&](std::string (*answer)(const std::string&, const gateway::api_limits&, const text::model_text&)) {
    return [&, answer](const httplib::Request& req, httplib::Response& res) {
      if (!authorised(req, res)) return;
      try {
        res.set_content(answer(req.body, limits, text), "application/json");
      } catch (const api_error& e) {
        send_error(res, e);
      }
    };
  };
  svr.Post("/tokenize", tokenizer_endpoint(gateway::tokenize_body));
  svr.Post("/detokenize", tokenizer_endpoint(gateway::detokenize_body));

  int port = listen_at.port;
  if (port == 0) port = svr.bind_to_any_port(listen_at.host);
  else if (!svr.bind_to_port(listen_at.host, port)) port = -1;
  if (port <= 0) {
    spdlog::error("gateway: cannot listen on {}", listen_at.str());
    return 1;
  }
  security::guard_options guarding;
  guarding.stall_limit = std::chrono::milliseconds(g.idle_timeout_ms);
  guarding.max_pending = g.max_waiting;
  guarding.max_pending_per_peer = g.max_waiting_per_peer;
  guarding.established_after = std::numeric_limits<int>::max();  // every connection not answered waits
  door = actors::guard_port(static_cast<uint16_t>(port), {double(g.accepts_per_peer_per_s), 2.0 * g.accepts_per_peer_per_s},
                            guarding);
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }
  spdlog::info("gateway: serving {} on {}://{}:{}/v1 (router {}; {} tokenizer){}", limits.model, g.tls ? "https" : "http",
               listen_at.host, port, router_at.str(), text.own_tokenizer ? "the model's" : "byte-level",
               keys.empty() ? "" : ", API keys required");
  std::thread server([&] { svr.listen_after_bind(); });
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("gateway: signal {}: stopping", sig);
  svr.stop();
  server.join();
  return 0;
}

}  // namespace prfaas::actors
