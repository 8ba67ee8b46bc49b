#include "apps/bench_serve.h"

#include "actors/actor_plane.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <thread>

#include "actors/client.hpp"
#include "apps/cli_support.h"
#include "apps/launcher.h"
#include "runtime/model/tokenizer.h"

namespace prfaas::apps {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

// One request as its client saw it.
struct sample {
  bool ok = false;
  std::string text;
  std::string error;
  double ttft_ms = -1, itl_ms = -1, e2e_ms = 0;
};

double ms_since(clock_type::time_point t0, clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(t - t0).count();
}

// First and last token times and the token count make the sample's latencies.
void finish(sample& s, clock_type::time_point t0, clock_type::time_point first, clock_type::time_point last, int tokens) {
  s.e2e_ms = ms_since(t0, clock_type::now());
  if (first != clock_type::time_point{}) s.ttft_ms = ms_since(t0, first);
  if (tokens > 1) s.itl_ms = ms_since(first, last) / (tokens - 1);
}

struct phase {
  std::vector<sample> samples;
  double seconds = 0;
};

// `requests` calls of `one`, `concurrency` at a time.
phase run_phase(int concurrency, int requests, const std::function<sample(int, int)>& one) {
  phase p;
  p.samples.resize(static_cast<size_t>(requests));
  std::atomic<int> next{0};
  const auto t0 = clock_type::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < concurrency; ++w)
    workers.emplace_back([&, w] {
      for (int i; (i = next.fetch_add(1)) < requests;) p.samples[static_cast<size_t>(i)] = one(w, i);
    });
  for (auto& t : workers) t.join();
  p.seconds = ms_since(t0, clock_type::now()) / 1000;
  return p;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

json summary(const phase& p) {
  std::vector<double> ttft, itl, e2e;
  int completed = 0;
  for (const auto& s : p.samples) {
    if (!s.ok) continue;
    ++completed;
    if (s.ttft_ms >= 0) ttft.push_back(s.ttft_ms);
    if (s.itl_ms >= 0) itl.push_back(s.itl_ms);
    e2e.push_back(s.e2e_ms);
  }
  auto pcts = [](const std::vector<double>& v) {
    return json{{"p50", percentile(v, 0.5)}, {"p90", percentile(v, 0.9)}, {"p99", percentile(v, 0.99)}};
  };
  return {{"completed", completed},
          {"failed", static_cast<int>(p.samples.size()) - completed},
          {"seconds", p.seconds},
          {"req_per_s", p.seconds > 0 ? completed / p.seconds : 0},
          {"ttft_ms", pcts(ttft)},
          {"itl_ms", pcts(itl)},
          {"e2e_ms", pcts(e2e)}};
}

// A streamed completion over HTTP, read as an OpenAI client reads it.
sample http_request(httplib::Client& c, const std::string& model, const std::string& prompt, int max_tokens) {
  sample s;
  const json body = {{"model", model}, {"prompt", prompt}, {"max_tokens", max_tokens}, {"stream", true},
                     {"stream_options", {{"include_usage", true}}}};
  std::string buffer;
  clock_type::time_point first{}, last{};
  int tokens = 0;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buffer.append(data, n);
    for (size_t end; (end = buffer.find("\n\n")) != std::string::npos; buffer.erase(0, end + 2)) {
      if (buffer.rfind("data: ", 0) != 0) continue;
      const std::string event = buffer.substr(6, end - 6);
      if (event == "[DONE]") continue;
      const json j = json::parse(event, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("error")) s.error = j["error"].value("message", "error");
      if (j.contains("usage") && j["usage"].is_object()) tokens = j["usage"].value("completion_tokens", 0);
      if (!j.contains("choices")) continue;
      for (const auto& ch : j["choices"]) {
        const std::string delta = ch.value("text", "");
        if (delta.empty()) continue;
        const auto now = clock_type::now();
        if (first == clock_type::time_point{}) first = now;
        last = now;
        s.text += delta;
      }
    }
    return true;
  };
  const auto t0 = clock_type::now();
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  const bool sent = c.send(req, res, error);
  if (!sent) s.error = "HTTP: " + httplib::to_string(error);
  else if (res.status != 200) s.error = "HTTP " + std::to_string(res.status);
  s.ok = s.error.empty() && tokens > 0;
  finish(s, t0, first, last, tokens);
  return s;
}

// The same request over the actor plane, straight to the router.
sample actor_request(caf::actor_system& sys, const caf::actor& router, const std::string& prompt, int max_tokens) {
  sample s;
  clock_type::time_point first{}, last{};
  const auto t0 = clock_type::now();
  auto r = actors::generate_streaming(
      sys, router, actors::generate_request{prompt, max_tokens, 0, "", {}},
      [&](const std::vector<int32_t>&) {
        const auto now = clock_type::now();
        if (first == clock_type::time_point{}) first = now;
        last = now;
        return true;
      },
      std::chrono::minutes(2));
  if (!r) {
    s.error = actors::describe(r.error());
  } else {
    s.ok = true;
    s.text = model::decode(r->tokens);
  }
  finish(s, t0, first, last, r ? static_cast<int>(r->tokens.size()) : 0);
  return s;
}

}  // namespace

int bench_serve(const bench_serve_options& o) {
  sigset_t signals;
  block_signals(signals);
  config::deployment_config config;
  try {
    if (!o.config.empty()) config = config::load_config(o.config);
  } catch (const failure& f) {
    throw cli_error{f.what()};
  }
  if (!config.gateway.enabled) throw cli_error{"the deployment's [gateway] is disabled: nothing to measure"};
  const std::string state_dir = fs::temp_directory_path() / ("prfaas-bench-serve-" + std::to_string(::getpid()));
  launcher l(executable_dir() + "/prfaas-node", state_dir, o.config, config);
  json out;
  {
    client_system client(config, l.prepare());
    const endpoint router_at = start_and_wait(l, client.sys, config);
    const auto gw = l.gateway();
    if (!gw) throw cli_error{"the gateway did not start (see " + state_dir + "/logs)"};
    auto router = connect(client.sys, router_at);
    const std::string model = config::served_model_name(config);
    // Each path its own prompts (of the same length): the second must not find the first's in
    // the prefix caches.
    std::vector<std::string> prompts, other_prompts;
    for (int i = 0; i < o.requests; ++i) {
      prompts.push_back(demo_prompt(i, o.prompt_bytes));
      other_prompts.push_back(demo_prompt(o.requests + i, o.prompt_bytes));
    }
    std::fprintf(stderr, "bench serve: %d streaming requests per path, %d at a time, %d-byte prompts, %d tokens\n",
                 o.requests, o.concurrency, o.prompt_bytes, o.max_tokens);

    std::vector<std::unique_ptr<httplib::Client>> clients;
    for (int w = 0; w < o.concurrency; ++w) {
      // HTTPS ([gateway] tls) trusts the deployment's CA, and checks the gateway's name against it.
      const std::string scheme = config.gateway.tls ? "https://" : "http://";
      clients.push_back(std::make_unique<httplib::Client>(scheme + gw->str()));
      if (config.gateway.tls) {
        clients.back()->set_ca_cert_path((state_dir + "/pki/ca.pem").c_str());
        clients.back()->enable_server_certificate_verification(true);
        actors::exempt_from_basp_door(clients.back()->ssl_context());  // HTTP, not the actor plane's BASP
      }
      clients.back()->set_keep_alive(true);
      clients.back()->set_tcp_nodelay(true);
      clients.back()->set_read_timeout(120, 0);
    }
    const phase http = run_phase(o.concurrency, o.requests, [&](int w, int i) {
      return http_request(*clients[static_cast<size_t>(w)], model, prompts[static_cast<size_t>(i)], o.max_tokens);
    });
    const phase actor = run_phase(o.concurrency, o.requests, [&](int, int i) {
      return actor_request(client.sys, router, other_prompts[static_cast<size_t>(i)], o.max_tokens);
    });
    // Untimed: the HTTP prompts again over the actor plane; greedy output must not depend on the
    // path.  JSON carries text as UTF-8, so bytes that are not valid UTF-8 read as U+FFFD there.
    const phase check = run_phase(o.concurrency, o.requests, [&](int, int i) {
      return actor_request(client.sys, router, prompts[static_cast<size_t>(i)], o.max_tokens);
    });
    auto as_json_text = [](const std::string& bytes) {
      return json::parse(json(bytes).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
    };
    int identical = 0;
    std::string first_error;
    for (size_t i = 0; i < prompts.size(); ++i) {
      identical += http.samples[i].ok && check.samples[i].ok && http.samples[i].text == as_json_text(check.samples[i].text);
      for (const auto* s : {&http.samples[i], &actor.samples[i], &check.samples[i]})
        if (first_error.empty() && !s->ok) first_error = s->error.empty() ? "no tokens" : s->error;
    }
    out = {{"concurrency", o.concurrency}, {"requests", o.requests}, {"prompt_bytes", o.prompt_bytes},
           {"max_tokens", o.max_tokens}, {"gateway", summary(http)}, {"actor_plane", summary(actor)},
           {"identical_outputs", identical}};
    const auto& g = out["gateway"];
    const auto& a = out["actor_plane"];
    out["gateway_added_ms"] = {{"ttft_p50", g["ttft_ms"]["p50"].get<double>() - a["ttft_ms"]["p50"].get<double>()},
                               {"e2e_p50", g["e2e_ms"]["p50"].get<double>() - a["e2e_ms"]["p50"].get<double>()}};
    if (!first_error.empty()) out["first_error"] = first_error;
    l.stop();
  }
  fs::remove_all(state_dir);
  if (o.json) {
    std::cout << out.dump() << std::endl;
  } else {
    std::printf("%d streaming requests per path, %d at a time, %d-byte prompts, %d output tokens\n", o.requests,
                o.concurrency, o.prompt_bytes, o.max_tokens);
    std::printf("%-22s %6s %7s | %-23s | %-23s | %-15s\n", "path", "done", "req/s", "TTFT ms p50 / p90 / p99",
                "ITL ms p50 / p90 / p99", "e2e ms p50 / p90");
    for (const auto& [key, name] : {std::pair<const char*, const char*>{"gateway", "gateway (HTTP, SSE)"},
                                    {"actor_plane", "actor plane (CLI path)"}}) {
      const auto& s = out[key];
      std::printf("%-22s %6d %7.2f | %7.1f %7.1f %7.1f | %7.2f %7.2f %7.2f | %7.1f %7.1f\n", name, s["completed"].get<int>(),
                  s["req_per_s"].get<double>(), s["ttft_ms"]["p50"].get<double>(), s["ttft_ms"]["p90"].get<double>(),
                  s["ttft_ms"]["p99"].get<double>(), s["itl_ms"]["p50"].get<double>(), s["itl_ms"]["p90"].get<double>(),
                  s["itl_ms"]["p99"].get<double>(), s["e2e_ms"]["p50"].get<double>(), s["e2e_ms"]["p90"].get<double>());
    }
    std::printf("gateway's added latency (HTTP minus actor plane, medians): TTFT %+.2f ms, end to end %+.2f ms\n",
                out["gateway_added_ms"]["ttft_p50"].get<double>(), out["gateway_added_ms"]["e2e_p50"].get<double>());
    std::printf("same text on both paths: %d of %d\n", out["identical_outputs"].get<int>(), o.requests);
    if (out.contains("first_error")) std::printf("first error: %s\n", out["first_error"].get<std::string>().c_str());
  }
  return out["gateway"]["failed"].get<int>() + out["actor_plane"]["failed"].get<int>() == 0 ? 0 : 1;
}

}  // namespace prfaas::apps
