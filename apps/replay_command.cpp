#include "apps/replay_command.h"

#include <caf/all.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "actors/client.hpp"
#include "runtime/faults/outcome_check.h"
#include "runtime/sim/trace_prompt.h"
#include "runtime/sim/workload.h"

namespace prfaas::apps {
namespace {

using json = nlohmann::json;

struct path_totals {
  long requests = 0;
  double ttft_ms = 0;
  long prompt_tokens = 0, cached_tokens = 0;
  // KV bytes sent to decode nodes, and what whole sequences would have been (the decode nodes
  // held the rest: a conversation's earlier turns).
  long kv_bytes = 0, kv_sequence_bytes = 0;
};

}  // namespace

int replay_command(caf::actor_system& sys, const control::router_locator& router_at, const replay_options& o) {
  const auto trace = sim::load_trace(o.trace, static_cast<size_t>(std::max<long>(1, o.requests)));
  std::vector<std::string> prompts(trace.size());
  std::vector<int> outputs(trace.size());
  for (size_t i = 0; i < trace.size(); ++i) {
    outputs[i] = std::clamp((trace[i].output_tokens + o.scale_tokens - 1) / o.scale_tokens, 1, o.max_tokens);
    prompts[i] = sim::trace_prompt(trace[i], o.scale_tokens);
    const size_t room = static_cast<size_t>(std::max(1, o.context - outputs[i]));
    if (prompts[i].size() > room) prompts[i].resize(room);  // cut to the model's context
  }
  std::vector<actors::generate_result> results(trace.size());
  std::vector<std::string> errors(trace.size());
  std::vector<double> seconds(trace.size());
  std::atomic<size_t> next{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < std::max(1, o.concurrency); ++c)
    clients.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < trace.size();) {
        const auto sent = std::chrono::steady_clock::now();
        actors::generate_request req{prompts[i], outputs[i], o.deadline_ms, {}};
        req.how = o.sampling.decoding(static_cast<long long>(i));
        req.how.logprobs = o.logprobs;
        auto r = actors::generate_retrying(sys, router_at, std::move(req),
                                           std::chrono::milliseconds(o.deadline_ms + 2000));
        seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
        if (r) results[i] = std::move(*r);
        else errors[i] = actors::describe(r.error());
      }
    });
  for (auto& t : clients) t.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (!o.outcomes.empty()) {
    std::ofstream out(o.outcomes);
    for (size_t i = 0; i < trace.size(); ++i) {
      faults::request_outcome oc;
      oc.id = std::to_string(i);
      oc.completed = errors[i].empty();
      oc.tokens = results[i].tokens;
      oc.logprobs = results[i].logprobs;
      oc.error = errors[i];
      oc.seconds = seconds[i];
      oc.deadline_s = o.deadline_ms / 1000.0;
      out << faults::to_json(oc).dump() << "\n";
    }
    if (!out) std::cerr << "prfaas replay: cannot write " << o.outcomes << "\n";
  }

  std::map<std::string, path_totals> paths;
  path_totals all;
  long failed = 0;
  for (size_t i = 0; i < trace.size(); ++i) {
    if (!errors[i].empty()) {
      if (failed++ < 5) std::cerr << "prfaas replay: request " << i << ": " << errors[i] << "\n";
      continue;
    }
    const auto& r = results[i];
    for (auto* t : {&paths[r.path], &all}) {
      ++t->requests;
      t->ttft_ms += r.ttft_ms;
      t->prompt_tokens += static_cast<long>(prompts[i].size());
      t->cached_tokens += r.cached_tokens;
      t->kv_bytes += r.kv_bytes;
      t->kv_sequence_bytes += r.kv_bytes + r.kv_held_bytes;
    }
  }
  auto rate = [](const path_totals& t) { return t.prompt_tokens ? double(t.cached_tokens) / t.prompt_tokens : 0.0; };
  json j = {{"trace", o.trace}, {"requests", trace.size()}, {"completed", all.requests}, {"failed", failed},
            {"scale_tokens", o.scale_tokens}, {"concurrency", o.concurrency}, {"wall_s", wall},
            {"hit_rate", rate(all)}, {"prompt_tokens", all.prompt_tokens}, {"cached_tokens", all.cached_tokens},
            {"offload_fraction", all.requests ? double(paths["prfaas"].requests) / all.requests : 0.0}};
  for (const auto& [name, t] : paths)
    if (t.requests)
      j["paths"][name] = {{"requests", t.requests}, {"ttft_mean_ms", t.ttft_ms / t.requests}, {"hit_rate", rate(t)},
                          {"kv_bytes", t.kv_bytes}, {"kv_sequence_bytes", t.kv_sequence_bytes}};
  // The PrfaaS path's KV is what crosses between the clusters: sent, and had every sequence
  // been sent whole.
  const auto& crossing = paths["prfaas"];
  j["inter_cluster_bytes"] = crossing.kv_bytes;
  j["inter_cluster_bytes_whole_sequences"] = crossing.kv_sequence_bytes;
  if (o.as_json) {
    std::cout << j.dump(2) << std::endl;
  } else {
    std::printf("replayed %zu requests of %s (1 prompt byte = %d trace tokens) in %.1f s: %ld completed, %ld failed\n",
                trace.size(), o.trace.c_str(), o.scale_tokens, wall, all.requests, failed);
    std::printf("prefix-cache hit rate %.1f %% of prompt tokens (%ld of %ld), offloaded %.1f %% of requests\n",
                100 * rate(all), all.cached_tokens, all.prompt_tokens, 100 * j["offload_fraction"].get<double>());
    std::printf("inter-cluster KV %.1f MB sent, %.1f MB had every sequence been sent whole (decode nodes held %.1f %%)\n",
                crossing.kv_bytes / 1e6, crossing.kv_sequence_bytes / 1e6,
                crossing.kv_sequence_bytes ? 100.0 * (crossing.kv_sequence_bytes - crossing.kv_bytes) / crossing.kv_sequence_bytes : 0.0);
    for (const auto& [name, t] : paths)
      if (t.requests)
        std::printf("  %-7s %5ld requests  TTFT mean %8.1f ms  hit rate %5.1f %%\n", name.c_str(), t.requests,
                    t.ttft_ms / t.requests, 100 * rate(t));
  }
  return failed ? 1 : 0;
}

}  // namespace prfaas::apps
