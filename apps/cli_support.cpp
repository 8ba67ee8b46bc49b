#include "apps/cli_support.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "actors/client.hpp"

namespace prfaas::apps {

client_system::client_system(const config::deployment_config& c, const actors::tls_files& tls)
    : cfg(c.router, 1, tls), sys(cfg) {
  if (!tls.enabled()) spdlog::warn("prfaas: plaintext actor plane (--insecure)");
}

caf::actor connect(caf::actor_system& sys, const endpoint& router, int attempts) {
  auto h = actors::connect_router(sys, router, attempts);
  if (!h) throw cli_error{actors::describe(h.error())};
  return *h;
}

void wait_ready(caf::actor_system& sys, const caf::actor& router, launcher& l, int timeout_ms) {
  for (int waited = 0;; waited += 100) {
    auto exited = l.reap_exited();
    if (!exited.empty()) {
      std::string why = "node exited during start-up: " + exited.front();
      for (const auto& n : l.nodes())
        if (exited.front().rfind(n.name + " ", 0) == 0) why += "\n" + l.log_tail(n);
      throw cli_error{why};
    }
    // Every worker this launcher started is registered (across hosts, other hosts' nodes may be too).
    auto s = actors::status(sys, router);
    if (s) {
      size_t found = 0;
      for (const auto& name : l.expected_worker_names())
        found += std::any_of(s->nodes.begin(), s->nodes.end(), [&](const auto& n) { return n.name == name; });
      if (found == l.expected_workers()) return;
    }
    if (waited > timeout_ms) throw cli_error{"deployment not ready after " + std::to_string(timeout_ms) + " ms"};
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

endpoint start_and_wait(launcher& l, caf::actor_system& sys, const config::deployment_config& config) {
  const auto started = std::chrono::steady_clock::now();
  endpoint router_at;
  try {
    router_at = l.start();
  } catch (const failure& f) {
    throw cli_error{f.what()};
  }
  wait_ready(sys, connect(sys, router_at), l);
  std::this_thread::sleep_until(started + std::chrono::milliseconds(config.router.settle_ms));
  return router_at;
}

void block_signals(sigset_t& set) {
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// A deterministic prompt of about `bytes` bytes of English-like text.
std::string demo_prompt(int seed, int bytes) {
  static const char* words[] = {"prefill", "decode", "cluster", "cache", "token", "layer", "state", "link",
                                "router", "block", "hybrid", "attention", "remote", "local", "stream", "bandwidth"};
  std::string s = "Request " + std::to_string(seed) + ":";
  uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
  while (static_cast<int>(s.size()) < bytes) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    s += " ";
    s += words[x % 16];
  }
  s.resize(bytes);
  return s;
}

void sampling_flags::add_to(CLI::App& cmd) {
  cmd.add_option("--temperature", temperature, "sampling temperature (0: greedy)")->check(CLI::Range(0.0, 2.0));
  cmd.add_option("--top-p", top_p, "nucleus sampling: the smallest set of tokens reaching this mass")->check(CLI::Range(0.0, 1.0));
  cmd.add_option("--top-k", top_k, "sample among the K most likely tokens (0: all)")->check(CLI::Range(0, 1 << 20));
  cmd.add_option("--seed", seed, "the sampling seed (default: the router's, printed with --json)")->check(CLI::Range(0LL, 1LL << 62));
  cmd.add_option("--stop-token-ids", stop_token_ids, "token ids that end the output")->delimiter(',');
}

actors::decoding sampling_flags::decoding(long long seed_offset) const {
  model::sampling_params p;
  p.temperature = temperature;
  p.top_p = top_p;
  p.top_k = top_k;
  if (seed >= 0) p.seed = static_cast<uint64_t>(seed + seed_offset);
  auto d = actors::decoding_of(p, seed >= 0);
  d.stop_ids = stop_token_ids;
  return d;
}

}  // namespace prfaas::apps
